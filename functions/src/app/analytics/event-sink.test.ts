import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../platform/resilience/fake-clock.js';
import { MalformedEventError, type AnalyticsEvent, type AnalyticsEventStore, type PreparedEvent } from '../../ports/analytics-events.js';
import { createEventSink, SinkOverloadedError, type EventSinkOptions } from './event-sink.js';

const event = (id: string, payloadJson = '{}'): AnalyticsEvent => ({
  eventId: id, type: 'ledger.entry.posted', tenantId: 'ten_1', aggregateId: 'je_1', occurredAtMs: 1, traceId: '', spanId: '', payloadJson, messageId: 'm',
});

/** An in-memory store whose writes complete when the test says (the real one is tested on ClickHouse in test/analytics-sink.test.ts). */
function manualStore() {
  const writes: { ids: string[]; done: (error?: Error) => void }[] = [];
  const store: AnalyticsEventStore = {
    prepare(e) {
      if (e.payloadJson === 'bad') throw new MalformedEventError('bad');
      return { eventId: e.eventId, sizeBytes: e.payloadJson.length, rows: e };
    },
    insert: (events: readonly PreparedEvent[]) => new Promise<void>((resolve, reject) => {
      writes.push({ ids: events.map((x) => x.eventId), done: (error) => (error ? reject(error) : resolve()) });
    }),
  };
  return { store, writes };
}

const settled = async <T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> => {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return state;
};

function setup(overrides: Partial<EventSinkOptions> = {}) {
  const clock = createFakeClock({ startMs: 0 });
  const { store, writes } = manualStore();
  const sink = createEventSink({ store, timers: clock, batchRowsMax: 3, batchBytesMax: 1_000, batchAgeMs: 200, waitingEventsMax: 10, ...overrides });
  return { clock, sink, writes };
}

describe('analytics event sink: batches bounded by count, bytes and age; acked only once durable', () => {
  it('writes a full batch at once, and a call resolves only after its batch is durable', async () => {
    const { sink, writes } = setup();
    const calls = ['a', 'b', 'c'].map((id) => sink.accept(event(id)));
    expect(writes.map((w) => w.ids)).toEqual([['a', 'b', 'c']]);
    expect(await settled(calls[0]!)).toBe('pending');
    writes[0]!.done();
    await Promise.all(calls);
    expect(sink.stats()).toMatchObject({ waitingEvents: 0, batchesWritten: 1, eventsWritten: 3 });
  });

  it('writes a partial batch when its first event is batchAgeMs old, not before', async () => {
    const { sink, writes, clock } = setup();
    const call = sink.accept(event('a'));
    await clock.advance(199);
    expect(writes).toHaveLength(0);
    await clock.advance(1);
    expect(writes.map((w) => w.ids)).toEqual([['a']]);
    writes[0]!.done();
    await call;
  });

  it('starts a new batch rather than pass batchBytesMax', async () => {
    const { sink, writes, clock } = setup({ batchBytesMax: 10 });
    void sink.accept(event('a', '{"x":"1"}'));
    void sink.accept(event('b', '{"y":"2"}'));
    expect(writes.map((w) => w.ids)).toEqual([['a']]);
    await clock.advance(200);
    expect(writes.map((w) => w.ids)).toEqual([['a'], ['b']]);
  });

  it('a failed write rejects every call of its batch (each is redelivered), not the other batches', async () => {
    const { sink, writes } = setup({ batchRowsMax: 1 });
    const a = sink.accept(event('a'));
    const b = sink.accept(event('b'));
    writes[0]!.done(new Error('clickhouse down'));
    writes[1]!.done();
    await expect(a).rejects.toThrow('clickhouse down');
    await expect(b).resolves.toBeUndefined();
    expect(sink.stats()).toMatchObject({ waitingEvents: 0, writeFailures: 1, eventsWritten: 1 });
  });

  it('writes an event delivered twice into one batch once; both deliveries are answered', async () => {
    const { sink, writes } = setup();
    const calls = [sink.accept(event('a')), sink.accept(event('a')), sink.accept(event('b')), sink.accept(event('c'))];
    expect(writes[0]!.ids).toEqual(['a', 'b', 'c']);
    writes[0]!.done();
    await Promise.all(calls);
  });

  it('refuses a delivery beyond waitingEventsMax at once (bounded memory) and takes new ones once space frees', async () => {
    const { sink, writes } = setup({ waitingEventsMax: 4, batchRowsMax: 2, flushesInFlightMax: 1 });
    const held = ['a', 'b', 'c', 'd'].map((id) => sink.accept(event(id)));
    await expect(sink.accept(event('e'))).rejects.toThrow(SinkOverloadedError);
    // One write at a time: the second batch waits for the first.
    expect(writes).toHaveLength(1);
    writes[0]!.done();
    await Promise.all(held.slice(0, 2));
    expect(writes).toHaveLength(2);
    writes[1]!.done();
    await Promise.all(held);
    const later = sink.accept(event('f'));
    expect(sink.stats().waitingEvents).toBe(1);
    void later;
  });

  it('throws a malformed event at the caller alone, holding nothing', () => {
    const { sink } = setup();
    expect(() => sink.accept(event('x', 'bad'))).toThrow(MalformedEventError);
    expect(sink.stats().waitingEvents).toBe(0);
  });

  it('flush() writes what is gathering now and resolves when nothing is left in flight', async () => {
    const { sink, writes } = setup();
    const call = sink.accept(event('a'));
    const flushed = sink.flush();
    expect(writes).toHaveLength(1);
    writes[0]!.done();
    await flushed;
    await call;
  });
});
