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
 */
export async function snapshotTenantBalances(deps: LedgerDeps, tenantId: string, budget: { snapshotsLeft: number }): Promise<SnapshotRunReport> {
  const report: SnapshotRunReport = { accountsChecked: 0, snapshotsWritten: 0, failures: [] };
  const settledMs = deps.clock.nowMs() - deps.limits.snapshotSettleMs;
  let cursor = await deps.store.getSnapshotCursor(tenantId);
  while (report.accountsChecked < deps.limits.snapshotAccountsPerTenantMax && budget.snapshotsLeft > 0) {
    const page = await deps.store.listAccounts(tenantId, Math.min(accountsPageSize, deps.limits.snapshotAccountsPerTenantMax - report.accountsChecked), cursor === '' ? undefined : cursor);
    for (const account of page.items) {
      if (budget.snapshotsLeft <= 0) break;
      report.accountsChecked++;
      try {
        report.snapshotsWritten += await snapshotAccount(deps, tenantId, account.id, settledMs, budget);
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
async function snapshotAccount(deps: LedgerDeps, tenantId: string, accountId: string, settledMs: number, budget: { snapshotsLeft: number }): Promise<number> {
  const everyRecords = deps.limits.snapshotEveryRecords;
  let last: BalanceSnapshot = (await deps.store.latestBalanceSnapshot(tenantId, accountId, null)) ?? emptySnapshot(accountId);
  if (last.throughMs >= settledMs) return 0;
  // A count, not a read of the records: most accounts are not due on most runs.
  if ((await deps.store.countRecordsBetween(tenantId, accountId, last.throughMs, settledMs, everyRecords)) < everyRecords) return 0;
  let written = 0;
  while (budget.snapshotsLeft > 0) {
    const records = await deps.store.recordsBetween(tenantId, accountId, last.throughMs, settledMs, everyRecords + 1);
    const end = nextSnapshotEnd(records.map((r) => r.createdAtMs), last.throughMs, everyRecords);
    if (end === null) {
      if (records.length > everyRecords) {
        throw new Error(`balance snapshots of account ${accountId} cannot advance: more than ${everyRecords} records at ${new Date(records[0]!.createdAtMs).toISOString()} (one millisecond); raise TALLY_LEDGER_SNAPSHOT_EVERY_RECORDS`);
      }
      return written;
    }
    const next = advanceSnapshot(last, records.filter((r) => r.createdAtMs <= end.throughMs), end.throughMs);
    if (next.openHolds.size > SNAPSHOT_OPEN_HOLDS_MAX) {
      throw new Error(`balance snapshots of account ${accountId} cannot advance: ${next.openHolds.size} holds open at ${new Date(end.throughMs).toISOString()}, more than ${SNAPSHOT_OPEN_HOLDS_MAX} a snapshot keeps`);
    }
    await deps.store.putBalanceSnapshot(tenantId, next);
    last = next;
    budget.snapshotsLeft--;
    written++;
  }
  return written;
}
