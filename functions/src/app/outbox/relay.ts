/**
 * The transactional-outbox relay (ADR 0010). Every state change writes an event document in its own
 * transaction; these use cases publish such documents to `domain-events` and mark them sent:
 * - `relayOutboxEvent`: one document, on its creation trigger (`outboxRelay`);
 * - `sweepOutbox`: one bounded batch of events older than a threshold still unsent, for triggers
 *   that were lost (`outboxSweeper`);
 * - `drainOutbox`: bounded batches until nothing is left (`tally outbox drain`).
 * Delivery is at least once: a publish followed by a failed mark, or a relay racing the sweeper,
 * publishes twice with the same event id (consumers dedupe by it); the mark is written once.
 * A failed publish throws (or is counted) and leaves the document unsent for the next attempt.
 */
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { OutboxStore, StoredOutboxEvent } from '../../ports/outbox-store.js';
import { domainEventsTopic, messageAttributes, queuesByAggregate, traceparentOf } from './outbox-message.js';

export interface OutboxDeps {
  store: OutboxStore;
  bus: EventBus;
  clock: Clock;
  /** Encodes the published envelope (`tally.events.v1.DomainEvent`, binary protobuf). */
  encode(event: StoredOutboxEvent): Uint8Array;
  /**
   * The W3C sampled flag for a trace id. The document keeps the trace and span ids but not the
   * flag; the API's root sampler decides by trace id ratio, so the same rule recovers it.
   */
  traceSampled(traceId: string): boolean;
  /** Queues (aggregates) of one batch published at once. */
  publishConcurrencyMax: number;
}

export type PublishResult = { messageId: string; mark: 'marked' | 'already' | 'missing' };

/** Publishes one event (ordering key = aggregate id), then marks it sent. Throws if the publish fails. */
export async function publishOutboxEvent(deps: OutboxDeps, event: StoredOutboxEvent): Promise<PublishResult> {
  const attributes = messageAttributes(event, traceparentOf(event.traceId, event.spanId, deps.traceSampled(event.traceId)));
  const messageId = await deps.bus.publish(domainEventsTopic, deps.encode(event), attributes, event.aggregateId === '' ? undefined : event.aggregateId);
  const mark = await deps.store.markPublished(event.tenantId, event.id, deps.clock.nowMs(), messageId);
  return { messageId, mark };
}

export type RelayResult =
  | { outcome: 'published'; messageId: string; mark: PublishResult['mark'] }
  | { outcome: 'already_published' | 'missing' };

/**
 * Relays one outbox document: re-reads it (the trigger is only a pointer), publishes it unless it
 * is marked sent already, and marks it. Throws when the publish fails, so the trigger retries.
 */
export async function relayOutboxEvent(deps: OutboxDeps, tenantId: string, eventId: string): Promise<RelayResult> {
  const event = await deps.store.get(tenantId, eventId);
  if (!event) return { outcome: 'missing' };
  if (event.publishedAtMs !== null) return { outcome: 'already_published' };
  const { messageId, mark } = await publishOutboxEvent(deps, event);
  return { outcome: 'published', messageId, mark };
}

export interface SweepOptions {
  /** Only events at least this old: younger ones are still in their trigger's hands. */
  olderThanMs: number;
  /** Most events in the batch. */
  batchMax: number;
  /** One tenant, or all of them. */
  tenantId?: string;
}

export interface SweepReport {
  /** Unsent events the batch found (<= batchMax). */
  found: number;
  /** Published and marked by this sweep. */
  published: number;
  /** Published, but another relay had marked them meanwhile (a duplicate message went out). */
  duplicates: number;
  /** Publish or mark failed; left unsent for the next run. */
  failed: number;
  /** Not attempted because an earlier event of the same aggregate failed (keeps per-key order). */
  deferred: number;
  /** Age of the oldest event found, ms (0 when none). */
  oldestAgeMs: number;
  /** The first failure, for the log. */
  firstError?: string;
}

/** One bounded batch: unsent events older than the threshold, oldest first, per aggregate in order. */
export async function sweepOutbox(deps: OutboxDeps, options: SweepOptions, onEvent?: (event: StoredOutboxEvent, ok: boolean) => void): Promise<SweepReport> {
  const nowMs = deps.clock.nowMs();
  const events = await deps.store.findUnpublished({
    createdBeforeMs: nowMs - options.olderThanMs, limit: options.batchMax,
    ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
  });
  const report: SweepReport = { found: events.length, published: 0, duplicates: 0, failed: 0, deferred: 0, oldestAgeMs: events[0] ? nowMs - events[0].createdAtMs : 0 };
  const queues = queuesByAggregate(events);
  let next = 0;
  const worker = async (): Promise<void> => {
    // Bounded: each worker takes queues until none is left; there are at most batchMax queues.
    while (next < queues.length) {
      const queue = queues[next++]!;
      for (const [i, event] of queue.entries()) {
        try {
          const { mark } = await publishOutboxEvent(deps, event);
          if (mark === 'marked') report.published++;
          else report.duplicates++;
          onEvent?.(event, true);
        } catch (error) {
          report.failed++;
          report.deferred += queue.length - i - 1;
          report.firstError ??= `${event.tenantId}/${event.id}: ${(error as Error).message}`;
          onEvent?.(event, false);
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.publishConcurrencyMax, queues.length) }, worker));
  return report;
}

export interface DrainOptions {
  tenantId?: string;
  batchMax: number;
  /** Most batches: bounds the run even if events keep arriving. */
  batchesMax: number;
}

export interface DrainReport {
  batches: number;
  found: number;
  published: number;
  duplicates: number;
  failed: number;
  deferred: number;
  /** True when the last batch came back short: nothing unsent was left (as of that batch). */
  complete: boolean;
  firstError?: string;
}

/**
 * Publishes every unsent event now, whatever its age, in bounded batches. Stops when a batch comes
 * back short (done), when a batch publishes nothing (only failures left: retrying now would spin),
 * or after `batchesMax` batches.
 */
export async function drainOutbox(deps: OutboxDeps, options: DrainOptions, onBatch?: (report: DrainReport) => void): Promise<DrainReport> {
  const total: DrainReport = { batches: 0, found: 0, published: 0, duplicates: 0, failed: 0, deferred: 0, complete: false };
  while (total.batches < options.batchesMax) {
    // olderThanMs -1: events created in this very millisecond are included too.
    const batch = await sweepOutbox(deps, { olderThanMs: -1, batchMax: options.batchMax, ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }) });
    total.batches++;
    total.found += batch.found;
    total.published += batch.published;
    total.duplicates += batch.duplicates;
    total.failed += batch.failed;
    total.deferred += batch.deferred;
    total.firstError ??= batch.firstError;
    if (batch.found < options.batchMax) total.complete = batch.failed === 0 && batch.deferred === 0;
    onBatch?.({ ...total });
    if (batch.found < options.batchMax || batch.published + batch.duplicates === 0) break;
  }
  return total;
}
