/**
 * Ledger accounts: what an account is and how a create-account request is validated.
 *
 * Sharding and limits (the rule enforced here, argued in full in `balance.ts`): an account with a
 * balance limit flag has exactly one balance shard. A limit is a predicate over the whole balance,
 * so checking it needs the whole balance read inside the writing transaction; with one shard that
 * read is one document, and Firestore's serializable transactions make check-then-write atomic.
 * Reading all N shards in every transaction would instead make every writer conflict with every
 * other writer of the account, which is exactly the serialization sharding exists to avoid. Hot
 * accounts (a merchant payable credited by every payment) are liabilities without a debit limit,
 * so they can take many shards and keep their throughput.
 */
import { TallyError, assert, invalidField } from '../errors.js';
import { currencyOf } from '../money/index.js';

/** The five account types of double-entry bookkeeping. */
export const accountTypes = ['asset', 'liability', 'equity', 'revenue', 'expense'] as const;

/** One of `accountTypes`. */
export type AccountType = (typeof accountTypes)[number];

/**
 * Balance limits, TigerBeetle semantics: pending amounts count against the limit, so a reservation
 * can never be posted into a breach. At most one flag is set (both would pin the balance at zero).
 */
export interface AccountFlags {
  /** Posted + pending debits must never exceed posted credits (e.g. a customer wallet). */
  readonly debitsMustNotExceedCredits: boolean;
  /** Posted + pending credits must never exceed posted debits. */
  readonly creditsMustNotExceedDebits: boolean;
}

/** A ledger account of one tenant, in one currency. `flags`, `currency` and `shardCount` never change. */
export interface Account {
  readonly id: string;
  readonly tenantId: string;
  /** Chart-of-accounts code, unique per tenant (the adapter enforces uniqueness). */
  readonly code: string;
  readonly name: string;
  readonly currency: string;
  readonly type: AccountType;
  readonly flags: AccountFlags;
  /** Closed accounts accept no new entries; pendings reserved before the close can still resolve. */
  readonly closed: boolean;
  /** Balance documents the account's balance is spread over: 1 unless hot; 1 whenever a limit flag is set. */
  readonly shardCount: number;
  readonly createdAtMs: number;
}

/** A create-account request as decoded at the edge (proto defaults already mapped: shard count 0 -> 1). */
export interface CreateAccountInput {
  readonly code: string;
  readonly name: string;
  readonly currency: string;
  readonly type: string;
  readonly flags: AccountFlags;
  readonly shardCount: number;
}

/** A validated create-account request. */
export interface ValidCreateAccount extends CreateAccountInput {
  readonly type: AccountType;
}

/** Longest account code. */
export const ACCOUNT_CODE_LENGTH_MAX = 64;
/** Longest account name (after trimming). */
export const ACCOUNT_NAME_LENGTH_MAX = 200;
/** Most balance shards per account: enough for thousands of entries per second on one account. */
export const ACCOUNT_SHARD_COUNT_MAX = 64;

const codeShape = new RegExp(`^[A-Za-z0-9_.:-]{1,${ACCOUNT_CODE_LENGTH_MAX}}$`);
const controlCharacters = /[\u0000-\u001f\u007f]/;

/**
 * Validates a create-account request; throws `TallyError` naming the proto field (`code`, `name`,
 * `currency`, `type`, `credits_must_not_exceed_debits` when both limits are set, `shard_count`). The name is trimmed; everything else is kept as is.
 */
export function validateCreateAccount(input: CreateAccountInput): ValidCreateAccount {
  const code = validateCode(input.code);
  const name = validateName(input.name);
  currencyOf(input.currency, 'currency');
  const type = validateType(input.type);
  const flags = validateFlags(input.flags);
  const shardCount = validateShardCount(input.shardCount, flags);
  return { code, name, currency: input.currency, type, flags, shardCount };
}

/** Validates `input` and builds the account (open) with the identity the app chose. */
export function createAccount(input: CreateAccountInput, identity: { id: string; tenantId: string; createdAtMs: number }): Account {
  assert(typeof identity.id === 'string' && identity.id !== '', 'createAccount: id');
  assert(typeof identity.tenantId === 'string' && identity.tenantId !== '', 'createAccount: tenantId');
  assert(Number.isSafeInteger(identity.createdAtMs), 'createAccount: createdAtMs');
  const valid = validateCreateAccount(input);
  return {
    id: identity.id,
    tenantId: identity.tenantId,
    code: valid.code,
    name: valid.name,
    currency: valid.currency,
    type: valid.type,
    flags: { ...valid.flags },
    closed: false,
    shardCount: valid.shardCount,
    createdAtMs: identity.createdAtMs,
  };
}

/** The account closed. Closing twice is `INVALID_STATE_TRANSITION` (callers switch on it, not on the text). */
export function closeAccount(account: Account): Account {
  if (account.closed) {
    throw new TallyError('INVALID_STATE_TRANSITION', `account ${account.id} is already closed`, {
      accountId: account.id,
      state: 'closed',
    });
  }
  return { ...account, closed: true };
}

/** True when the account has a balance limit (and therefore exactly one shard). */
export function hasBalanceLimit(account: Pick<Account, 'flags'>): boolean {
  return account.flags.debitsMustNotExceedCredits || account.flags.creditsMustNotExceedDebits;
}

function validateCode(code: string): string {
  if (typeof code !== 'string' || code === '') throw invalidField('code', 'required', 'FIELD_REQUIRED');
  if (!codeShape.test(code)) {
    throw invalidField('code', `1..${ACCOUNT_CODE_LENGTH_MAX} characters of A-Z a-z 0-9 _ . : -`);
  }
  return code;
}

function validateName(raw: string): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  if (name === '') throw invalidField('name', 'required', 'FIELD_REQUIRED');
  if (name.length > ACCOUNT_NAME_LENGTH_MAX) throw invalidField('name', `at most ${ACCOUNT_NAME_LENGTH_MAX} characters`);
  if (controlCharacters.test(name)) throw invalidField('name', 'must not contain control characters');
  return name;
}

function validateType(type: string): AccountType {
  const found = accountTypes.find((t) => t === type);
  if (found === undefined) throw invalidField('type', `one of ${accountTypes.join(', ')}`);
  return found;
}

function validateFlags(flags: AccountFlags): AccountFlags {
  if (
    typeof flags !== 'object' ||
    flags === null ||
    typeof flags.debitsMustNotExceedCredits !== 'boolean' ||
    typeof flags.creditsMustNotExceedDebits !== 'boolean'
  ) {
    throw invalidField('debits_must_not_exceed_credits', 'both limit flags must be booleans');
  }
  if (flags.debitsMustNotExceedCredits && flags.creditsMustNotExceedDebits) {
    throw invalidField('credits_must_not_exceed_debits', 'cannot be set together with debits_must_not_exceed_credits');
  }
  return { debitsMustNotExceedCredits: flags.debitsMustNotExceedCredits, creditsMustNotExceedDebits: flags.creditsMustNotExceedDebits };
}

function validateShardCount(shardCount: number, flags: AccountFlags): number {
  if (!Number.isSafeInteger(shardCount) || shardCount < 1 || shardCount > ACCOUNT_SHARD_COUNT_MAX) {
    throw invalidField('shard_count', `an integer in 1..${ACCOUNT_SHARD_COUNT_MAX}`);
  }
  // Why: see the header. A limit needs the whole balance in one transactional read.
  if (shardCount !== 1 && hasBalanceLimit({ flags })) {
    throw invalidField('shard_count', 'must be 1 for an account with a balance limit (limits need the whole balance in one document)');
  }
  return shardCount;
}
