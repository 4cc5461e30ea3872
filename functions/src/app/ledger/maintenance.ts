/**
 * Periodic ledger upkeep, run by the `ledgerMaintenance` function on a scheduler tick: expire
 * pending entries past their timeout (bounded batch), then sign a checkpoint for each tenant whose
 * chain moved since its last one, walking tenants in bounded pages with a persisted cursor so that
 * every tenant is reached over successive ticks.
 */
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { checkpointTenant, sweepExpiredPendings, type LedgerDeps } from './ledger-use-cases.js';

export interface MaintenanceReport {
  expired: number;
  tenantsVisited: number;
  checkpointsSigned: number;
  nextCursor: string;
}

export async function runLedgerMaintenance(deps: LedgerDeps, trace: TraceIds, options: { tenantsPerRunMax: number }): Promise<MaintenanceReport> {
  const { expired } = await sweepExpiredPendings(deps, trace);
  const cursor = await deps.store.getMaintenanceCursor();
  const tenants = await deps.store.listTenantIds(cursor, options.tenantsPerRunMax);
  let checkpointsSigned = 0;
  for (const tenantId of tenants) {
    if (await checkpointIfMoved(deps, tenantId)) checkpointsSigned++;
  }
  // A short page means the walk reached the end: start over next time.
  const nextCursor = tenants.length < options.tenantsPerRunMax ? '' : tenants.at(-1)!;
  await deps.store.setMaintenanceCursor(nextCursor);
  return { expired, tenantsVisited: tenants.length, checkpointsSigned, nextCursor };
}

async function checkpointIfMoved(deps: LedgerDeps, tenantId: string): Promise<boolean> {
  const [heads, latest] = await Promise.all([deps.store.readStripeHeads(tenantId), deps.store.latestCheckpoint(tenantId)]);
  const signedCount = latest?.checkpoint.stripeHeads.reduce((n, h) => n + h.entryCount, 0) ?? 0;
  const currentCount = heads.reduce((n, h) => n + h.entryCount, 0);
  if (currentCount === signedCount) return false;
  return (await checkpointTenant(deps, tenantId)) !== undefined;
}
