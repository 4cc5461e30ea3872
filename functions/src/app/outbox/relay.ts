/**
 * The transactional-outbox relay (ADR 0010, 0027). Every state change writes its events as one
 * outbox document in its own transaction; these use cases publish each event of such documents to
 * `domain-events` (one message per event) and mark the document sent:
 * - `relayOutboxDocument`: one document, on its creation trigger (`outboxRelay`);
 * - `sweepOutbox`: one bounded batch of documents older than a threshold still unsent, for triggers
 *   that were lost (`outboxSweeper`);
 * - `drainOutbox`: bounded batches until nothing is left (`tally outbox drain`).
 * Delivery is at least once: a publish followed by a failed mark, or a relay racing the sweeper,
 * publishes twice with the same event id (consumers dedupe by it); the mark is written once.
 * A failed publish throws (or is counted) and leaves the document unsent for the next attempt.
 */
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { OutboxStore, StoredOutboxDocument, StoredOutboxEvent } from '../../ports/outbox-store.js';
import { domainEventsTopic, messageAttributes, documentQueuesByAggregate, traceparentOf } from './outbox-message.js';

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

export type PublishResult = { messageIds: string[]; mark: 'marked' | 'already' | 'missing' };

/**
 * Publishes a document's events, one message each, in write order (ordering key = aggregate id),
 * then marks the document sent. Throws if a publish fails: the document stays unsent and a retry
 * publishes all of it again (the ones already out become duplicates with the same event ids).
 */
export async function publishOutboxDocument(deps: OutboxDeps, document: StoredOutboxDocument): Promise<PublishResult> {
  const messageIds: string[] = [];
  // In order, one at a time: a document's events are one commit's, usually of one aggregate.
  for (const event of document.events) {
    const attributes = messageAttributes(event, traceparentOf(event.traceId, event.spanId, deps.traceSampled(event.traceId)));
    messageIds.push(await deps.bus.publish(domainEventsTopic, deps.encode(event), attributes, event.aggregateId === '' ? undefined : event.aggregateId));
  }
  const mark = await deps.store.markPublished(document, deps.clock.nowMs(), messageIds);
  return { messageIds, mark };
}

export type RelayResult =
  | { outcome: 'published'; events: number; messageIds: string[]; mark: PublishResult['mark'] }
  | { outcome: 'already_published' | 'missing' };

/**
 * Relays one outbox document. `carried` is the document as its trigger delivered it (the deployed
 * Firestore trigger carries it): used as is, with no read, and marked with a conditional write on
 * the version it carries. Without it the document is read first. Publishes unless it is marked
 * sent already, and marks it. Throws when a publish fails, so the trigger retries.
 */
export async function relayOutboxDocument(deps: OutboxDeps, tenantId: string, documentId: string, carried?: StoredOutboxDocument): Promise<RelayResult> {
  const document = carried ?? await deps.store.get(tenantId, documentId);
  if (!document) return { outcome: 'missing' };
  if (document.publishedAtMs !== null) return { outcome: 'already_published' };
  const { messageIds, mark } = await publishOutboxDocument(deps, document);
  return { outcome: 'published', events: document.events.length, messageIds, mark };
}

export interface SweepOptions {
  /** Only documents at least this old: younger ones are still in their trigger's hands. */
  olderThanMs: number;
  /** Most outbox documents in the batch. */
  batchMax: number;
  /** One tenant, or all of them. */
  tenantId?: string;
}

export interface SweepReport {
  /** Unsent outbox documents the batch found (<= batchMax); each holds one commit's events. */
  documents: number;
  /** Unsent events in them. */
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

/** One bounded batch: unsent documents older than the threshold, oldest first, per aggregate in order. */
export async function sweepOutbox(deps: OutboxDeps, options: SweepOptions, onEvent?: (event: StoredOutboxEvent, ok: boolean) => void): Promise<SweepReport> {
  const nowMs = deps.clock.nowMs();
  const documents = await deps.store.findUnpublished({
    createdBeforeMs: nowMs - options.olderThanMs, limit: options.batchMax,
    ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
  });
  const report: SweepReport = {
    documents: documents.length, found: documents.reduce((n, d) => n + d.events.length, 0),
    published: 0, duplicates: 0, failed: 0, deferred: 0, oldestAgeMs: documents[0] ? nowMs - documents[0].createdAtMs : 0,
  };
  const queues = documentQueuesByAggregate(documents);
  let next = 0;
  const worker = async (): Promise<void> => {
    // Bounded: each worker takes queues until none is left; there are at most batchMax queues.
    while (next < queues.length) {
      const queue = queues[next++]!;
      for (const [i, document] of queue.entries()) {
        try {
          const { mark } = await publishOutboxDocument(deps, document);
          if (mark === 'marked') report.published += document.events.length;
          else report.duplicates += document.events.length;
          for (const event of document.events) onEvent?.(event, true);
        } catch (error) {
          report.failed += document.events.length;
          report.deferred += queue.slice(i + 1).reduce((n, d) => n + d.events.length, 0);
          report.firstError ??= `${document.tenantId}/${document.id}: ${(error as Error).message}`;
          for (const event of document.events) onEvent?.(event, false);
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
    if (batch.documents < options.batchMax) total.complete = batch.failed === 0 && batch.deferred === 0;
    onBatch?.({ ...total });
    if (batch.documents < options.batchMax || batch.published + batch.duplicates === 0) break;
  }
  return total;
}
