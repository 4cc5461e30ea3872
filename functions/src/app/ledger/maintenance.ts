/**
 * Periodic ledger upkeep, run by the `ledgerMaintenance` function on a scheduler tick: expire
 * pending entries past their timeout (bounded batch), then sign a checkpoint for each tenant whose
 * chain moved since its last one, walking tenants in bounded pages with a persisted cursor so that
 * every tenant is reached over successive ticks. For each tenant visited it also writes the balance
 * snapshots that are due (ADR 0025), a bounded number per run.
 */
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { checkpointTenant, sweepExpiredPendings, type LedgerDeps } from './ledger-use-cases.js';
import { snapshotTenantBalances } from './balance-snapshots.js';

export interface MaintenanceReport {
  expired: number;
  tenantsVisited: number;
  checkpointsSigned: number;
  /** Balance snapshots written and accounts checked for them (ADR 0025). */
  snapshotsWritten: number;
  snapshotAccountsChecked: number;
  nextCursor: string;
}

export async function runLedgerMaintenance(deps: LedgerDeps, trace: TraceIds, options: { tenantsPerRunMax: number }): Promise<MaintenanceReport> {
  const { expired } = await sweepExpiredPendings(deps, trace);
  const cursor = await deps.store.getMaintenanceCursor();
  const tenants = await deps.store.listTenantIds(cursor, options.tenantsPerRunMax);
  let checkpointsSigned = 0;
  const snapshotBudget = { snapshotsLeft: deps.limits.snapshotsPerRunMax };
  let snapshotsWritten = 0;
  let snapshotAccountsChecked = 0;
  const snapshotFailures: { tenantId: string; accountId: string; error: unknown }[] = [];
  for (const tenantId of tenants) {
    if (await checkpointIfMoved(deps, tenantId)) checkpointsSigned++;
    const snapshots = await snapshotTenantBalances(deps, tenantId, snapshotBudget);
    snapshotsWritten += snapshots.snapshotsWritten;
    snapshotAccountsChecked += snapshots.accountsChecked;
    snapshotFailures.push(...snapshots.failures.map((f) => ({ tenantId, ...f })));
  }
  // A short page means the walk reached the end: start over next time.
  const nextCursor = tenants.length < options.tenantsPerRunMax ? '' : tenants.at(-1)!;
  await deps.store.setMaintenanceCursor(nextCursor);
  if (snapshotFailures.length > 0) {
    // Loud, after the rest of the run is written down: an account whose snapshots cannot advance
    // will have its as-of reads refused once its replay passes the bound.
    const first = snapshotFailures[0]!;
    throw new Error(`ledger maintenance: balance snapshots of ${snapshotFailures.length} account(s) could not advance (first: ${first.tenantId}/${first.accountId}); ${snapshotsWritten} were written`, { cause: first.error });
  }
  return { expired, tenantsVisited: tenants.length, checkpointsSigned, snapshotsWritten, snapshotAccountsChecked, nextCursor };
}

async function checkpointIfMoved(deps: LedgerDeps, tenantId: string): Promise<boolean> {
  const [heads, latest] = await Promise.all([deps.store.readStripeHeads(tenantId), deps.store.latestCheckpoint(tenantId)]);
  const signedCount = latest?.checkpoint.stripeHeads.reduce((n, h) => n + h.entryCount, 0) ?? 0;
  const currentCount = heads.reduce((n, h) => n + h.entryCount, 0);
  if (currentCount === signedCount) return false;
  return (await checkpointTenant(deps, tenantId)) !== undefined;
}
