/**
 * Balance snapshots: one account's balance as of a time, kept so that "balance as of T" is the
 * nearest snapshot at or before T plus a bounded replay of the records after it (ADR 0025).
 *
 * A snapshot covers every record touching the account with `createdAtMs <= throughMs`. It keeps
 * the raw sums of those records' changes (a hold not yet resolved by a record still counted) and
 * the holds still open at `throughMs` (pending entries without a resolution record by then), with
 * their timeouts. It does not release expired holds itself: whether a hold counts as released
 * depends on the time asked about (ADR 0017: a hold whose timeout passed by then is released,
 * swept or not), and the sweep's later expiry record must then release it exactly once.
 *
 * Records are self-contained and changes are additions, so a snapshot is a pure function of the
 * records through its time: it is verifiable by replaying them (`replayBalances` gives the same
 * answer), and the next snapshot is this one plus the records between.
 */
import { assert } from '../errors.js';
import { type Balance, type Hold, ZERO_BALANCE, addBalances, balanceChangesOf, releaseExpiredHolds } from './balance.js';
import type { EntryBody, ResolutionBody } from './journal-record.js';

/** One account's state through `throughMs`. */
export interface BalanceSnapshot {
  readonly accountId: string;
  /** Every record with `createdAtMs <= throughMs` is in it, no later one; -1 for the empty start. */
  readonly throughMs: number;
  /** How many records touching the account it folds (a verifier's check, and the cadence's count). */
  readonly recordCount: number;
  /** Sums of the records' changes: holds still open (even past their timeout) are included. */
  readonly raw: Balance;
  /** Pending entries through `throughMs` with no resolution record through `throughMs`, by entry id. */
  readonly openHolds: ReadonlyMap<string, Hold>;
}

/** The state of an account before its first record. */
export function emptySnapshot(accountId: string): BalanceSnapshot {
  return { accountId, throughMs: -1, recordCount: 0, raw: ZERO_BALANCE, openHolds: new Map() };
}

/**
 * `snapshot` advanced to `throughMs`: `records` must be exactly the records touching the account
 * with `snapshot.throughMs < createdAtMs <= throughMs` (any order: changes commute; a record
 * outside that window is a caller bug). A resolution whose hold is not open releases nothing from
 * the hold list (its changes still count: they are in the records).
 */
export function advanceSnapshot(snapshot: BalanceSnapshot, records: Iterable<EntryBody | ResolutionBody>, throughMs: number): BalanceSnapshot {
  assert(Number.isSafeInteger(throughMs) && throughMs >= snapshot.throughMs, 'advanceSnapshot: throughMs goes forward');
  let raw = snapshot.raw;
  let recordCount = snapshot.recordCount;
  const holds = new Map(snapshot.openHolds);
  // Resolutions first would be wrong only if a resolution could precede its entry in time; it
  // cannot (a pending entry is resolved after it is written), but within one window both may
  // appear in either order, so holds are settled after all records are seen.
  const resolvedIds: string[] = [];
  for (const record of records) {
    assert(record.createdAtMs > snapshot.throughMs && record.createdAtMs <= throughMs, `advanceSnapshot: record ${record.id} outside the window`);
    const changes = balanceChangesOf(record).filter((c) => c.accountId === snapshot.accountId);
    assert(changes.length > 0, `advanceSnapshot: record ${record.id} does not touch ${snapshot.accountId}`);
    recordCount++;
    for (const change of changes) raw = addBalances(raw, change.delta);
    if (record.kind === 'resolution') {
      resolvedIds.push(record.pendingEntryId);
    } else if (record.pending !== null) {
      const pendingDebitsMinor = changes.reduce((n, c) => n + c.delta.pendingDebitsMinor, 0n);
      const pendingCreditsMinor = changes.reduce((n, c) => n + c.delta.pendingCreditsMinor, 0n);
      holds.set(record.id, { entryId: record.id, expiresAtMs: record.pending.expiresAtMs, pendingDebitsMinor, pendingCreditsMinor });
    }
  }
  for (const id of resolvedIds) holds.delete(id);
  return { accountId: snapshot.accountId, throughMs, recordCount, raw, openHolds: holds };
}

/**
 * The account's balance as of `asOfMs` from `snapshot` (through a time at or before it) and the
 * records after it up to `asOfMs`: holds whose timeout passed by `asOfMs` count as released.
 * Equal to `replayBalances(allRecords, { asOfMs }).get(accountId)` (property-tested).
 */
export function balanceAsOf(snapshot: BalanceSnapshot, recordsAfter: Iterable<EntryBody | ResolutionBody>, asOfMs: number): Balance {
  const state = advanceSnapshot(snapshot, recordsAfter, asOfMs);
  return releaseExpiredHolds(state.raw, state.openHolds.values(), asOfMs);
}

/**
 * Where the next snapshot of an account ends, given the records after the last one in time order
 * (read with a limit of `everyRecords + 1`): through the time of the `everyRecords`-th record when
 * no later record shares its millisecond, else just before the first record past the count, so
 * that a snapshot never splits one millisecond's records. `settledMs` caps it: records newer than
 * that may still be committing with an earlier time. Null when there is nothing to snapshot yet
 * (fewer than `everyRecords`, or one millisecond holds more than `everyRecords` records: the
 * caller must report that, since snapshots cannot advance past it).
 */
export function nextSnapshotEnd(
  recordTimesMs: readonly number[], lastThroughMs: number, everyRecords: number,
): { throughMs: number; recordCount: number } | null {
  assert(Number.isSafeInteger(everyRecords) && everyRecords >= 1, 'nextSnapshotEnd: everyRecords');
  if (recordTimesMs.length < everyRecords) return null;
  if (recordTimesMs.length === everyRecords) return { throughMs: recordTimesMs[everyRecords - 1]!, recordCount: everyRecords };
  const firstBeyondMs = recordTimesMs[everyRecords]!;
  const throughMs = firstBeyondMs - 1;
  if (throughMs <= lastThroughMs) return null;
  const recordCount = recordTimesMs.slice(0, everyRecords).filter((t) => t <= throughMs).length;
  return { throughMs, recordCount };
}
