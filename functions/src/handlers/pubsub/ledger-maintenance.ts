/** `ledgerMaintenance`: a Pub/Sub scheduler tick -> one bounded maintenance run. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { trace } from '@opentelemetry/api';
import { runLedgerMaintenance } from '../../app/ledger/maintenance.js';
import type { LedgerDeps } from '../../app/ledger/ledger-use-cases.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

export function createLedgerMaintenanceHandler(deps: { ledger: LedgerDeps; logger: Logger; tenantsPerRunMax: number }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    await trace.getTracer('tally').startActiveSpan('ledgerMaintenance', async (span) => {
      try {
        // Ticks are idempotent by nature: a redelivered tick simply finds less to do.
        const report = await runLedgerMaintenance(deps.ledger, currentTraceIds(), { tenantsPerRunMax: deps.tenantsPerRunMax });
        deps.logger.info('ledger maintenance', { eventId: event.id, ...report });
      } finally {
        span.end();
      }
    });
  };
}
