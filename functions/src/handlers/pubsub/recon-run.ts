/** `reconRun`: a `recon-requests` message `{ tenantId, runId }` -> run the uploaded report (ADR 0033). */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { type ReconServiceDeps, executeQueuedRun } from '../../app/recon/recon-requests.js';
import { TallyError } from '../../domain/errors.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

interface MessagePublished { message?: { data?: string; messageId?: string } }

export function createReconRunHandler(deps: { reconService: ReconServiceDeps; logger: Logger }) {
  return async (event: CloudEvent<MessagePublished>): Promise<void> => {
    let request: { tenantId?: unknown; runId?: unknown };
    try {
      request = JSON.parse(Buffer.from(event.data?.message?.data ?? '', 'base64').toString('utf8')) as typeof request;
    } catch {
      // A poison message can never succeed: log and ack.
      deps.logger.error('recon-requests: undecodable message', { eventId: event.id });
      return;
    }
    if (typeof request.tenantId !== 'string' || typeof request.runId !== 'string') {
      deps.logger.error('recon-requests: malformed request', { eventId: event.id });
      return;
    }
    try {
      // Redelivery is harmless: a completed run is not read again; the run is idempotent by report hash + line.
      const { outcome, result } = await executeQueuedRun(deps.reconService, request.tenantId, request.runId, currentTraceIds());
      deps.logger.info('recon run', { tenantId: request.tenantId, runId: request.runId, outcome, breaks: result?.summary.breaks });
    } catch (error) {
      // A typed failure (the report does not read) is final: the run is recorded as failed. Anything
      // else (Firestore unavailable) is thrown, so Pub/Sub redelivers, then dead-letters.
      if (!(error instanceof TallyError)) throw error;
      deps.logger.warn('recon run failed', { tenantId: request.tenantId, runId: request.runId, reason: error.reason, message: error.message });
    }
  };
}
