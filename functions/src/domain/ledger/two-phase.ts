/**
 * Two-phase (pending) entries: a pending entry reserves its amounts, then ends exactly once:
 *
 *   pending --postPending--> posted   (in full or in part; the rest is released)
 *   pending --voidPending--> voided   (everything released)
 *   pending --expirePending-> expired (everything released, by the bounded expiry sweep)
 *
 * Any other transition is `INVALID_STATE_TRANSITION` (metadata `state` says where it is). A pending
 * entry whose timeout has passed can no longer be posted or voided even before the sweep reaches
 * it (as in TigerBeetle), and from its timeout on it IS expired for every reader: `stateAt` says
 * `expired`, and balances release its hold (`releaseExpiredHolds`, from the holds each balance
 * shard keeps). The sweep's `expirePending` only writes down what already happened (the resolution
 * record and the stored sums), so no outcome depends on how fast the sweep runs.
 *
 * Every transition returns the pending entry in its new state, the resolution record body to
 * append to the journal, and the balance changes to apply, all in one transaction. The entry's
 * accounts may have been closed since it was reserved: that does not stop a resolution, because
 * the reservation was accepted while they were open and refusing would strand the counterparty.
 */
import { TallyError, assert } from '../errors.js';
import { type BalanceChange, balanceChangesOf } from './balance.js';
import { type Posting, checkBalancedPerCurrency } from './entry.js';
import { type EntryBody, type ResolutionBody, type ResolutionOutcome, type ResolvedPosting, resolutionRecordId } from './journal-record.js';

/** Where a pending entry is in its lifecycle. */
export const pendingStates = ['pending', 'posted', 'voided', 'expired'] as const;

/** One of `pendingStates`. */
export type PendingState = (typeof pendingStates)[number];

/**
 * The mutable state of a pending entry (stored apart from the immutable journal, e.g.
 * `pendingEntries/{id}`, indexed on `state` + `expiresAtMs` for the sweep).
 */
export interface PendingEntry {
  readonly id: string;
  readonly postings: readonly Posting[];
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly state: PendingState;
  /** When it left `pending`; null while pending. */
  readonly resolvedAtMs: number | null;
  /** Per posting, what was posted (zeros when voided or expired); null while pending. */
  readonly postedAmountsMinor: readonly bigint[] | null;
  /**
   * Per posting, the balance shard of its account that holds the reservation (and its `Hold`):
   * the resolution releases it there. Null for entries written before holds were kept per shard.
   */
  readonly holdShards: readonly number[] | null;
}

/** The outcome of a transition: new state, the resolution to append, the balance changes to apply. */
export interface PendingTransition {
  readonly pending: PendingEntry;
  readonly resolution: ResolutionBody;
  readonly changes: readonly BalanceChange[];
}

/**
 * The pending state of a pending entry record (one with `pending` set), as written; `holdShards`
 * (one per posting) says which balance shard of each account holds the reservation.
 */
export function createPendingEntry(entry: EntryBody, holdShards: readonly number[] | null = null): PendingEntry {
  assert(entry.pending !== null, 'createPendingEntry: not a pending entry');
  assert(holdShards === null || holdShards.length === entry.postings.length, 'createPendingEntry: one hold shard per posting');
  return {
    id: entry.id,
    postings: entry.postings,
    createdAtMs: entry.createdAtMs,
    expiresAtMs: entry.pending.expiresAtMs,
    state: 'pending',
    resolvedAtMs: null,
    postedAmountsMinor: null,
    holdShards: holdShards === null ? null : [...holdShards],
  };
}

/**
 * The state of a pending entry as of `nowMs`: `expired` from its timeout on even if the sweep has
 * not written it yet (see the header); otherwise its stored state.
 */
export function stateAt(pending: PendingEntry, nowMs: number): PendingState {
  return pending.state === 'pending' && nowMs >= pending.expiresAtMs ? 'expired' : pending.state;
}

/**
 * True when the hold has timed out: already `expired`, or still `pending` at or after `expiresAtMs`
 * (then it is due for `expirePending`). False for posted and voided entries.
 */
export function isExpired(pending: PendingEntry, nowMs: number): boolean {
  return pending.state === 'expired' || (pending.state === 'pending' && nowMs >= pending.expiresAtMs);
}

/**
 * Posts a pending entry. Without `amountsPerPosting` everything is posted. With it (one amount per
 * posting, same order) each amount must be within 0..the posting's pending amount
 * (`AMOUNT_OUT_OF_RANGE` naming `amounts_minor[i]`), the amounts must balance per currency
 * (`ENTRY_UNBALANCED`) and must not all be zero (void instead); what is not posted is released.
 */
export function postPending(pending: PendingEntry, amountsPerPosting: readonly bigint[] | undefined, nowMs: number): PendingTransition {
  requireOpen(pending, nowMs, 'post');
  const amounts = amountsPerPosting ?? pending.postings.map((p) => p.amountMinor);
  checkPartialAmounts(pending.postings, amounts);
  return resolve(pending, 'posted', amounts, nowMs);
}

/** Voids a pending entry: its whole reservation is released and nothing is posted. */
export function voidPending(pending: PendingEntry, nowMs: number): PendingTransition {
  requireOpen(pending, nowMs, 'void');
  return resolve(pending, 'voided', pending.postings.map(() => 0n), nowMs);
}

/**
 * Expires a pending entry whose timeout has passed (`isExpired`), releasing its reservation; the
 * sweep calls it in bounded batches. Before the timeout, or once resolved, `INVALID_STATE_TRANSITION`.
 */
export function expirePending(pending: PendingEntry, nowMs: number): PendingTransition {
  if (pending.state !== 'pending') throw invalidTransition(pending, pending.state, 'expire');
  if (nowMs < pending.expiresAtMs) throw invalidTransition(pending, 'pending', 'expire', ` until ${pending.expiresAtMs}`);
  return resolve(pending, 'expired', pending.postings.map(() => 0n), nowMs);
}

function requireOpen(pending: PendingEntry, nowMs: number, action: string): void {
  if (pending.state !== 'pending') throw invalidTransition(pending, pending.state, action);
  if (nowMs >= pending.expiresAtMs) throw invalidTransition(pending, 'expired', action);
}

function checkPartialAmounts(postings: readonly Posting[], amounts: readonly bigint[]): void {
  if (!Array.isArray(amounts) || amounts.length !== postings.length) {
    throw new TallyError('FIELD_INVALID', `amounts_minor: one amount per posting (${postings.length})`, { field: 'amounts_minor' });
  }
  postings.forEach((posting, i) => {
    const amount = amounts[i];
    if (typeof amount !== 'bigint' || amount < 0n || amount > posting.amountMinor) {
      throw new TallyError('AMOUNT_OUT_OF_RANGE', `amounts_minor[${i}]: must be within 0..${posting.amountMinor} (the pending amount)`, {
        field: `amounts_minor[${i}]`,
      });
    }
  });
  if (amounts.every((a) => a === 0n)) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', 'amounts_minor: posts nothing; void the pending entry instead', { field: 'amounts_minor' });
  }
  checkBalancedPerCurrency(
    postings.map((p, i) => ({ direction: p.direction, currency: p.currency, amountMinor: amounts[i] ?? 0n })),
    'amounts_minor',
  );
}

function resolve(pending: PendingEntry, outcome: ResolutionOutcome, postedAmountsMinor: readonly bigint[], nowMs: number): PendingTransition {
  assert(Number.isSafeInteger(nowMs), 'resolve: nowMs');
  const postings: ResolvedPosting[] = pending.postings.map((p, i) => ({
    accountId: p.accountId,
    direction: p.direction,
    currency: p.currency,
    pendingAmountMinor: p.amountMinor,
    postedAmountMinor: postedAmountsMinor[i] ?? 0n,
  }));
  const resolution: ResolutionBody = {
    kind: 'resolution',
    id: resolutionRecordId(pending.id),
    pendingEntryId: pending.id,
    outcome,
    postings,
    createdAtMs: nowMs,
  };
  const state: PendingState = outcome;
  return {
    pending: { ...pending, state, resolvedAtMs: nowMs, postedAmountsMinor: [...postedAmountsMinor] },
    resolution,
    changes: balanceChangesOf(resolution),
  };
}

function invalidTransition(pending: PendingEntry, state: PendingState, action: string, detail = ''): TallyError {
  return new TallyError('INVALID_STATE_TRANSITION', `pending entry ${pending.id} cannot ${action}: it is ${state}${detail}`, {
    entryId: pending.id,
    state,
  });
}
