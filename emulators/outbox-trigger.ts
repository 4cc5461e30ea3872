/**
 * Locally there is no Eventarc: this stands in for the `outboxRelay` Firestore trigger. It hands
 * each new unsent outbox document to the handler as a `google.cloud.firestore.document.v1.created`
 * CloudEvent with the same `subject` Eventarc sets (`documents/tenants/T/outbox/E`) and the same
 * data: the created document as a protobuf DocumentEventData (the content type of the deployed
 * trigger, terraform/), which the relay uses instead of reading the document (ADR 0027). The
 * client must read integers as bigint (`useBigInt`, as `createFirestore` does) so that integers and
 * doubles are encoded as the stored values are.
 *
 * It polls (ADR 0024): each poll reads only unsent documents created within the last `lookbackMs`
 * (`publishedAt == null`, `createdAt >=`), oldest first, in pages of `batchMax` (2,000). Measured on the
 * emulator, EVERY query on the outbox scans the whole collection (group), whatever its filters,
 * order or limit (about 13 ms with an empty outbox, 380-580 ms with 10,000 documents on this
 * machine; a get by id stays at a few ms): so a poll's cost grows with the outbox, and polling at
 * a fixed rate took an ever larger share of the emulator from the writes. Two bounds keep the
 * writes' share constant whatever the outbox holds:
 * - the poller's duty cycle: with `d` the least of the last polls' durations, the next poll starts
 *   after `max(pollIntervalMs, d * (1 - pollDutyMax) / pollDutyMax)` (at most `pollDelayMaxMs`,
 *   10 s), so polls take at most `pollDutyMax` of the time (10%), with an empty outbox and with a
 *   full one alike (up to about 1 s a scan); what grows with the outbox is the relay's lag
 *   (reported), not the writes' cost. The lag stays bounded under sustained writes: at most the
 *   scan that missed an event, the pause (capped), the next scan and the relays ahead of it;
 * - discovery and relaying are apart: a poll queues what it finds (at most `queueMax` waiting) and
 *   `inFlightMax` relays drain the queue continuously, so a burst found by one poll is relayed at
 *   the relays' pace instead of `inFlightMax` per poll.
 *
 * `createdAt` is the writer's clock taken before its transaction commits, so the window looks back
 * `lookbackMs` rather than only past the newest document seen; ids handed over are remembered until
 * they leave the window, so each document is handed over once. A failed relay is not retried here:
 * the document stays unsent and the sweeper (on its interval) publishes it, as it does for
 * documents older than the window (written while the stack was down, or waiting longer than the
 * window). Lag is visible: `stats()`, and `onLag` when the oldest queued document has waited more
 * than `lagWarnMs`.
 *
 * The Firestore emulator can push the same CloudEvent itself, with no query at all (started with
 * `--functions_emulator host:port` and a trigger registered at
 * `/emulator/v1/projects/P/eventarcTrigger`); ADR 0024 records that and why it is not used yet.
 */
import { randomUUID } from 'node:crypto';
import { Timestamp, type Firestore, type QueryDocumentSnapshot } from '@google-cloud/firestore';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { encodeDocumentEventData } from '../functions/src/adapters/firestore/document-event-data.js';

export interface OutboxPollReport {
  /** Query pages read (one `runQuery` each: each one scans the outbox on the emulator). */
  pages: number;
  /** Documents those pages returned. */
  documentsRead: number;
  /** Documents this poll queued for the relay (new ones only). */
  handed: number;
  /** How long the poll took, ms. */
  pollMs: number;
}

export interface OutboxTriggerStats {
  polls: number;
  /** Duration of the last poll and the delay chosen after it, ms. */
  lastPollMs: number;
  nextPollDelayMs: number;
  /** Documents the polls queued for the relay since the start (each once). */
  found: number;
  /** Documents waiting for a relay, relays running, and those done since the start. */
  queued: number;
  inFlight: number;
  relayed: number;
  failed: number;
  /** How long the oldest queued document has waited since its `createdAt`, ms (0 when none). */
  oldestQueuedAgeMs: number;
  /** `createdAt` to relay start of the last document relayed, ms. */
  lastLagMs: number;
}

export interface OutboxTrigger {
  /** One poll now, after the one running (if any): the timer's polls do the same. */
  poll(): Promise<OutboxPollReport>;
  stats(): OutboxTriggerStats;
  /** Stops polling and waits for the queued and running relays. */
  stop(): Promise<void>;
}

export interface OutboxTriggerOptions {
  db: Firestore;
  projectId: string;
  handler: (event: CloudEvent<unknown>) => Promise<void>;
  /** Most relays running at once. */
  inFlightMax?: number;
  /** Most documents queued for the relays; a poll that finds more leaves the rest (reported). */
  queueMax?: number;
  /** Shortest time between polls: an event is handed over within about this long of its commit. */
  pollIntervalMs?: number;
  /** Largest share of the time spent polling (0 < x <= 1), up to `pollDelayMaxMs` between polls. */
  pollDutyMax?: number;
  /** Longest time between polls, whatever a poll costs (beyond it the duty cycle gives way: lag is bounded). */
  pollDelayMaxMs?: number;
  /** How far back (by `createdAt`) a poll looks for unsent documents; older ones are the sweeper's. */
  lookbackMs?: number;
  /** Documents per page of a poll (each page is one scan of the outbox on the emulator). */
  batchMax?: number;
  /** Most pages one poll reads (bounds a poll at `pagesMax * batchMax` documents). */
  pagesMax?: number;
  /** A queued document older than this (since `createdAt`) is reported through `onLag`. */
  lagWarnMs?: number;
  /** The clock (tests move it). */
  nowMs?: () => number;
  onError?: (error: unknown) => void;
  onLag?: (stats: OutboxTriggerStats) => void;
}

/**
 * The delay before the next poll: at least `minIntervalMs`, and long enough that polling takes at
 * most `dutyMax` of the time whatever one poll costs.
 */
export function nextPollDelayMs(lastPollMs: number, minIntervalMs: number, dutyMax: number): number {
  if (!(dutyMax > 0 && dutyMax <= 1)) throw new Error('assertion failed: pollDutyMax must be in (0, 1]');
  return Math.max(minIntervalMs, Math.ceil((lastPollMs * (1 - dutyMax)) / dutyMax));
}

interface Queued { doc: QueryDocumentSnapshot; createdAtMs: number }

export function startOutboxTrigger(options: OutboxTriggerOptions): OutboxTrigger {
  const inFlightMax = options.inFlightMax ?? 32;
  const queueMax = options.queueMax ?? 10_000;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const pollDutyMax = options.pollDutyMax ?? 0.1;
  const lookbackMs = options.lookbackMs ?? 30_000;
  // Big pages: each page is a scan of the outbox on the emulator, whatever it returns, so a page
  // of 2,000 finds as much in one scan as twenty of 100 (at 10% duty and a 500 ms scan, up to
  // about 400 documents a second found).
  const batchMax = options.batchMax ?? 2_000;
  const pagesMax = options.pagesMax ?? 5;
  const lagWarnMs = options.lagWarnMs ?? 10_000;
  const pollDelayMaxMs = Math.max(pollIntervalMs, options.pollDelayMaxMs ?? 10_000);
  const recentPollsMax = 5;
  const recentPollMs: number[] = [];
  const nowMs = options.nowMs ?? Date.now;
  nextPollDelayMs(0, pollIntervalMs, pollDutyMax); // checks the bounds once, at start
  const queue: Queued[] = [];
  const running = new Set<Promise<void>>();
  /** Ids handed to the relay (queued or done), with their `createdAt` (ms): forgotten once out of the window. */
  const handed = new Map<string, number>();
  const stats: OutboxTriggerStats = { polls: 0, lastPollMs: 0, nextPollDelayMs: pollIntervalMs, found: 0, queued: 0, inFlight: 0, relayed: 0, failed: 0, oldestQueuedAgeMs: 0, lastLagMs: 0 };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const cloudEventOf = (doc: QueryDocumentSnapshot): CloudEvent<unknown> => ({
    specversion: '1.0',
    id: randomUUID(),
    type: 'google.cloud.firestore.document.v1.created',
    source: `//firestore.googleapis.com/projects/${options.projectId}/databases/(default)`,
    subject: `documents/${doc.ref.path}`,
    time: doc.createTime.toDate().toISOString(), // Eventarc's `time`: when the document was written
    datacontenttype: 'application/protobuf',
    // What Eventarc delivers: the created document as a protobuf DocumentEventData (terraform/).
    data: Buffer.from(encodeDocumentEventData({
      value: { name: `projects/${options.projectId}/databases/(default)/documents/${doc.ref.path}`, fields: doc.data(), createTime: doc.createTime, updateTime: doc.updateTime },
    })),
  });

  /** Starts relays from the queue while fewer than `inFlightMax` run; each one starts the next. */
  const pump = (): void => {
    while (running.size < inFlightMax && queue.length > 0) {
      const { doc, createdAtMs } = queue.shift()!;
      stats.lastLagMs = Math.max(0, nowMs() - createdAtMs);
      const run = options.handler(cloudEventOf(doc))
        .then(() => { stats.relayed++; }, (error: unknown) => { stats.failed++; options.onError?.(error); })
        .finally(() => { running.delete(run); pump(); });
      running.add(run);
    }
  };

  const snapshotStats = (): OutboxTriggerStats => {
    const oldest = queue[0];
    return { ...stats, queued: queue.length, inFlight: running.size, oldestQueuedAgeMs: oldest ? Math.max(0, nowMs() - oldest.createdAtMs) : 0 };
  };

  /**
   * One poll: pages through the unsent documents in the window, oldest first, queueing those not
   * handed over yet. Pages and the queue are bounded; hitting a bound is reported, and the rest
   * wait for the next poll (or the sweeper).
   */
  const pollWindow = async (): Promise<OutboxPollReport> => {
    const started = performance.now();
    const report: OutboxPollReport = { pages: 0, documentsRead: 0, handed: 0, pollMs: 0 };
    const finish = (): OutboxPollReport => {
      report.pollMs = Math.round(performance.now() - started);
      stats.polls++;
      stats.lastPollMs = report.pollMs;
      // The cost of a poll is the least of the recent ones: a one-off slow poll (a GC pause, a load
      // spike) does not stall the next for 9x its time, a scan that is slow every time does. The
      // first poll opens the client's channel and is left out.
      if (stats.polls > 1) recentPollMs.push(report.pollMs);
      if (recentPollMs.length > recentPollsMax) recentPollMs.shift();
      stats.nextPollDelayMs = Math.min(pollDelayMaxMs, nextPollDelayMs(recentPollMs.length === 0 ? 0 : Math.min(...recentPollMs), pollIntervalMs, pollDutyMax));
      const now = snapshotStats();
      if (now.oldestQueuedAgeMs > lagWarnMs) options.onLag?.(now);
      return report;
    };
    const sinceMs = nowMs() - lookbackMs;
    for (const [path, createdAtMs] of handed) if (createdAtMs < sinceMs) handed.delete(path);
    let query = options.db.collectionGroup('outbox')
      .where('publishedAt', '==', null)
      .where('createdAt', '>=', Timestamp.fromMillis(sinceMs))
      .orderBy('createdAt', 'asc')
      .limit(batchMax);
    for (let page = 0; !stopped; page++) {
      if (page === pagesMax) {
        options.onError?.(new Error(`outbox trigger: more than ${pagesMax * batchMax} unsent documents in the last ${lookbackMs} ms; the rest wait for the next poll or the sweeper`));
        return finish();
      }
      const snap = await query.get();
      report.pages++;
      report.documentsRead += snap.size;
      for (const doc of snap.docs) {
        if (handed.has(doc.ref.path)) continue;
        if (queue.length >= queueMax) {
          options.onError?.(new Error(`outbox trigger: ${queueMax} documents already queued for the relay; the rest wait for the next poll or the sweeper`));
          pump();
          return finish();
        }
        const createdAtMs = (doc.get('createdAt') as Timestamp).toMillis();
        handed.set(doc.ref.path, createdAtMs);
        queue.push({ doc, createdAtMs });
        report.handed++;
        stats.found++;
      }
      pump();
      if (snap.size < batchMax) return finish();
      query = query.startAfter(snap.docs.at(-1)!);
    }
    return finish();
  };
  /** Polls one at a time: a manual poll waits for the timer's. */
  const poll = (): Promise<OutboxPollReport> => {
    const next = polling.catch(() => undefined).then(pollWindow);
    polling = next.then(() => undefined, () => undefined);
    return next;
  };

  const loop = (): void => {
    poll()
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => { if (!stopped) timer = setTimeout(loop, stats.nextPollDelayMs); });
  };
  loop();

  return {
    poll,
    stats: snapshotStats,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      // Bounded: the queue holds at most queueMax documents and nothing adds to it any more.
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
