/**
 * Locally there is no Eventarc: this stands in for the `outboxRelay` Firestore trigger. It hands
 * each new unsent outbox document to the handler as a `google.cloud.firestore.document.v1.created`
 * CloudEvent with the same `subject` Eventarc sets (`documents/tenants/T/outbox/E`) and the same
 * data: the created document as a protobuf DocumentEventData (the content type of the deployed
 * trigger, terraform/), which the relay uses instead of reading the document (ADR 0027). The
 * client must read integers as bigint (`useBigInt`, as `createFirestore` does) so that integers and
 * doubles are encoded as the stored values are.
 *
 * It polls instead of listening (ADR 0024): the Firestore emulator re-evaluates a snapshot
 * listener's query against the whole collection group on every commit, so a collection-group
 * listener on `outbox` made every ledger write cost more as the outbox grew (96 -> 10 entries a
 * second by 5,500 entries). Each poll reads only unsent documents created within the last
 * `lookbackMs` (`publishedAt == null`, `createdAt >=`), oldest first, at most `batchMax`: its cost
 * follows the events waiting, never the events already sent, and writes pay nothing for it.
 * `createdAt` is the writer's clock taken before its transaction commits, so the window looks back
 * `lookbackMs` rather than only past the newest document seen; ids handed over are remembered
 * until they leave the window, so each document is handed over once.
 *
 * A failed relay is not retried here: the document stays unsent and the sweeper (on its interval)
 * publishes it, as it does for documents older than the window (written while the stack was down,
 * or by a transaction that took longer than `lookbackMs`). At most `inFlightMax` relays run at
 * once; documents beyond that wait for a later poll.
 */
import { randomUUID } from 'node:crypto';
import { Timestamp, type Firestore, type QueryDocumentSnapshot } from '@google-cloud/firestore';
import { encodeDocumentEventData } from '../functions/src/adapters/firestore/document-event-data.js';
import type { CloudEvent } from '@google-cloud/functions-framework';

export interface OutboxPollReport {
  /** Query pages read (one `runQuery` each). */
  pages: number;
  /** Documents those pages returned. */
  documentsRead: number;
  /** Documents handed to the handler by this poll. */
  handed: number;
}

export interface OutboxTrigger {
  /** One poll now, after the one running (if any): the timer's polls do the same. */
  poll(): Promise<OutboxPollReport>;
  stop(): Promise<void>;
}

export interface OutboxTriggerOptions {
  db: Firestore;
  projectId: string;
  handler: (event: CloudEvent<unknown>) => Promise<void>;
  /** Most relays running at once. */
  inFlightMax?: number;
  /** Time between polls: an event is handed over within about this long of its commit. */
  pollIntervalMs?: number;
  /** How far back (by `createdAt`) a poll looks for unsent documents; older ones are the sweeper's. */
  lookbackMs?: number;
  /** Documents per page of a poll. */
  batchMax?: number;
  /** Most pages one poll reads (bounds a poll at `pagesMax * batchMax` documents). */
  pagesMax?: number;
  /** The clock (tests move it). */
  nowMs?: () => number;
  onError?: (error: unknown) => void;
}

export function startOutboxTrigger(options: OutboxTriggerOptions): OutboxTrigger {
  const inFlightMax = options.inFlightMax ?? 32;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const lookbackMs = options.lookbackMs ?? 30_000;
  const batchMax = options.batchMax ?? 100;
  const pagesMax = options.pagesMax ?? 10;
  const nowMs = options.nowMs ?? Date.now;
  const running = new Set<Promise<void>>();
  /** Ids handed to the handler, with their `createdAt` (ms): forgotten once out of the window. */
  const handed = new Map<string, number>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const hand = (doc: QueryDocumentSnapshot): void => {
    const path = doc.ref.path;
    // What Eventarc delivers: the created document as a protobuf DocumentEventData (terraform/).
    const data = Buffer.from(encodeDocumentEventData({
      value: { name: `projects/${options.projectId}/databases/(default)/documents/${path}`, fields: doc.data(), createTime: doc.createTime, updateTime: doc.updateTime },
    }));
    const event: CloudEvent<unknown> = {
      specversion: '1.0',
      id: randomUUID(),
      type: 'google.cloud.firestore.document.v1.created',
      source: `//firestore.googleapis.com/projects/${options.projectId}/databases/(default)`,
      subject: `documents/${path}`,
      time: doc.createTime.toDate().toISOString(), // Eventarc's `time`: when the document was written
      datacontenttype: 'application/protobuf',
      data,
    };
    handed.set(path, (doc.get('createdAt') as Timestamp).toMillis());
    const run = options.handler(event).catch((error: unknown) => options.onError?.(error)).finally(() => running.delete(run));
    running.add(run);
  };

  /**
   * One poll: pages through the unsent documents in the window, oldest first, handing over those
   * not handed over yet. Pages are bounded (`pagesMax`); hitting the bound is reported, and the rest
   * wait for the next poll.
   */
  const pollWindow = async (): Promise<OutboxPollReport> => {
    const report: OutboxPollReport = { pages: 0, documentsRead: 0, handed: 0 };
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
        return report;
      }
      const snap = await query.get();
      report.pages++;
      report.documentsRead += snap.size;
      for (const doc of snap.docs) {
        if (stopped || running.size >= inFlightMax) return report; // the rest on the next poll
        if (handed.has(doc.ref.path)) continue;
        hand(doc);
        report.handed++;
      }
      if (snap.size < batchMax) return report;
      query = query.startAfter(snap.docs.at(-1)!);
    }
    return report;
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
      .finally(() => { if (!stopped) timer = setTimeout(loop, pollIntervalMs); });
  };
  loop();

  return {
    poll,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      await Promise.allSettled([...running]);
    },
  };
}
