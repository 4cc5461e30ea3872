/**
 * `outboxSweeper`: a scheduler tick on `ticks-outbox` -> republish outbox events older than the
 * threshold still unsent (their trigger was lost or gave up), one bounded batch across tenants.
 * Failures are counted and logged, not thrown: they stay unsent and the next tick tries again, and
 * a throwing tick would only be redelivered on top of the next one.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { sweepOutbox, type OutboxDeps } from '../../app/outbox/relay.js';
import type { Logger } from '../../platform/telemetry/logger.js';

export function createOutboxSweeperHandler(deps: { outbox: OutboxDeps; logger: Logger; olderThanMs: number; batchMax: number }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    // Progress: each event left unsent is named (at most batchMax lines); the summary follows.
    const report = await sweepOutbox(deps.outbox, { olderThanMs: deps.olderThanMs, batchMax: deps.batchMax }, (e, ok) => {
      if (!ok) deps.logger.warn('outbox sweep: publish failed', { tenantId: e.tenantId, outboxEventId: e.id, type: e.type, aggregateId: e.aggregateId });
    });
    const fields = { tickId: event.id, olderThanMs: deps.olderThanMs, batchMax: deps.batchMax, batchFull: report.found === deps.batchMax, ...report };
    if (report.failed > 0) deps.logger.warn('outbox sweep: some events left unsent', fields);
    else deps.logger.info('outbox sweep', fields);
  };
}
