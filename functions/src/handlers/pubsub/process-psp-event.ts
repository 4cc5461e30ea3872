/** `processPspEvent`: a `psp-events` message -> apply the stored PSP event exactly once. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { processInboxEvent, type PaymentsDeps } from '../../app/payments/index.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

interface MessagePublished { message?: { data?: string; messageId?: string } }

export function createProcessPspEventHandler(deps: { payments: PaymentsDeps; logger: Logger }) {
  return async (event: CloudEvent<MessagePublished>): Promise<void> => {
    const data = event.data?.message?.data;
    let pointer: { tenantId?: unknown; inboxId?: unknown };
    try {
      pointer = JSON.parse(Buffer.from(data ?? '', 'base64').toString('utf8')) as typeof pointer;
    } catch {
      // A poison message can never succeed: log and ack (the dead-letter policy keeps a copy).
      deps.logger.error('psp-events: undecodable message', { eventId: event.id });
      return;
    }
    if (typeof pointer.tenantId !== 'string' || typeof pointer.inboxId !== 'string') {
      deps.logger.error('psp-events: malformed pointer', { eventId: event.id });
      return;
    }
    // Redelivered messages are harmless: processing is exactly-once by the inbox flag, checked in
    // the same transaction that applies the event.
    const result = await processInboxEvent(deps.payments, pointer.tenantId, pointer.inboxId, currentTraceIds());
    deps.logger.info('psp event', { inboxId: pointer.inboxId, result });
  };
}
