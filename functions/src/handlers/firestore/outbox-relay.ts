/**
 * `outboxRelay`: a Firestore "document created" CloudEvent on `tenants/{tenantId}/outbox/{eventId}`
 * -> publish the event to `domain-events` and mark it sent. The CloudEvent's `subject`
 * (`documents/tenants/T/outbox/E`) is only a pointer: the document is re-read, never decoded from
 * the (protobuf) event data, so the handler does not depend on the trigger's content type.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { parseOutboxSubject } from '../../app/outbox/outbox-message.js';
import { relayOutboxEvent, type OutboxDeps } from '../../app/outbox/relay.js';
import type { Logger } from '../../platform/telemetry/logger.js';

export function createOutboxRelayHandler(deps: { outbox: OutboxDeps; logger: Logger }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const target = parseOutboxSubject(event.subject);
    if (!target) {
      // Not an outbox document: retrying can never help (the trigger's filter is wrong). Ack.
      deps.logger.error('outbox relay: unexpected subject', { eventId: event.id, subject: event.subject });
      return;
    }
    // A failed publish throws: the function fails, the trigger retries, the document stays unsent
    // (and the sweeper publishes it if the retries run out).
    const result = await relayOutboxEvent(deps.outbox, target.tenantId, target.eventId);
    const fields = { cloudEventId: event.id, ...target, ...result };
    // Missing: deleted since, or a trigger from another database. Nothing to publish; worth a look.
    if (result.outcome === 'missing') deps.logger.warn('outbox relay: document not found', fields);
    else deps.logger.info('outbox relay', fields);
  };
}
