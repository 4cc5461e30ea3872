import { describe, expect, it } from 'vitest';
import type { OutboxStore, StoredOutboxDocument, StoredOutboxEvent } from '../../ports/outbox-store.js';
import { documentQueuesByAggregate, messageAttributes, parseOutboxSubject, queuesByAggregate, traceparentOf } from './outbox-message.js';
import { drainOutbox, sweepOutbox, type OutboxDeps } from './relay.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

function event(id: string, aggregateId: string, createdAtMs: number): StoredOutboxEvent {
  return { id, tenantId: 'ten_1', type: 'ledger.entry.posted', aggregateId, payload: {}, createdAtMs, traceId, spanId, publishedAtMs: null };
}

describe('parseOutboxSubject', () => {
  it('reads tenant and event id from a Firestore CloudEvent subject', () => {
    expect(parseOutboxSubject('documents/tenants/ten_A1/outbox/evt_je_1')).toEqual({ tenantId: 'ten_A1', documentId: 'evt_je_1' });
  });

  it.each([
    undefined, '', 'documents/tenants/ten_A/outbox', 'documents/tenants/ten_A/journal/je_1', 'tenants/ten_A/outbox/evt_1',
    'documents/tenants/ten_A/outbox/evt_1/extra', 'documents/tenants//outbox/evt_1', 'documents/tenants/ten_A/outbox/%2F..',
  ])('refuses %j', (subject) => {
    expect(parseOutboxSubject(subject)).toBeUndefined();
  });
});

describe('traceparentOf', () => {
  it('continues the stored trace with its span as parent, sampled or not', () => {
    expect(traceparentOf(traceId, spanId, true)).toBe(`00-${traceId}-${spanId}-01`);
    expect(traceparentOf(traceId, spanId, false)).toBe(`00-${traceId}-${spanId}-00`);
  });

  it('omits invalid or empty ids (maintenance runs write none)', () => {
    expect(traceparentOf('', '', true)).toBeUndefined();
    expect(traceparentOf('0'.repeat(32), spanId, true)).toBeUndefined();
    expect(traceparentOf(traceId, 'XYZ', true)).toBeUndefined();
    expect(traceparentOf(traceId.toUpperCase(), spanId, true)).toBeUndefined();
  });
});

describe('messageAttributes', () => {
  it('carry id, type, tenant, aggregate and the trace context', () => {
    expect(messageAttributes(event('evt_1', 'je_1', 0), 'tp')).toEqual({ eventId: 'evt_1', type: 'ledger.entry.posted', tenantId: 'ten_1', aggregateId: 'je_1', traceparent: 'tp' });
    expect(messageAttributes(event('evt_1', 'je_1', 0), undefined)).not.toHaveProperty('traceparent');
  });
});

describe('queuesByAggregate', () => {
  it('keeps each aggregate in its original order', () => {
    const queues = queuesByAggregate([event('a1', 'A', 1), event('b1', 'B', 2), event('a2', 'A', 3)]);
    expect(queues.map((q) => q.map((e) => e.id))).toEqual([['a1', 'a2'], ['b1']]);
  });
});

/** A document of one commit's events (the first one's id and time name it). */
function doc(...events: StoredOutboxEvent[]): StoredOutboxDocument {
  return { tenantId: 'ten_1', id: events[0]!.id, createdAtMs: Math.min(...events.map((e) => e.createdAtMs)), publishedAtMs: null, events };
}

describe('documentQueuesByAggregate', () => {
  it('puts documents that share an aggregate in one queue, in batch order, whichever event shares it', () => {
    const queues = documentQueuesByAggregate([
      doc(event('a1', 'A', 1)), doc(event('c1', 'C', 2)), doc(event('b1', 'B', 3), event('a2', 'A', 3)), doc(event('b2', 'B', 4)), doc(event('d1', 'D', 5)),
    ]);
    expect(queues.map((q) => q.map((d) => d.id))).toEqual([['a1', 'b1', 'b2'], ['c1'], ['d1']]);
  });
});

/** An in-memory outbox (one document per event unless given documents) and a bus that fails for chosen event ids. */
function memoryDeps(items: (StoredOutboxEvent | StoredOutboxDocument)[], failIds: Set<string>, nowMs: number) {
  const documents = items.map((item) => ('events' in item ? item : doc(item)));
  const published: string[] = [];
  const marks: { id: string; messageIds: readonly string[] }[] = [];
  const store: OutboxStore = {
    get: (_t, id) => Promise.resolve(documents.find((d) => d.id === id)),
    markPublished({ id }, at, messageIds) {
      const d = documents.find((x) => x.id === id);
      if (!d) return Promise.resolve('missing' as const);
      if (d.publishedAtMs !== null) return Promise.resolve('already' as const);
      d.publishedAtMs = at;
      for (const e of d.events) e.publishedAtMs = at;
      marks.push({ id, messageIds });
      return Promise.resolve('marked' as const);
    },
    findUnpublished: ({ createdBeforeMs, limit }) =>
      Promise.resolve(documents.filter((d) => d.publishedAtMs === null && d.createdAtMs < createdBeforeMs).sort((a, b) => a.createdAtMs - b.createdAtMs).slice(0, limit)),
    listEventsBetween: () => Promise.reject(new Error('not used here')),
    listEventsOfAggregate: () => Promise.reject(new Error('not used here')),
    carried: () => undefined,
  };
  const deps: OutboxDeps = {
    store, clock: { nowMs: () => nowMs }, encode: () => new Uint8Array(), traceSampled: () => true, publishConcurrencyMax: 4,
    bus: {
      publish(_topic, _data, attributes) {
        if (failIds.has(attributes.eventId!)) return Promise.reject(new Error('broker down'));
        published.push(attributes.eventId!);
        return Promise.resolve(`m-${attributes.eventId}`);
      },
    },
  };
  return { deps, published, marks };
}

describe('sweepOutbox', () => {
  it('takes only events older than the threshold, at most batchMax, oldest first', async () => {
    const events = [event('e3', 'C', 3_000), event('e1', 'A', 1_000), event('e2', 'B', 2_000), event('young', 'D', 9_500)];
    const { deps, published } = memoryDeps(events, new Set(), 10_000);
    const report = await sweepOutbox(deps, { olderThanMs: 1_000, batchMax: 2 });
    expect(report).toMatchObject({ found: 2, published: 2, failed: 0, oldestAgeMs: 9_000 });
    expect(published.sort()).toEqual(['e1', 'e2']);
  });

  it('stops an aggregate at its first failure so later events of that key are not published ahead', async () => {
    const events = [event('a1', 'A', 1), event('a2', 'A', 2), event('b1', 'B', 3)];
    const { deps, published } = memoryDeps(events, new Set(['a1']), 10_000);
    const report = await sweepOutbox(deps, { olderThanMs: 0, batchMax: 10 });
    expect(report).toMatchObject({ found: 3, published: 1, failed: 1, deferred: 1 });
    expect(report.firstError).toContain('broker down');
    expect(published).toEqual(['b1']);
    expect(events.find((e) => e.id === 'a1')!.publishedAtMs).toBeNull();
  });
});

describe('a document of several events (one commit)', () => {
  it('publishes each event as its own message in write order and marks the document once with every message id', async () => {
    const { deps, published, marks } = memoryDeps([doc(event('p1', 'P', 1), event('j1', 'J', 1), event('p2', 'P', 1))], new Set(), 10_000);
    const report = await sweepOutbox(deps, { olderThanMs: 0, batchMax: 10 });
    expect(report).toMatchObject({ documents: 1, found: 3, published: 3, failed: 0 });
    expect(published).toEqual(['p1', 'j1', 'p2']);
    expect(marks).toEqual([{ id: 'p1', messageIds: ['m-p1', 'm-j1', 'm-p2'] }]);
  });

  it('leaves the whole document unsent when one of its events fails, and defers later documents of any of its aggregates', async () => {
    const documents = [doc(event('p1', 'P', 1), event('j1', 'J', 1)), doc(event('j2', 'J', 2)), doc(event('x1', 'X', 3))];
    const { deps, published, marks } = memoryDeps(documents, new Set(['j1']), 10_000);
    const report = await sweepOutbox(deps, { olderThanMs: 0, batchMax: 10 });
    expect(report).toMatchObject({ documents: 3, found: 4, published: 1, failed: 2, deferred: 1 });
    // p1 went out before j1 failed: a retry publishes it again (a duplicate with the same id).
    expect(published.sort()).toEqual(['p1', 'x1']);
    expect(marks.map((m) => m.id)).toEqual(['x1']);
  });
});

describe('drainOutbox', () => {
  it('runs batches until a short one, within batchesMax', async () => {
    const events = Array.from({ length: 7 }, (_, i) => event(`e${i}`, `agg${i}`, i));
    const { deps } = memoryDeps(events, new Set(), 10_000);
    const progress: number[] = [];
    const report = await drainOutbox(deps, { batchMax: 3, batchesMax: 10 }, (r) => progress.push(r.published));
    expect(report).toMatchObject({ batches: 3, published: 7, complete: true });
    expect(progress).toEqual([3, 6, 7]);
  });

  it('stops when a batch publishes nothing (only failures left) instead of spinning', async () => {
    const events = [event('x', 'X', 1), event('y', 'Y', 2)];
    const { deps } = memoryDeps(events, new Set(['x', 'y']), 10_000);
    const report = await drainOutbox(deps, { batchMax: 2, batchesMax: 50 });
    expect(report).toMatchObject({ batches: 1, published: 0, failed: 2, complete: false });
  });
});
