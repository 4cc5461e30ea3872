/**
 * Journal entries as requested: shape, validation against accounts, and the content hash that
 * decides idempotent replays.
 *
 * Decisions:
 * - An account appears at most once per entry. Each posting is then the single change the entry
 *   makes to that account, so partial posts (amounts by posting index), per-account listings and
 *   limit checks have one unambiguous posting per account; a caller who wants two lines on one
 *   account sums them. A debit and a credit of the same account in one entry would be a no-op.
 * - Balance is checked per currency (debits equal credits in each), before any read, so an
 *   unbalanced or mixed-currency entry is refused at the edge and writes nothing.
 * - The content hash covers every caller-chosen field and nothing the server adds (time, trace
 *   ids): a retry from another request must hash the same. Posting order is content (partial posts
 *   address postings by index); metadata key order is not.
 */
import { TallyError, assert, invalidField } from '../errors.js';
import { METADATA_KEY_LENGTH_MAX, METADATA_VALUE_LENGTH_MAX, validateMetadata } from '../metadata.js';
import { AMOUNT_MINOR_MAX, currencyOf } from '../money/index.js';
import type { Account } from './account.js';
import { type CanonicalObject, canonicalBytes, sha256Hex } from './canonical.js';

/** Which side of an account a posting moves. */
export const directions = ['debit', 'credit'] as const;

/** One of `directions`. */
export type Direction = (typeof directions)[number];

/** One line of an entry: a positive amount debited or credited to one account, in its currency. */
export interface Posting {
  readonly accountId: string;
  readonly direction: Direction;
  readonly amountMinor: bigint;
  readonly currency: string;
}

/** Makes an entry pending (two-phase): its amounts are reserved until posted, voided or expired. */
export interface PendingOptions {
  readonly timeoutMs: number;
}

/** A create-entry request as decoded at the edge. `null` and absent optional fields mean the same. */
export interface EntryInput {
  /** Caller-chosen id and idempotency key: `je_` + 1..64 of `[A-Za-z0-9_-]`. */
  readonly id: string;
  readonly postings: readonly Posting[];
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly reversesEntryId?: string | null;
  readonly pending?: PendingOptions | null;
}

/** A validated entry: normalised copies (no extra fields), optional fields as `null`. */
export interface ValidEntry {
  readonly id: string;
  readonly postings: readonly Posting[];
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly reversesEntryId: string | null;
  readonly pending: PendingOptions | null;
}

/** Fewest postings per entry. */
export const ENTRY_POSTINGS_MIN = 2;
/** Most postings per entry: bounds the accounts one transaction reads and writes. */
export const ENTRY_POSTINGS_MAX = 100;
/** Longest description. */
export const ENTRY_DESCRIPTION_LENGTH_MAX = 500;
/** Most metadata keys. */
export const ENTRY_METADATA_KEYS_MAX = 50;
/** Longest metadata key. */
export const ENTRY_METADATA_KEY_LENGTH_MAX = METADATA_KEY_LENGTH_MAX;
/** Longest metadata value. */
export const ENTRY_METADATA_VALUE_LENGTH_MAX = METADATA_VALUE_LENGTH_MAX;
/** Shortest pending timeout: 1 s. */
export const PENDING_TIMEOUT_MS_MIN = 1_000;
/** Longest pending timeout: 30 days. */
export const PENDING_TIMEOUT_MS_MAX = 30 * 24 * 60 * 60 * 1_000;

const entryIdShape = /^je_[A-Za-z0-9_-]{1,64}$/;

/** True for a well-formed entry id (`je_` + 1..64 of `[A-Za-z0-9_-]`). */
export function isEntryId(value: unknown): value is string {
  return typeof value === 'string' && entryIdShape.test(value);
}

/**
 * Validates everything that needs no reads: ids, bounds, amounts, currencies, duplicate accounts
 * and balance per currency. Call it before the transaction, and before the replay check (a retry
 * must replay even if an account has been closed since).
 */
export function validateEntryShape(input: EntryInput): ValidEntry {
  const id = validateEntryIdField('entry_id', input.id);
  const postings = validatePostings(input.postings);
  checkBalancedPerCurrency(postings, 'postings');
  const description = validateDescription(input.description);
  const metadata = validateMetadata(input.metadata, ENTRY_METADATA_KEYS_MAX);
  checkStorableMetadata(metadata);
  const reversesEntryId = validateReverses(input.reversesEntryId, id);
  const pending = validatePending(input.pending);
  return { id, postings, description, metadata, reversesEntryId, pending };
}

/**
 * Full validation: `validateEntryShape` plus, per posting, the account exists in `accountsById`
 * (`NOT_FOUND`), is open (`ACCOUNT_CLOSED`) and has the posting's currency (`CURRENCY_MISMATCH`).
 * `accountsById` must hold only the calling tenant's accounts (read from its own path), so another
 * tenant's account id is `NOT_FOUND`, indistinguishable from a missing one.
 */
export function validateEntry(input: EntryInput, accountsById: ReadonlyMap<string, Account>): ValidEntry {
  const entry = validateEntryShape(input);
  entry.postings.forEach((posting, i) => checkPostingAccount(posting, i, accountsById.get(posting.accountId)));
  return entry;
}

/**
 * SHA-256 (hex) of the canonical encoding of the entry's caller-chosen content: id, postings in
 * order (amounts as decimal strings), description, metadata (keys sorted), reversed entry id and
 * pending timeout. An `EntryRecord` hashes the same as the input it was made from.
 */
export function entryContentHash(input: EntryInput): string {
  // A number would encode differently from the bigint it stands for; amounts are bigints here.
  assert(input.postings.every((p) => typeof p.amountMinor === 'bigint'), 'entryContentHash: amounts must be bigints');
  const content: CanonicalObject = {
    schema: 'tally.ledger.entry-content.v1',
    id: input.id,
    postings: input.postings.map((p) => ({
      accountId: p.accountId,
      direction: p.direction,
      amountMinor: p.amountMinor,
      currency: p.currency,
    })),
    description: input.description,
    metadata: { ...input.metadata },
    reversesEntryId: input.reversesEntryId ?? null,
    pending: input.pending === undefined || input.pending === null ? null : { timeoutMs: input.pending.timeoutMs },
  };
  return sha256Hex(canonicalBytes(content));
}

/** What to do with a create-entry request whose id may already exist. */
export type ReplayDecision = 'create' | 'replay';

/**
 * `create` when no entry has the id (`existingHash` null/undefined); `replay` when the stored entry
 * has the same content hash (answer with the stored entry, write nothing); otherwise throws
 * `ENTRY_ID_REUSED`.
 */
export function decideReplay(existingHash: string | null | undefined, newHash: string, entryId?: string): ReplayDecision {
  if (existingHash === null || existingHash === undefined) return 'create';
  if (existingHash === newHash) return 'replay';
  const name = entryId === undefined ? 'this entry id' : `entry id ${entryId}`;
  throw new TallyError('ENTRY_ID_REUSED', `${name} was already used with different content`, {
    field: 'entry_id',
    ...(entryId === undefined ? {} : { entryId }),
  });
}

/**
 * Throws `ENTRY_UNBALANCED` unless debits equal credits in every currency (checked in currency
 * order so the reported currency is deterministic). `field` names the list in the error.
 */
export function checkBalancedPerCurrency(
  lines: readonly { readonly direction: Direction; readonly amountMinor: bigint; readonly currency: string }[],
  field: string,
): void {
  const netByCurrency = new Map<string, bigint>();
  for (const line of lines) {
    const signed = line.direction === 'debit' ? line.amountMinor : -line.amountMinor;
    netByCurrency.set(line.currency, (netByCurrency.get(line.currency) ?? 0n) + signed);
  }
  for (const currency of [...netByCurrency.keys()].sort()) {
    const differenceMinor = netByCurrency.get(currency) ?? 0n;
    if (differenceMinor !== 0n) {
      throw new TallyError(
        'ENTRY_UNBALANCED',
        `${field}: debits minus credits in ${currency} is ${differenceMinor}, must be 0`,
        { field, currency, differenceMinor: differenceMinor.toString() },
      );
    }
  }
}

function validateEntryIdField(field: string, value: unknown): string {
  if (value === undefined || value === null || value === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (!isEntryId(value)) throw invalidField(field, 'je_ followed by 1..64 characters of A-Z a-z 0-9 _ -');
  return value;
}

function validatePostings(postings: readonly Posting[]): Posting[] {
  if (!Array.isArray(postings) || postings.length < ENTRY_POSTINGS_MIN) {
    throw invalidField('postings', `at least ${ENTRY_POSTINGS_MIN} postings`);
  }
  if (postings.length > ENTRY_POSTINGS_MAX) throw invalidField('postings', `at most ${ENTRY_POSTINGS_MAX} postings`);
  const seen = new Set<string>();
  return postings.map((posting: Posting, i) => {
    const valid = validatePosting(posting, i);
    if (seen.has(valid.accountId)) {
      throw invalidField(`postings[${i}].account_id`, 'an account may appear only once per entry');
    }
    seen.add(valid.accountId);
    return valid;
  });
}

function validatePosting(posting: Posting, i: number): Posting {
  const at = `postings[${i}]`;
  if (typeof posting !== 'object' || posting === null) throw invalidField(at, 'required', 'FIELD_REQUIRED');
  if (typeof posting.accountId !== 'string' || posting.accountId === '') {
    throw invalidField(`${at}.account_id`, 'required', 'FIELD_REQUIRED');
  }
  const direction = directions.find((d) => d === posting.direction);
  if (direction === undefined) throw invalidField(`${at}.direction`, 'debit or credit');
  if (typeof posting.amountMinor !== 'bigint') throw invalidField(`${at}.amount_minor`, 'an integer number of minor units');
  if (posting.amountMinor <= 0n || posting.amountMinor > AMOUNT_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `${at}.amount_minor: must be in 1..${AMOUNT_MINOR_MAX}`, {
      field: `${at}.amount_minor`,
    });
  }
  currencyOf(posting.currency, `${at}.currency`);
  return Object.freeze({ accountId: posting.accountId, direction, amountMinor: posting.amountMinor, currency: posting.currency });
}

/**
 * A lone UTF-16 surrogate: JavaScript strings may hold one (JSON `"\ud800"`), but UTF-8 storage
 * cannot, so Firestore would store a replacement character and the record would no longer hash
 * as accepted. Such text is refused; every other string (NUL, `__proto__`, `$bigint`...) is stored
 * and hashed exactly (ADR 0017).
 */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkStorableMetadata(metadata: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (loneSurrogate.test(key)) throw invalidField('metadata', 'keys must be well-formed Unicode (no lone surrogates)');
    if (loneSurrogate.test(value)) throw invalidField(`metadata.${key}`, 'must be well-formed Unicode (no lone surrogates)');
  }
}

function validateDescription(description: string): string {
  if (typeof description !== 'string') throw invalidField('description', 'must be a string');
  if (loneSurrogate.test(description)) throw invalidField('description', 'must be well-formed Unicode (no lone surrogates)');
  if (description.length > ENTRY_DESCRIPTION_LENGTH_MAX) {
    throw invalidField('description', `at most ${ENTRY_DESCRIPTION_LENGTH_MAX} characters`);
  }
  return description;
}

function validateReverses(value: string | null | undefined, id: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const reversesEntryId = validateEntryIdField('reverses_entry_id', value);
  if (reversesEntryId === id) throw invalidField('reverses_entry_id', 'an entry cannot reverse itself');
  return reversesEntryId;
}

function validatePending(pending: PendingOptions | null | undefined): PendingOptions | null {
  if (pending === undefined || pending === null) return null;
  const { timeoutMs } = pending;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < PENDING_TIMEOUT_MS_MIN || timeoutMs > PENDING_TIMEOUT_MS_MAX) {
    throw invalidField('pending_timeout_ms', `an integer in ${PENDING_TIMEOUT_MS_MIN}..${PENDING_TIMEOUT_MS_MAX} (1 s to 30 days)`);
  }
  return Object.freeze({ timeoutMs });
}

function checkPostingAccount(posting: Posting, i: number, account: Account | undefined): void {
  const field = `postings[${i}].account_id`;
  if (account === undefined) {
    throw new TallyError('NOT_FOUND', `${field}: account ${posting.accountId} not found`, { field, accountId: posting.accountId });
  }
  if (account.closed) {
    throw new TallyError('ACCOUNT_CLOSED', `${field}: account ${posting.accountId} is closed`, { field, accountId: posting.accountId });
  }
  if (account.currency !== posting.currency) {
    throw new TallyError(
      'CURRENCY_MISMATCH',
      `postings[${i}].currency: account ${posting.accountId} is in ${account.currency}, the posting in ${posting.currency}`,
      { field: `postings[${i}].currency`, expected: account.currency, actual: posting.currency },
    );
  }
}
