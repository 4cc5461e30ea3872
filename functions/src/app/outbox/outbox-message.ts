/**
 * Pure pieces of the outbox relay: where a Firestore CloudEvent points, the Pub/Sub attributes and
 * ordering key of an event, and the order in which a batch may be published.
 */
import type { StoredOutboxEvent } from '../../ports/outbox-store.js';

/** The topic every domain event goes to (ARCHITECTURE.md). */
export const domainEventsTopic = 'domain-events';

/** Ids are opaque but never contain a slash; bounded so a bad subject cannot make a huge lookup. */
const idPattern = /^[A-Za-z0-9_.~-]{1,200}$/;

/**
 * The outbox document a Firestore CloudEvent names in its `subject`
 * (`documents/tenants/{tenantId}/outbox/{eventId}`). The subject, not the protobuf payload, is the
 * pointer: the relay re-reads the document (ADR 0010). Undefined for anything else.
 */
export function parseOutboxSubject(subject: string | undefined): { tenantId: string; eventId: string } | undefined {
  const parts = (subject ?? '').split('/');
  if (parts.length !== 5 || parts[0] !== 'documents' || parts[1] !== 'tenants' || parts[3] !== 'outbox') return undefined;
  const [tenantId, eventId] = [decodeURIComponent(parts[2]!), decodeURIComponent(parts[4]!)];
  return idPattern.test(tenantId) && idPattern.test(eventId) ? { tenantId, eventId } : undefined;
}

/**
 * A W3C `traceparent` continuing the trace that wrote the event (its trace id, its span as parent),
 * or undefined when the event carries no valid trace (maintenance runs write empty ids).
 */
export function traceparentOf(traceId: string, spanId: string, sampled: boolean): string | undefined {
  if (!/^[0-9a-f]{32}$/.test(traceId) || /^0+$/.test(traceId)) return undefined;
  if (!/^[0-9a-f]{16}$/.test(spanId) || /^0+$/.test(spanId)) return undefined;
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** Pub/Sub attributes: enough to route, filter and dedupe without decoding the data. */
export function messageAttributes(event: StoredOutboxEvent, traceparent: string | undefined): Record<string, string> {
  return {
    eventId: event.id,
    type: event.type,
    tenantId: event.tenantId,
    aggregateId: event.aggregateId,
    ...(traceparent ? { traceparent } : {}),
  };
}

/**
 * Splits a batch (oldest first) into per-aggregate queues, keeping each aggregate's order: queues
 * run concurrently, each one in order, so that events of one ordering key are published in the
 * order they were written.
 */
export function queuesByAggregate(events: readonly StoredOutboxEvent[]): StoredOutboxEvent[][] {
  const queues = new Map<string, StoredOutboxEvent[]>();
  for (const event of events) {
    const queue = queues.get(event.aggregateId);
    if (queue) queue.push(event);
    else queues.set(event.aggregateId, [event]);
  }
  return [...queues.values()];
}
