/**
 * The analytics sink (issue 13 item 3, ADR 0029): domain events delivered one per call (a Pub/Sub
 * push request, or a message of the local bridge) are gathered into batches bounded by count,
 * bytes and age, and each call resolves only once its event's batch is durable in the store; so
 * the delivery is acknowledged after the write and never before. A failed write rejects every call
 * of its batch: each message is redelivered and written again (idempotent by event id).
 *
 * Bounds: `batchRowsMax` events or `batchBytesMax` bytes per batch, `batchAgeMs` from a batch's
 * first event to its write, `flushesInFlightMax` writes at once, `waitingEventsMax` events held in
 * all. Beyond the last, a call is refused at once with `SinkOverloadedError` (the message is
 * redelivered later, after the subscription's backoff): memory stays bounded whatever arrives.
 */
import type { TimerClock } from '../../platform/resilience/clock.js';
import type { AnalyticsEvent, AnalyticsEventStore, PreparedEvent } from '../../ports/analytics-events.js';

export class SinkOverloadedError extends Error {
  override readonly name = 'SinkOverloadedError';
}

export interface EventSinkOptions {
  store: AnalyticsEventStore;
  timers: TimerClock;
  batchRowsMax: number;
  batchBytesMax: number;
  batchAgeMs: number;
  waitingEventsMax: number;
  /** Batches written at once (default 4). */
  flushesInFlightMax?: number;
  /** Called after each batch is durable and before its calls resolve (tests inject a crash here). */
  afterWrite?: (events: readonly PreparedEvent[]) => void | Promise<void>;
}

export interface SinkStats {
  /** Events in batches not yet durable (gathering, sealed or being written). */
  waitingEvents: number;
  batchesWritten: number;
  eventsWritten: number;
  writeFailures: number;
}

export interface EventSink {
  /** Resolves once the event is durable; rejects when its batch failed (retry the delivery). */
  accept(event: AnalyticsEvent): Promise<void>;
  /** Writes what is gathering now, without waiting for the age bound. */
  flush(): Promise<void>;
  stats(): SinkStats;
}

interface Waiter { resolve(): void; reject(error: unknown): void }
interface Batch { events: Map<string, PreparedEvent>; waiters: Waiter[]; bytes: number; cancelTimer: (() => void) | undefined }

export function createEventSink(options: EventSinkOptions): EventSink {
  const flushesMax = options.flushesInFlightMax ?? 4;
  if (!(options.batchRowsMax >= 1 && options.batchBytesMax >= 1 && options.batchAgeMs >= 0 && options.waitingEventsMax >= 1 && flushesMax >= 1)) {
    throw new Error('assertion failed: event sink bounds must be positive');
  }
  let gathering: Batch | undefined;
  const sealed: Batch[] = [];
  let flushing = 0;
  const stats: SinkStats = { waitingEvents: 0, batchesWritten: 0, eventsWritten: 0, writeFailures: 0 };
  const idle: (() => void)[] = [];

  const seal = (): void => {
    if (!gathering) return;
    gathering.cancelTimer?.();
    sealed.push(gathering);
    gathering = undefined;
    pump();
  };

  function pump(): void {
    while (flushing < flushesMax && sealed.length > 0) {
      const batch = sealed.shift()!;
      flushing += 1;
      void write(batch).finally(() => {
        flushing -= 1;
        pump();
        if (flushing === 0 && sealed.length === 0 && !gathering) for (const done of idle.splice(0)) done();
      });
    }
  }

  async function write(batch: Batch): Promise<void> {
    const events = [...batch.events.values()];
    try {
      await options.store.insert(events);
      await options.afterWrite?.(events);
      stats.batchesWritten += 1;
      stats.eventsWritten += events.length;
      for (const w of batch.waiters) w.resolve();
    } catch (error) {
      stats.writeFailures += 1;
      for (const w of batch.waiters) w.reject(error);
    } finally {
      stats.waitingEvents -= batch.waiters.length;
    }
  }

  return {
    accept(event) {
      // Refused before anything is held: a malformed event throws here, alone, not in a batch.
      const prepared = options.store.prepare(event);
      if (stats.waitingEvents >= options.waitingEventsMax) {
        return Promise.reject(new SinkOverloadedError(`analytics sink: ${stats.waitingEvents} events waiting (TALLY_ANALYTICS_WAITING_EVENTS_MAX); redeliver later`));
      }
      // An event that would take the batch past its byte bound starts the next batch.
      if (gathering && gathering.events.size > 0 && gathering.bytes + prepared.sizeBytes > options.batchBytesMax) seal();
      const batch: Batch = (gathering ??= { events: new Map<string, PreparedEvent>(), waiters: [] as Waiter[], bytes: 0, cancelTimer: undefined });
      return new Promise<void>((resolve, reject) => {
        stats.waitingEvents += 1;
        batch.waiters.push({ resolve, reject });
        // The same event delivered twice at once (a duplicated publish) is written once; both calls wait for it.
        if (!batch.events.has(prepared.eventId)) {
          batch.events.set(prepared.eventId, prepared);
          batch.bytes += prepared.sizeBytes;
        }
        if (batch.events.size >= options.batchRowsMax || batch.bytes >= options.batchBytesMax) seal();
        else if (batch.cancelTimer === undefined) batch.cancelTimer = options.timers.setTimer(() => { if (gathering === batch) seal(); }, options.batchAgeMs);
      });
    },
    flush() {
      seal();
      if (flushing === 0 && sealed.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
    stats: () => ({ ...stats }),
  };
}
