/**
 * Balances: posted and pending debits and credits of one account (or of one balance shard of it),
 * how postings change them, how shards add up, and balance limits.
 *
 * Why sharding is correct (the argument the adapter relies on):
 * 1. An account's balance is the fieldwise sum of its `shardCount` shard documents. Every balance
 *    change goes to exactly one shard, `pickShard(accountId, change.shardKey, shardCount)`. The
 *    shard key of an entry's changes is the entry id; of a resolution's changes, the pending entry's
 *    id, so a release always hits the shard that holds the reservation (shard counts never change,
 *    so the choice is stable) and no shard component ever goes negative.
 * 2. Changes are additions, and addition commutes: whatever order concurrent transactions commit
 *    in, the sum over shards is the sum of all committed changes. Posted amounts on a sharded
 *    (hot) account decide nothing from its balance, so those shards are not read when writing: the
 *    adapter uses blind increments, and writers to a hot account contend only when they land on
 *    the same shard (and even then a blind increment does not abort the other transaction). A
 *    one-shard account and a hold's shard are read, so that overflow is refused exactly
 *    (`applyShardChange`, ADR 0017); hot accounts trade that check for throughput.
 * 3. Reads are strongly consistent: `GetBalance` reads all shards in one transaction (one snapshot)
 *    and sums them with `sumShards`; every committed entry is in it, none half-applied, because an
 *    entry and its shard updates commit in one transaction.
 * 4. Limits are predicates over the whole balance, so checking one must be atomic with the write:
 *    two concurrent debits must not both pass against the same old balance. Accounts with a limit
 *    flag therefore have exactly one shard (enforced by account validation): the transaction reads
 *    that one document, computes the balance after, runs `checkLimits`, and writes. Firestore
 *    transactions are serializable, so if another writer changed the document after our read our
 *    commit does not succeed (it retries and re-checks). We rejected the alternatives: reading all
 *    N shards in every transaction is correct but makes every writer conflict with every other,
 *    i.e. no sharding at all; splitting the limit budget across shards refuses valid entries when
 *    one shard's budget runs out. Hot accounts (merchant payables) are credit-heavy liabilities
 *    without debit limits, so they shard freely.
 * 5. Resolutions never move a balance towards its limit: post and void lower pending amounts by the
 *    whole reservation and raise posted amounts by at most that, and pending credits never count
 *    as credits. So `checkLimits` passes after any resolution if it passed before; the adapter may
 *    still run it (it is the same single-document read).
 */
import { createHash } from 'node:crypto';
import { TallyError, assert } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money/index.js';
import { ACCOUNT_SHARD_COUNT_MAX, type Account, hasBalanceLimit } from './account.js';
import type { Posting } from './entry.js';
import type { EntryBody, ResolutionBody } from './journal-record.js';

/** Posted and pending debits and credits, in minor units of the account's currency. */
export interface Balance {
  readonly postedDebitsMinor: bigint;
  readonly postedCreditsMinor: bigint;
  readonly pendingDebitsMinor: bigint;
  readonly pendingCreditsMinor: bigint;
}

/** The balance of a new account (and of a new shard). */
export const ZERO_BALANCE: Balance = Object.freeze({
  postedDebitsMinor: 0n,
  postedCreditsMinor: 0n,
  pendingDebitsMinor: 0n,
  pendingCreditsMinor: 0n,
});

/**
 * How a posting changes a balance:
 * - `posted`: a posted entry adds its amount to posted;
 * - `pending`: a pending entry adds its amount to pending;
 * - `post_pending`: removes the whole reservation from pending and adds the posted amount to posted;
 * - `void_pending`: removes the whole reservation from pending (voided or expired).
 */
export type BalancePhase = 'posted' | 'pending' | 'post_pending' | 'void_pending';

/**
 * One balance change the adapter applies: add `delta` (signed, fieldwise) to one shard of
 * `accountId`. `hold` says what the change does to the hold keyed `shardKey` (the pending entry's
 * id) on that shard: a pending entry opens it, a resolution releases it (see `BalanceShard`).
 */
export interface BalanceChange {
  readonly accountId: string;
  readonly shardKey: string;
  readonly delta: Balance;
  readonly hold?: { readonly action: 'open'; readonly expiresAtMs: number } | { readonly action: 'release' };
}

/**
 * An open hold on one balance shard: what a pending entry reserves on the account, and until when.
 * Kept beside the balance so that every reader of the shard (GetBalance, the limit check of the
 * writing transaction) can release a hold from its timeout on, without waiting for the sweep and
 * without another read (TigerBeetle releases at the timeout too).
 */
export interface Hold {
  readonly entryId: string;
  readonly expiresAtMs: number;
  readonly pendingDebitsMinor: bigint;
  readonly pendingCreditsMinor: bigint;
}

/** One balance document: the stored sums (expired holds still included) and the open holds in them. */
export interface BalanceShard {
  readonly balance: Balance;
  readonly holds: ReadonlyMap<string, Hold>;
}

/** A new shard. */
export const EMPTY_BALANCE_SHARD: BalanceShard = Object.freeze({ balance: ZERO_BALANCE, holds: new Map<string, Hold>() });

/**
 * Most open holds one balance document keeps (about 150 bytes each, far below Firestore's 1 MiB
 * document bound). A pending entry that would open one more is refused with `LIMIT_EXCEEDED`
 * (metadata `limit: holdsPerShardMax`); a sharded account has this many per shard.
 */
export const SHARD_HOLDS_MAX = 2_000;

/**
 * The largest value a component of one shard of an account with `shardCount` shards may reach:
 * the account's balance is the sum of its shards and travels as int64, so each shard gets an
 * equal share of the int64 range and the sum can never overflow.
 */
export function shardComponentMaxMinor(shardCount: number): bigint {
  assert(Number.isSafeInteger(shardCount) && shardCount >= 1 && shardCount <= ACCOUNT_SHARD_COUNT_MAX, 'shardComponentMaxMinor: shardCount');
  // One below the int64 maximum: a stored value AT the maximum can then only be a clamped blind
  // increment (`balanceOfShards` refuses to report it).
  return (AMOUNT_MINOR_MAX - 1n) / BigInt(shardCount);
}

/**
 * `shard` after `change`, for an account of `shardCount` shards. Refuses with `BALANCE_OVERFLOW`
 * (TigerBeetle's `overflows_*`) a change that raises posted or pending debits or credits, or
 * posted + pending of one side, beyond `shardComponentMaxMinor`; a change that lowers them never
 * overflows. Opens or releases the change's hold. With one shard, a component below zero is an
 * assertion failure (releasing more than was reserved: a bug); several shards may hold negative
 * pending parts written before holds were kept per shard (only their sum is meaningful).
 */
export function applyShardChange(shard: BalanceShard, change: BalanceChange, shardCount: number): BalanceShard {
  const before = shard.balance;
  const after = addBalances(before, change.delta);
  const maxMinor = shardComponentMaxMinor(shardCount);
  const sums = (b: Balance) => ({
    debits: b.postedDebitsMinor + b.pendingDebitsMinor,
    credits: b.postedCreditsMinor + b.pendingCreditsMinor,
  });
  const checks: [string, bigint, bigint][] = [
    ...(Object.keys(after) as (keyof Balance)[]).map((field): [string, bigint, bigint] => [field, before[field], after[field]]),
    ['debitsMinor', sums(before).debits, sums(after).debits],
    ['creditsMinor', sums(before).credits, sums(after).credits],
  ];
  for (const [field, valueBefore, valueAfter] of checks) {
    if (shardCount === 1) assert(valueAfter >= 0n, `applyShardChange: ${field} would be negative`);
    if (valueAfter > valueBefore && valueAfter > maxMinor) {
      throw new TallyError('BALANCE_OVERFLOW', `account ${change.accountId}: ${field} would exceed the int64 range of its balance`, {
        accountId: change.accountId,
        field,
      });
    }
  }
  return { balance: after, holds: changeHolds(shard.holds, change) };
}

function changeHolds(holds: ReadonlyMap<string, Hold>, change: BalanceChange): ReadonlyMap<string, Hold> {
  if (change.hold === undefined) return holds;
  const next = new Map(holds);
  if (change.hold.action === 'release') {
    next.delete(change.shardKey);
    return next;
  }
  if (next.size >= SHARD_HOLDS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `account ${change.accountId}: more than ${SHARD_HOLDS_MAX} open pending entries on one balance shard`, {
      accountId: change.accountId,
      limit: 'holdsPerShardMax',
    });
  }
  next.set(change.shardKey, {
    entryId: change.shardKey,
    expiresAtMs: change.hold.expiresAtMs,
    pendingDebitsMinor: change.delta.pendingDebitsMinor,
    pendingCreditsMinor: change.delta.pendingCreditsMinor,
  });
  return next;
}

/**
 * The balance as of `nowMs`: every hold whose timeout has passed (`expiresAtMs <= nowMs`, as
 * `isExpired`) counts as released, whether or not the sweep has written its expiry yet. `balance`
 * must include exactly the holds listed (a shard's balance with its holds, or sums of both).
 */
export function releaseExpiredHolds(balance: Balance, holds: Iterable<Hold>, nowMs: number): Balance {
  let pendingDebitsMinor = balance.pendingDebitsMinor;
  let pendingCreditsMinor = balance.pendingCreditsMinor;
  for (const hold of holds) {
    if (hold.expiresAtMs > nowMs) continue;
    pendingDebitsMinor -= hold.pendingDebitsMinor;
    pendingCreditsMinor -= hold.pendingCreditsMinor;
  }
  return { ...balance, pendingDebitsMinor, pendingCreditsMinor };
}

/**
 * The account balance as of `nowMs` from all its shards (expired holds released). Throws
 * `BALANCE_OVERFLOW` rather than report a number that is not the true sum: a component beyond
 * int64, or a shard at exactly the int64 maximum, where the store clamps blind increments (only a
 * sharded account's posted amounts are written unchecked; see `applyShardChange`).
 */
export function balanceOfShards(shards: readonly BalanceShard[], nowMs: number, accountId = ''): Balance {
  const sum = sumShards(shards.map((s) => s.balance));
  const clamped = shards.some((s) => Object.values(s.balance).some((v) => v >= AMOUNT_MINOR_MAX));
  if (clamped || Object.values(sum).some((v) => v > AMOUNT_MINOR_MAX)) {
    throw new TallyError('BALANCE_OVERFLOW', `account ${accountId}: the balance is beyond the int64 range and cannot be reported exactly`, { accountId });
  }
  return releaseExpiredHolds(sum, shards.flatMap((s) => [...s.holds.values()]), nowMs);
}

/**
 * The signed change `phase` makes for `posting`. `postedAmountMinor` applies to `post_pending`
 * only (default: the whole reservation) and must be within 0..posting.amountMinor.
 */
export function postingDelta(posting: Posting, phase: BalancePhase, postedAmountMinor?: bigint): Balance {
  const amount = posting.amountMinor;
  assert(amount > 0n, 'postingDelta: posting amount must be positive');
  assert(phase === 'post_pending' || postedAmountMinor === undefined, `postingDelta: a posted amount only applies to post_pending, not ${phase}`);
  const isDebit = posting.direction === 'debit';
  switch (phase) {
    case 'posted':
      return side(isDebit, amount, 0n);
    case 'pending':
      return side(isDebit, 0n, amount);
    case 'post_pending': {
      const posted = postedAmountMinor ?? amount;
      assert(posted >= 0n && posted <= amount, 'postingDelta: posted amount within 0..pending');
      return side(isDebit, posted, -amount);
    }
    case 'void_pending':
      return side(isDebit, 0n, -amount);
  }
}

/**
 * `balance + delta`. A component below zero is an assertion failure (releasing more than was
 * reserved, or on the wrong shard: a bug); above `AMOUNT_MINOR_MAX` is `AMOUNT_OUT_OF_RANGE`,
 * because balances are stored as int64.
 */
export function applyDelta(balance: Balance, delta: Balance): Balance {
  const after = addBalances(balance, delta);
  for (const [field, value] of Object.entries(after) as [keyof Balance, bigint][]) {
    assert(value >= 0n, `applyDelta: ${field} would be negative`);
    if (value > AMOUNT_MINOR_MAX) {
      throw new TallyError('AMOUNT_OUT_OF_RANGE', `balance ${field} would exceed the int64 range`, { field });
    }
  }
  return after;
}

/** `applyDelta(balance, postingDelta(posting, phase, postedAmountMinor))`. */
export function applyPosting(balance: Balance, posting: Posting, phase: BalancePhase, postedAmountMinor?: bigint): Balance {
  return applyDelta(balance, postingDelta(posting, phase, postedAmountMinor));
}

/** Fieldwise sum, unchecked (exact in bigint). */
export function addBalances(a: Balance, b: Balance): Balance {
  return {
    postedDebitsMinor: a.postedDebitsMinor + b.postedDebitsMinor,
    postedCreditsMinor: a.postedCreditsMinor + b.postedCreditsMinor,
    pendingDebitsMinor: a.pendingDebitsMinor + b.pendingDebitsMinor,
    pendingCreditsMinor: a.pendingCreditsMinor + b.pendingCreditsMinor,
  };
}

/** The account balance from all its shard balances (any order; no shards is zero). */
export function sumShards(balances: readonly Balance[]): Balance {
  assert(balances.length <= ACCOUNT_SHARD_COUNT_MAX, 'sumShards: more shards than an account can have');
  return balances.reduce(addBalances, ZERO_BALANCE);
}

/**
 * Throws `LIMIT_EXCEEDED` when `balanceAfter` (the whole balance after the change) breaks the
 * account's limit: with `debitsMustNotExceedCredits`, posted + pending debits above posted credits;
 * with `creditsMustNotExceedDebits`, posted + pending credits above posted debits. Pending amounts
 * on the limited side count, pending amounts on the other side do not (TigerBeetle semantics).
 */
export function checkLimits(account: Account, balanceAfter: Balance): void {
  if (!hasBalanceLimit(account)) return;
  assert(account.shardCount === 1, 'checkLimits: an account with a limit has exactly one shard');
  const b = balanceAfter;
  if (account.flags.debitsMustNotExceedCredits) {
    const excessMinor = b.postedDebitsMinor + b.pendingDebitsMinor - b.postedCreditsMinor;
    if (excessMinor > 0n) throw limitExceeded(account, 'debitsMustNotExceedCredits', excessMinor);
  }
  if (account.flags.creditsMustNotExceedDebits) {
    const excessMinor = b.postedCreditsMinor + b.pendingCreditsMinor - b.postedDebitsMinor;
    if (excessMinor > 0n) throw limitExceeded(account, 'creditsMustNotExceedDebits', excessMinor);
  }
}

/**
 * The shard (0..shardCount-1) that receives the change keyed `shardKey` (an entry id) of
 * `accountId`: the first 32 bits of SHA-256 over a domain tag, the account and the key, modulo
 * the count. Deterministic, so a retry and a later release pick the same shard; uniform, so a hot
 * account's entries spread evenly; independent of `chainStripeFor` (different tag), so shard and
 * chain stripe collisions are unrelated. The modulo bias (count <= 64 over 2^32) is negligible.
 */
export function pickShard(accountId: string, shardKey: string, shardCount: number): number {
  assert(Number.isSafeInteger(shardCount) && shardCount >= 1 && shardCount <= ACCOUNT_SHARD_COUNT_MAX, 'pickShard: shardCount');
  if (shardCount === 1) return 0;
  const digest = createHash('sha256').update(`tally.ledger.shard.v1\n${accountId}\n${shardKey}`, 'utf8').digest();
  return digest.readUInt32BE(0) % shardCount;
}

/**
 * Every balance change a record makes, one per posting: posted or pending amounts for an entry,
 * release (and post) for a resolution. The adapter applies these in the record's transaction;
 * replay folds them.
 */
export function balanceChangesOf(record: EntryBody | ResolutionBody): BalanceChange[] {
  if (record.kind === 'entry') {
    const pending = record.pending;
    if (pending === null) return record.postings.map((p) => ({ accountId: p.accountId, shardKey: record.id, delta: postingDelta(p, 'posted') }));
    return record.postings.map((p) => ({
      accountId: p.accountId, shardKey: record.id, delta: postingDelta(p, 'pending'), hold: { action: 'open', expiresAtMs: pending.expiresAtMs },
    }));
  }
  return record.postings.map((p) => {
    const reservation: Posting = { accountId: p.accountId, direction: p.direction, amountMinor: p.pendingAmountMinor, currency: p.currency };
    const delta =
      record.outcome === 'posted'
        ? postingDelta(reservation, 'post_pending', p.postedAmountMinor)
        : postingDelta(reservation, 'void_pending');
    assert(record.outcome === 'posted' || p.postedAmountMinor === 0n, 'balanceChangesOf: a void posts nothing');
    return { accountId: p.accountId, shardKey: record.pendingEntryId, delta, hold: { action: 'release' } };
  });
}

function side(isDebit: boolean, postedMinor: bigint, pendingMinor: bigint): Balance {
  return isDebit
    ? { postedDebitsMinor: postedMinor, postedCreditsMinor: 0n, pendingDebitsMinor: pendingMinor, pendingCreditsMinor: 0n }
    : { postedDebitsMinor: 0n, postedCreditsMinor: postedMinor, pendingDebitsMinor: 0n, pendingCreditsMinor: pendingMinor };
}

function limitExceeded(account: Account, limit: keyof Account['flags'], excessMinor: bigint): TallyError {
  return new TallyError('LIMIT_EXCEEDED', `account ${account.id}: ${limit} would be exceeded by ${excessMinor} minor units`, {
    accountId: account.id,
    limit,
    currency: account.currency,
    excessMinor: excessMinor.toString(),
  });
}
