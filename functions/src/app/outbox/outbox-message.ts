/**
 * Pure pieces of the outbox relay: where a Firestore CloudEvent points, the Pub/Sub attributes and
 * ordering key of an event, and the order in which a batch may be published.
 */
import type { StoredOutboxDocument, StoredOutboxEvent } from '../../ports/outbox-store.js';

/** The topic every domain event goes to (ARCHITECTURE.md). */
export const domainEventsTopic = 'domain-events';

/** Ids are opaque but never contain a slash; bounded so a bad subject cannot make a huge lookup. */
const idPattern = /^[A-Za-z0-9_.~-]{1,200}$/;

/**
 * The outbox document a Firestore CloudEvent names in its `subject`
 * (`documents/tenants/{tenantId}/outbox/{documentId}`). Undefined for anything else.
 */
export function parseOutboxSubject(subject: string | undefined): { tenantId: string; documentId: string } | undefined {
  const parts = (subject ?? '').split('/');
  if (parts.length !== 5 || parts[0] !== 'documents' || parts[1] !== 'tenants' || parts[3] !== 'outbox') return undefined;
  const [tenantId, documentId] = [decodeURIComponent(parts[2]!), decodeURIComponent(parts[4]!)];
  return idPattern.test(tenantId) && idPattern.test(documentId) ? { tenantId, documentId } : undefined;
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
 * Splits a batch of events (oldest first) into per-aggregate queues, keeping each aggregate's
 * order: queues run concurrently, each one in order, so that events of one ordering key are
 * published in the order they were written.
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

/**
 * Splits a batch of documents (oldest first) into queues such that every document sharing an
 * aggregate with another lands in the same queue, each queue in the batch's order: queues run
 * concurrently, each one in order, so that events of one ordering key are published in the order
 * they were written. (A document of several aggregates joins their queues into one.)
 */
export function documentQueuesByAggregate(documents: readonly StoredOutboxDocument[]): StoredOutboxDocument[][] {
  // Union-find over aggregates; a document links all of its aggregates.
  const parent = new Map<string, string>();
  const find = (a: string): string => {
    let root = a;
    while (parent.get(root) !== root) root = parent.get(root)!;
    for (let x = a; x !== root;) { const next = parent.get(x)!; parent.set(x, root); x = next; }
    return root;
  };
  for (const document of documents) {
    const [first, ...rest] = document.events.map((e) => e.aggregateId);
    if (!parent.has(first!)) parent.set(first!, first!);
    for (const aggregate of rest) {
      if (!parent.has(aggregate)) parent.set(aggregate, aggregate);
      parent.set(find(aggregate), find(first!));
    }
  }
  const queues = new Map<string, StoredOutboxDocument[]>();
  for (const document of documents) {
    const root = find(document.events[0]!.aggregateId);
    const queue = queues.get(root);
    if (queue) queue.push(document);
    else queues.set(root, [document]);
  }
  return [...queues.values()];
}
