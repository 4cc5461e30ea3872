/**
 * `tally events dlq list|replay` (ADR 0030). A subscription that gave up on a message (its
 * dead-letter policy's `maxDeliveryAttempts`) sends it to its dead-letter topic; a pull
 * subscription there (the hold) keeps it. Listing leases what it reads and hands it back
 * untouched; replaying publishes each message again to the topic of the subscription it came from
 * (Pub/Sub's `CloudPubSubDeadLetterSourceSubscription` attribute), aimed at that subscription only
 * (`tallyReplayTarget`), then acks it on the hold. Publish before ack: a crash in between replays
 * the message twice, which idempotent consumers absorb; the other order could lose it.
 */
import { TallyError } from '../../domain/errors.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { DeadLetterMessage, DeadLetterQueues, DeadLetterRoute } from '../../ports/dead-letter-queues.js';
import { deadLetterAttributes, replayedDeadLetterAttributes } from './replay-target.js';

export interface DeadLetterDeps {
  queues: DeadLetterQueues;
  bus: EventBus;
}

/** Messages pulled per request. */
const pullPageMax = 100;
/** A pull that brings nothing new this many times in a row ends the reading of a hold. */
const emptyPullsMax = 2;
/** The lease of what is being listed or replayed: long enough for a page's publishes. */
const leaseSeconds = 120;
/** Messages one run reads from one hold at most (others' included): beyond it the run stops, incomplete. */
const seenPerHoldMax = 100_000;

export interface DeadLetterRouteView {
  sourceSubscription: string;
  sourceTopic: string;
  deadLetterTopic: string;
  /** The hold read (null: no pull subscription on the dead-letter topic: its messages are dropped). */
  holdSubscription: string | null;
  maxDeliveryAttempts: number;
}

export interface DeadLetterView {
  sourceSubscription: string;
  holdSubscription: string;
  messageId: string;
  /** The domain event's attributes when it is one (empty otherwise). */
  eventId: string;
  type: string;
  tenantId: string;
  /** Delivery attempts before it was dead-lettered. */
  deliveryCount: number;
  /** When it was first published to its source topic, ISO. */
  firstPublishedAt: string;
  /** When it was dead-lettered, ISO. */
  deadLetteredAt: string;
  bytes: number;
}

/** The hold to read for a route: a `*-hold` subscription if there is one, else the first. */
function holdOf(route: DeadLetterRoute): string | null {
  return route.holdSubscriptions.find((s) => s.endsWith('-hold')) ?? route.holdSubscriptions[0] ?? null;
}

async function selectedRoutes(deps: DeadLetterDeps, subscription: string | undefined): Promise<DeadLetterRoute[]> {
  const routes = await deps.queues.routes();
  if (subscription === undefined) return routes;
  const selected = routes.filter((r) => r.sourceSubscription === subscription);
  if (selected.length === 0) {
    throw new TallyError('NOT_FOUND', `no subscription ${subscription} with a dead-letter policy (known: ${routes.map((r) => r.sourceSubscription).join(', ') || 'none'})`, { field: 'subscription' });
  }
  return selected;
}

function view(route: DeadLetterRoute): DeadLetterRouteView {
  return { sourceSubscription: route.sourceSubscription, sourceTopic: route.sourceTopic, deadLetterTopic: route.deadLetterTopic, holdSubscription: holdOf(route), maxDeliveryAttempts: route.maxDeliveryAttempts };
}

function messageView(hold: string, m: DeadLetterMessage): DeadLetterView {
  const a = m.attributes;
  return {
    sourceSubscription: a[deadLetterAttributes.sourceSubscription] ?? '', holdSubscription: hold, messageId: m.messageId,
    eventId: a.eventId ?? '', type: a.type ?? '', tenantId: a.tenantId ?? '',
    deliveryCount: Number(a[deadLetterAttributes.sourceDeliveryCount] ?? 0), firstPublishedAt: a[deadLetterAttributes.sourceTopicPublishTime] ?? '',
    deadLetteredAt: new Date(m.publishTimeMs).toISOString(), bytes: m.data.byteLength,
  };
}

/** The holds of the routes (several routes may share a dead-letter topic, hence a hold). */
function holdsOf(routes: readonly DeadLetterRoute[]): string[] {
  return [...new Set(routes.map(holdOf).filter((h): h is string => h !== null))];
}

export interface DeadLetterListing {
  routes: DeadLetterRouteView[];
  messages: DeadLetterView[];
  /** False when `max` stopped the listing before the holds were read to their end. */
  complete: boolean;
}

/**
 * Lists dead letters (at most `max`) of the selected source subscriptions, without consuming them:
 * everything read stays leased until the end (so that no message is read twice), then is handed back.
 */
export async function listDeadLetters(deps: DeadLetterDeps, options: { subscription?: string; max: number }): Promise<DeadLetterListing> {
  const routes = await selectedRoutes(deps, options.subscription);
  const sources = new Set(routes.map((r) => r.sourceSubscription));
  const messages: DeadLetterView[] = [];
  let complete = true;
  for (const hold of holdsOf(routes)) {
    const leased: string[] = [];
    const seen = new Set<string>();
    try {
      let empty = 0;
      // Bounded: every pass leases at least one new message or counts an empty pull, and stops at
      // `max`. Once `max` are listed, one more message is looked for (a pull of 1), so that
      // `complete` is false only when more are really waiting, not when exactly `max` were.
      let more = false;
      while (empty < emptyPullsMax && !more) {
        if (seen.size >= seenPerHoldMax) { more = true; break; }
        const room = options.max - messages.length;
        const batch = await deps.queues.pull(hold, room > 0 ? Math.min(pullPageMax, room) : 1, leaseSeconds);
        leased.push(...batch.map((m) => m.ackId));
        const fresh = batch.filter((m) => !seen.has(m.messageId));
        for (const m of fresh) seen.add(m.messageId);
        if (fresh.length === 0) { empty++; continue; }
        empty = 0;
        for (const m of fresh) {
          const v = messageView(hold, m);
          if (!sources.has(v.sourceSubscription)) continue;
          if (messages.length >= options.max) { more = true; break; }
          messages.push(v);
        }
      }
      if (more) complete = false;
    } finally {
      await deps.queues.release(hold, leased);
    }
  }
  return { routes: routes.map(view), messages: messages.slice(0, options.max), complete };
}

export interface DeadLetterReplayReport {
  /** Re-published to their source topic for their source subscription, and removed from the hold. */
  replayed: number;
  /** Publish failed: left on the hold (handed back). */
  failed: number;
  /** On the same hold but from a subscription not selected, or from one without a route: left alone. */
  skipped: number;
  /** False when `max` stopped the replay before the holds were read to their end. */
  complete: boolean;
  bySubscription: Record<string, number>;
  firstError?: string;
}

/**
 * Replays at most `max` dead letters of the selected source subscriptions to the subscription each
 * came from, a page at a time, reporting after each page.
 */
export async function replayDeadLetters(
  deps: DeadLetterDeps, options: { subscription?: string; max: number }, onPage?: (report: DeadLetterReplayReport) => void,
): Promise<DeadLetterReplayReport> {
  const routes = await selectedRoutes(deps, options.subscription);
  const bySource = new Map(routes.map((r) => [r.sourceSubscription, r]));
  const report: DeadLetterReplayReport = { replayed: 0, failed: 0, skipped: 0, complete: true, bySubscription: {} };
  for (const hold of holdsOf(routes)) {
    // Messages not replayed (others', failed) stay leased until the end, so a later pull does not
    // bring them back; each is handed back once at the end.
    const keep: string[] = [];
    const seen = new Set<string>();
    try {
      let empty = 0;
      // Bounded: every pass takes at least one new message or counts an empty pull, and stops at
      // `max`. Once `max` are replayed, one more message of a selected subscription is looked for
      // (a pull of 1, handed back), so that `complete` is false (exit 3, "run again") only when
      // more are really waiting, not when exactly `max` were (as `listDeadLetters`).
      let more = false;
      while (empty < emptyPullsMax && !more) {
        const budget = options.max - report.replayed - report.failed;
        // A previous hold already found more waiting: the budget is spent, nothing to look for.
        if (budget <= 0 && !report.complete) break;
        if (seen.size >= seenPerHoldMax) { more = true; break; }
        const batch = await deps.queues.pull(hold, budget > 0 ? Math.min(pullPageMax, budget) : 1, leaseSeconds);
        const fresh = batch.filter((m) => !seen.has(m.messageId));
        keep.push(...batch.filter((m) => seen.has(m.messageId)).map((m) => m.ackId));
        if (fresh.length === 0) { empty++; continue; }
        empty = 0;
        const done: string[] = [];
        for (const m of fresh) {
          seen.add(m.messageId);
          if (more) { keep.push(m.ackId); continue; }
          const source = m.attributes[deadLetterAttributes.sourceSubscription] ?? '';
          const route = bySource.get(source);
          if (!route) { report.skipped++; keep.push(m.ackId); continue; }
          if (report.replayed + report.failed >= options.max) { more = true; keep.push(m.ackId); continue; }
          try {
            await deps.bus.publish(route.sourceTopic, m.data, replayedDeadLetterAttributes(m.attributes, source), m.attributes.aggregateId || undefined);
            done.push(m.ackId);
            report.replayed++;
            report.bySubscription[source] = (report.bySubscription[source] ?? 0) + 1;
          } catch (error) {
            report.failed++;
            report.firstError ??= `${source}/${m.messageId}: ${(error as Error).message}`;
            keep.push(m.ackId);
          }
        }
        if (done.length === 0 && more) continue;
        await deps.queues.ack(hold, done);
        onPage?.({ ...report, bySubscription: { ...report.bySubscription } });
      }
      if (more) report.complete = false;
    } finally {
      await deps.queues.release(hold, keep);
    }
  }
  return report;
}
