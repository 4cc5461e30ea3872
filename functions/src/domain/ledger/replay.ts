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

/** Every account's balance after `records` (accounts no record touches are absent, i.e. zero). */
export function replayBalances(records: Iterable<EntryBody | ResolutionBody>, options: ReplayOptions = { asOfMs: null }): Map<string, Balance> {
  const balances = new Map<string, Balance>();
  for (const record of records) {
    if (options.asOfMs !== null && record.createdAtMs > options.asOfMs) continue;
    for (const change of balanceChangesOf(record)) {
      balances.set(change.accountId, addBalances(balances.get(change.accountId) ?? ZERO_BALANCE, change.delta));
    }
  }
  return balances;
}
