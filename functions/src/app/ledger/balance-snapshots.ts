/**
 * Balance snapshots, written by ledger maintenance (ADR 0025): for each account with at least
 * `snapshotEveryRecords` settled records after its latest snapshot, the next snapshot is that one
 * plus the records between (pure: `advanceSnapshot`), so each snapshot costs at most
 * `snapshotEveryRecords` + 1 record reads however long the history, and an "as of" balance is the
 * nearest snapshot plus at most about that many records.
 */
import { advanceSnapshot, emptySnapshot, nextSnapshotEnd, type BalanceSnapshot } from '../../domain/ledger/snapshot.js';
import type { LedgerDeps } from './ledger-use-cases.js';

/**
 * Most open holds one snapshot document keeps (about 150 bytes each: far below Firestore's 1 MiB
 * document bound). An account with more holds open at one time gets no further snapshot (reported
 * as a failure), and its as-of reads refuse once the replay passes `asOfRecordsMax`.
 */
export const SNAPSHOT_OPEN_HOLDS_MAX = 5_000;

/** Accounts read per page while walking a tenant's accounts. */
const accountsPageSize = 100;

/**
 * Most records one query reads while catching an account's snapshots up (at least
 * `snapshotEveryRecords` + 1): consecutive snapshots come from one query, not one each (about 10
 * MB of records at most in memory). Catching up 100,000 records at N = 1,000 is then 10 queries,
 * not 100: fewer round trips in production, and on the Firestore emulator, which scans the whole
 * journal for every query (no indexes), 10 scans instead of 100.
 */
export const SNAPSHOT_READ_RECORDS_MAX = 10_000;

export interface SnapshotRunReport {
  accountsChecked: number;
  snapshotsWritten: number;
  /** Accounts whose snapshots could not advance, with why (the run goes on with the others). */
  failures: { accountId: string; error: unknown }[];
}

/**
 * Writes due snapshots for the accounts of `tenantId`: at most `snapshotAccountsPerTenantMax`
 * accounts checked (the walk resumes from a stored cursor next run) and at most
 * `budget.snapshotsLeft` snapshots written (shared by the tenants of one run, decremented here).
 * When the budget runs out mid-page the cursor stays at that page, so no account is skipped.
 * `readRecordsMax` (default `SNAPSHOT_READ_RECORDS_MAX`) bounds the records one query reads.
 */
export async function snapshotTenantBalances(
  deps: LedgerDeps, tenantId: string, budget: { snapshotsLeft: number }, options: { readRecordsMax?: number } = {},
): Promise<SnapshotRunReport> {
  const readRecordsMax = options.readRecordsMax ?? SNAPSHOT_READ_RECORDS_MAX;
  const report: SnapshotRunReport = { accountsChecked: 0, snapshotsWritten: 0, failures: [] };
  const settledMs = deps.clock.nowMs() - deps.limits.snapshotSettleMs;
  let cursor = await deps.store.getSnapshotCursor(tenantId);
  while (report.accountsChecked < deps.limits.snapshotAccountsPerTenantMax && budget.snapshotsLeft > 0) {
    const page = await deps.store.listAccounts(tenantId, Math.min(accountsPageSize, deps.limits.snapshotAccountsPerTenantMax - report.accountsChecked), cursor === '' ? undefined : cursor);
    for (const account of page.items) {
      if (budget.snapshotsLeft <= 0) break;
      report.accountsChecked++;
      try {
        report.snapshotsWritten += await snapshotAccount(deps, tenantId, account.id, settledMs, budget, readRecordsMax);
      } catch (error) {
        report.failures.push({ accountId: account.id, error });
      }
    }
    // Out of budget: resume at this page next run (the accounts done cost one count each then).
    if (budget.snapshotsLeft <= 0) break;
    cursor = page.nextCursor ?? '';
    if (cursor === '') break;
  }
  await deps.store.setSnapshotCursor(tenantId, cursor);
  return report;
}

/** Catches one account's snapshots up to `settledMs` within the budget; returns how many it wrote. */
async function snapshotAccount(
  deps: LedgerDeps, tenantId: string, accountId: string, settledMs: number, budget: { snapshotsLeft: number }, readRecordsMax: number,
): Promise<number> {
  const everyRecords = deps.limits.snapshotEveryRecords;
  let last: BalanceSnapshot = (await deps.store.latestBalanceSnapshot(tenantId, accountId, null)) ?? emptySnapshot(accountId);
  if (last.throughMs >= settledMs) return 0;
  // A count, not a read of the records: most accounts are not due on most runs.
  if ((await deps.store.countRecordsBetween(tenantId, accountId, last.throughMs, settledMs, everyRecords)) < everyRecords) return 0;
  const snapshotsPerRead = Math.max(1, Math.floor(readRecordsMax / everyRecords));
  let written = 0;
  // Each read yields at least one snapshot or ends the loop; the budget bounds the rest.
  while (budget.snapshotsLeft > 0) {
    // Enough records for the snapshots the budget allows (up to `snapshotsPerRead`), in time order.
    const limit = Math.min(budget.snapshotsLeft, snapshotsPerRead) * everyRecords + 1;
    const records = await deps.store.recordsBetween(tenantId, accountId, last.throughMs, settledMs, limit);
    // A full read may stop inside one millisecond: its tail is only used when followed by a record
    // past the next snapshot's end (a window of N + 1); a short read holds every settled record.
    const truncated = records.length === limit;
    let from = 0;
    let advanced = false;
    while (budget.snapshotsLeft > 0) {
      const window = records.slice(from, from + everyRecords + 1);
      if (truncated && window.length <= everyRecords) break;
      const end = nextSnapshotEnd(window.map((r) => r.createdAtMs), last.throughMs, everyRecords);
      if (end === null) {
        if (window.length > everyRecords) {
          throw new Error(`balance snapshots of account ${accountId} cannot advance: more than ${everyRecords} records at ${new Date(window[0]!.createdAtMs).toISOString()} (one millisecond); raise TALLY_LEDGER_SNAPSHOT_EVERY_RECORDS`);
        }
        return written;
      }
      const folded = window.filter((r) => r.createdAtMs <= end.throughMs);
      const next = advanceSnapshot(last, folded, end.throughMs);
      if (next.openHolds.size > SNAPSHOT_OPEN_HOLDS_MAX) {
        throw new Error(`balance snapshots of account ${accountId} cannot advance: ${next.openHolds.size} holds open at ${new Date(end.throughMs).toISOString()}, more than ${SNAPSHOT_OPEN_HOLDS_MAX} a snapshot keeps`);
      }
      await deps.store.putBalanceSnapshot(tenantId, next);
      last = next;
      from += folded.length;
      budget.snapshotsLeft--;
      written++;
      advanced = true;
    }
    if (!advanced) throw new Error(`assertion failed: a read of ${limit} records of account ${accountId} advanced no snapshot`);
  }
  return written;
}
