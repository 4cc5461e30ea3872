/**
 * `tally events replay`: re-publishes outbox events of a time range from the outbox, the durable
 * log (ADR 0030). The messages are the relay's, byte for byte (same envelope, same event id, same
 * ordering key and attributes), plus `tallyReplaySource=outbox` and, for one consumer, the
 * `tallyReplayTarget` naming its subscription. Consumers dedupe by event id, so a replay never
 * double-counts; the documents are not touched (a replay is not a relay: nothing is marked).
 */
import type { OutboxDeps } from '../outbox/relay.js';
import { messageAttributes, queuesByAggregate, traceparentOf } from '../outbox/outbox-message.js';
import type { StoredOutboxEvent } from '../../ports/outbox-store.js';
import { domainEventsTopic } from '../outbox/outbox-message.js';
import { replaySourceAttribute, replayTargetAttribute } from './replay-target.js';

export type ReplayDeps = Pick<OutboxDeps, 'store' | 'bus' | 'encode' | 'traceSampled' | 'publishConcurrencyMax'>;

export interface OutboxReplayOptions {
  /** Inclusive, ms since the epoch, by the outbox document's creation time. */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  tenantId?: string;
  /** Only events of this type (filtered as pages are read: the read cost is the range's). */
  type?: string;
  /** The one subscription the replay is for; undefined: every consumer of `domain-events`. */
  targetSubscription?: string;
  /** Events read per page. */
  pageSize: number;
  /** Most pages this run: a bound that is hit leaves `complete` false and a `resumeCursor`. */
  pagesMax: number;
  /** Resume after a previous run's `resumeCursor`. */
  cursor?: string;
}

export interface OutboxReplayReport {
  pages: number;
  /** Events read in the range (before the type filter). */
  read: number;
  /** Events published (matching the filter). */
  published: number;
  failed: number;
  /** True when the range was read to its end. */
  complete: boolean;
  /** Where to resume (`--after`) when the page bound stopped the run. */
  resumeCursor: string | null;
  /** createdAt of the last event read, ISO, for progress. */
  lastEventAt: string | null;
  firstError?: string;
}

/** The attributes of a replayed outbox event: the relay's, plus where it comes from and whom it is for. */
export function replayAttributes(deps: Pick<ReplayDeps, 'traceSampled'>, event: StoredOutboxEvent, targetSubscription: string | undefined): Record<string, string> {
  return {
    ...messageAttributes(event, traceparentOf(event.traceId, event.spanId, deps.traceSampled(event.traceId))),
    [replaySourceAttribute]: 'outbox',
    ...(targetSubscription === undefined ? {} : { [replayTargetAttribute]: targetSubscription }),
  };
}

/**
 * Replays the range page by page; each page's events are published per aggregate in order, the
 * aggregates `publishConcurrencyMax` at a time. A failed publish is counted and the rest of its
 * aggregate's events in the page are skipped (counted failed too), so order per aggregate holds.
 */
export async function replayOutbox(deps: ReplayDeps, options: OutboxReplayOptions, onPage?: (report: OutboxReplayReport) => void): Promise<OutboxReplayReport> {
  if (!(options.fromMs < options.toMs)) throw new Error('assertion failed: replay range must not be empty');
  const report: OutboxReplayReport = { pages: 0, read: 0, published: 0, failed: 0, complete: false, resumeCursor: null, lastEventAt: null };
  let cursor = options.cursor;
  while (report.pages < options.pagesMax) {
    const page = await deps.store.listEventsBetween({
      fromMs: options.fromMs, toMs: options.toMs, limit: options.pageSize,
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    report.pages++;
    report.read += page.events.length;
    const last = page.events.at(-1);
    if (last) report.lastEventAt = new Date(last.createdAtMs).toISOString();
    const selected = options.type === undefined ? page.events : page.events.filter((e) => e.type === options.type);
    await publishPage(deps, selected, options.targetSubscription, report);
    cursor = page.nextCursor;
    report.resumeCursor = cursor ?? null;
    if (cursor === undefined) report.complete = true;
    onPage?.({ ...report });
    if (cursor === undefined) break;
  }
  return report;
}

async function publishPage(deps: ReplayDeps, events: readonly StoredOutboxEvent[], target: string | undefined, report: OutboxReplayReport): Promise<void> {
  const queues = queuesByAggregate(events);
  let next = 0;
  const worker = async (): Promise<void> => {
    // Bounded: each worker takes queues until none is left (at most one per event of the page).
    while (next < queues.length) {
      const queue = queues[next++]!;
      for (const [i, event] of queue.entries()) {
        try {
          await deps.bus.publish(domainEventsTopic, deps.encode(event), replayAttributes(deps, event, target), event.aggregateId === '' ? undefined : event.aggregateId);
          report.published++;
        } catch (error) {
          report.failed += queue.length - i;
          report.firstError ??= `${event.tenantId}/${event.id}: ${(error as Error).message}`;
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.publishConcurrencyMax, queues.length) }, worker));
}
