/**
 * `outboxRelay`: a Firestore "document created" CloudEvent on `tenants/{tenantId}/outbox/{docId}`
 * -> publish the document's events to `domain-events` and mark it sent. The CloudEvent carries the
 * created document (DocumentEventData, in the content type declared in terraform/): decoded by
 * the outbox store, it is relayed with no read and marked with one conditional write. Data that does not decode (absent, another
 * encoding) falls back to reading the document the `subject` names.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { parseOutboxSubject } from '../../app/outbox/outbox-message.js';
import { relayOutboxDocument, type OutboxDeps } from '../../app/outbox/relay.js';
import type { Logger } from '../../platform/telemetry/logger.js';

export function createOutboxRelayHandler(deps: { outbox: OutboxDeps; logger: Logger }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const target = parseOutboxSubject(event.subject);
    if (!target) {
      // Not an outbox document: retrying can never help (the trigger's filter is wrong). Ack.
      deps.logger.error('outbox relay: unexpected subject', { eventId: event.id, subject: event.subject });
      return;
    }
    const carried = deps.outbox.store.carried(event.data, target.tenantId, target.documentId);
    // A failed publish throws: the function fails, the trigger retries, the document stays unsent
    // (and the sweeper publishes it if the retries run out).
    const result = await relayOutboxDocument(deps.outbox, target.tenantId, target.documentId, carried);
    const fields = { cloudEventId: event.id, ...target, carried: carried !== undefined, ...result };
    // Missing: deleted since, or a trigger from another database. Nothing to publish; worth a look.
    if (result.outcome === 'missing') deps.logger.warn('outbox relay: document not found', fields);
    else deps.logger.info('outbox relay', fields);
  };
}
