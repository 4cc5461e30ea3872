/**
 * Replay: every account's balance recomputed from journal records alone. The property tests use
 * it as the oracle for stored balances; `GetBalance` "as of T" replays the records up to T.
 *
 * Records are self-contained (resolutions carry their amounts) and changes are additions, so the
 * result does not depend on record order, and any set of records closed under "a resolution comes
 * with its pending entry" (e.g. all records touching one account, or all up to a time) replays.
 */
import { type Balance, ZERO_BALANCE, addBalances, balanceChangesOf } from './balance.js';
import type { EntryBody, ResolutionBody } from './journal-record.js';

/** Options of `replayBalances`. */
export interface ReplayOptions {
  /** Only records with `createdAtMs <= asOfMs` count; null for all. */
  readonly asOfMs: number | null;
}

/**
 * Every account's balance after `records` (accounts no record touches are absent, i.e. zero).
 *
 * As of a time, a hold whose timeout passed by then is released even when no resolution record
 * exists yet: the sweep writes the expiry later, but the hold ended at `expiresAtMs` (a pending
 * entry can be neither posted nor voided from then on, so its only possible end is that expiry).
 */
export function replayBalances(records: Iterable<EntryBody | ResolutionBody>, options: ReplayOptions = { asOfMs: null }): Map<string, Balance> {
  const balances = new Map<string, Balance>();
  const add = (accountId: string, delta: Balance) => balances.set(accountId, addBalances(balances.get(accountId) ?? ZERO_BALANCE, delta));
  const expiredHolds = new Map<string, EntryBody>();
  const resolved = new Set<string>();
  for (const record of records) {
    if (options.asOfMs !== null && record.createdAtMs > options.asOfMs) continue;
    for (const change of balanceChangesOf(record)) add(change.accountId, change.delta);
    if (record.kind === 'resolution') resolved.add(record.pendingEntryId);
    else if (options.asOfMs !== null && record.pending !== null && record.pending.expiresAtMs <= options.asOfMs) expiredHolds.set(record.id, record);
  }
  for (const [id, entry] of expiredHolds) {
    if (resolved.has(id)) continue;
    // The expiry the sweep will write: the hold released, nothing posted.
    for (const change of balanceChangesOf(entry)) add(change.accountId, negate(change.delta));
  }
  return balances;
}

function negate(b: Balance): Balance {
  return { postedDebitsMinor: -b.postedDebitsMinor, postedCreditsMinor: -b.postedCreditsMinor, pendingDebitsMinor: -b.pendingDebitsMinor, pendingCreditsMinor: -b.pendingCreditsMinor };
}
