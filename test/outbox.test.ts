/**
 * The transactional-outbox relay against the real emulators: events written by real API calls are
 * published to `domain-events` (Pub/Sub emulator) with ordering key and attributes and marked sent
 * in Firestore; relays are idempotent in the mark and at-least-once in delivery; a failed publish
 * leaves the document unsent for the sweeper; the sweeper keeps its batch bound and age threshold;
 * `tally outbox drain` publishes what is left. Each stack has its own emulator project, so no other
 * test file's outbox is swept here.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Firestore, Timestamp } from '@google-cloud/firestore';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { Message, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxTrigger, type OutboxTrigger } from '../emulators/outbox-trigger.js';
import { createPubSubEventBus } from '../functions/src/adapters/pubsub/pubsub-event-bus.js';
import { domainEventsTopic } from '../functions/src/app/outbox/outbox-message.js';
import { drainOutbox, relayOutboxDocument, sweepOutbox, type OutboxDeps } from '../functions/src/app/outbox/relay.js';
import { DomainEventSchema } from '../functions/src/gen/tally/events/v1/events_pb.js';
import { createOutboxRelayHandler } from '../functions/src/handlers/firestore/outbox-relay.js';
import { createOutboxSweeperHandler } from '../functions/src/handlers/pubsub/outbox-sweeper.js';
import { createLogger } from '../functions/src/platform/telemetry/logger.js';
import { eventually } from './support/eventually.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startTestStack, type TestStack } from './support/test-stack.js';
import type { TallyClient } from '../functions/src/cli/client.js';

/** Every message one subscription on `domain-events` receives, acked at once. */
async function listen(stack: TestStack): Promise<{ messages: Message[]; close(): Promise<void> }> {
  await stack.services.bus.ensureTopics([domainEventsTopic]);
  const [subscription] = await stack.services.bus.client.topic(domainEventsTopic)
    .createSubscription(`outbox-test-${randomUUID().slice(0, 8)}`, { enableMessageOrdering: true, ackDeadlineSeconds: 30 });
  const messages: Message[] = [];
  const sub: Subscription = subscription;
  sub.on('message', (m: Message) => { messages.push(m); m.ack(); });
  return { messages, close: () => sub.close() };
}

/** What `probe` returns once it returns something (not undefined or false), within 15 s. */
function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> {
  return eventually(async () => {
    const value = await probe();
    if (value === undefined || value === false) throw new Error(`no ${what} yet`);
    return value;
  }, { timeoutMs: 15_000, intervalMs: 100 });
}

/**
 * Instead of sleeping to see that nothing more arrives: relays a fresh event (written after
 * everything asserted so far) and waits for its message, so a stray duplicate published before it
 * has had the same time to arrive.
 */
async function afterNextMessage(stack: TestStack, bus: { messages: Message[] }, owner: TallyClient, accounts: { a: string; b: string }, tenantId: string): Promise<void> {
  const { eventId } = await postEntry(owner, accounts);
  await relayOutboxDocument(stack.services.outbox, tenantId, eventId);
  await waitFor(() => byEvent(bus.messages, eventId)[0], 'sentinel message');
}
const byEvent = (messages: Message[], eventId: string) => messages.filter((m) => m.attributes.eventId === eventId);

/** A posted entry through the API (with a caller traceparent); returns its entry and outbox event ids. */
async function postEntry(owner: TallyClient, accounts: { a: string; b: string }, traceId = randomUUID().replaceAll('-', '')) {
  const { entry } = await owner.ledger.createEntry(transfer(accounts.a, accounts.b, 1234n), { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  return { entryId: entry!.id, eventId: `evt_${entry!.id}`, traceId };
}

describe('outboxRelay fed by the local Firestore trigger (as npm start runs it)', () => {
  let stack: TestStack;
  let trigger: OutboxTrigger;
  let bus: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-outbox-${randomUUID().slice(0, 8)}` });
    bus = await listen(stack);
    trigger = startOutboxTrigger({
      db: stack.services.db, projectId: stack.services.config.projectId,
      handler: createOutboxRelayHandler({ outbox: stack.services.outbox, logger: stack.services.logger }),
    });
  });
  afterAll(async () => { await trigger.stop(); await bus.close(); await stack.close(); });

  it('publishes a CreateEntry event once, keyed by the entry, with attributes and trace context, and marks it sent', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const accounts = { a: await openAccount(owner), b: await openAccount(owner) };
    const { entryId, eventId, traceId } = await postEntry(owner, accounts);
    const message = await waitFor(() => byEvent(bus.messages, eventId)[0], 'the domain event');

    expect(message.orderingKey).toBe(entryId);
    expect(message.attributes).toMatchObject({ eventId, type: 'ledger.entry.posted', tenantId, aggregateId: entryId });
    const doc = await waitFor(async () => {
      const d = (await stack.services.db.doc(`tenants/${tenantId}/outbox/${eventId}`).get()).data();
      return d?.publishedAt ? d : undefined;
    }, 'the mark');
    expect(doc.pubsubMessageIds).toEqual([message.id]);
    // The entry's commit wrote one document holding its one event.
    const [stored] = doc.events as Record<string, unknown>[];
    expect(doc.events).toHaveLength(1);
    // The trace of the API call continues into the message: its trace id, its span as parent.
    expect(stored!.traceId).toBe(traceId);
    expect(message.attributes.traceparent).toBe(`00-${traceId}-${String(stored!.spanId)}-01`);

    const envelope = fromBinary(DomainEventSchema, message.data);
    expect(envelope).toMatchObject({ eventId, type: 'ledger.entry.posted', tenantId, aggregateId: entryId, traceId, spanId: stored!.spanId });
    expect(timestampMs(envelope.occurredAt!)).toBe((doc.createdAt as { toMillis(): number }).toMillis());
    expect(JSON.parse(envelope.payloadJson)).toMatchObject({ entryId, postings: [{ accountId: accounts.a, amountMinor: '1234' }, { accountId: accounts.b, amountMinor: '1234' }] });

    // Once: the mark stops any later relay of this document.
    await afterNextMessage(stack, bus, owner, accounts, tenantId);
    expect(byEvent(bus.messages, eventId)).toHaveLength(1);
  });
});

describe('relay and sweeper, driven directly', () => {
  let stack: TestStack;
  let bus: Awaited<ReturnType<typeof listen>>;
  let owner: TallyClient;
  let tenantId: string;
  let accounts: { a: string; b: string };
  /** The real bus, but with the clock moved forward: events look older to the sweeper. */
  const later = (deps: OutboxDeps, ms: number): OutboxDeps => ({ ...deps, clock: { nowMs: () => Date.now() + ms } });
  const outboxDoc = async (eventId: string) => (await stack.services.db.doc(`tenants/${tenantId}/outbox/${eventId}`).get()).data()!;

  beforeAll(async () => {
    stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-outbox-${randomUUID().slice(0, 8)}` });
    bus = await listen(stack);
    ({ tenantId, owner } = await stack.newTenant());
    accounts = { a: await openAccount(owner), b: await openAccount(owner) };
  });
  afterAll(async () => { await bus.close(); await stack.close(); });

  it('relaying one document twice publishes at most a duplicate with the same event id and marks it once', async () => {
    const { eventId } = await postEntry(owner, accounts);
    // Two relays racing (a redelivered trigger): both may publish; exactly one marks.
    const results = await Promise.all([relayOutboxDocument(stack.services.outbox, tenantId, eventId), relayOutboxDocument(stack.services.outbox, tenantId, eventId)]);
    const marks = results.map((r) => (r.outcome === 'published' ? r.mark : r.outcome));
    expect(marks.filter((m) => m === 'marked')).toHaveLength(1);
    expect(marks.every((m) => ['marked', 'already', 'already_published'].includes(m))).toBe(true);
    await waitFor(() => byEvent(bus.messages, eventId).length >= results.filter((r) => r.outcome === 'published').length || undefined, 'the messages');
    const copies = byEvent(bus.messages, eventId);
    expect(copies.length).toBeGreaterThanOrEqual(1);
    expect(copies.length).toBeLessThanOrEqual(2);
    expect(new Set(copies.map((m) => fromBinary(DomainEventSchema, m.data).eventId))).toEqual(new Set([eventId]));
    const doc = await outboxDoc(eventId);
    expect(copies.map((m) => m.id)).toContain((doc.pubsubMessageIds as string[])[0]);

    // A third relay, after the mark, publishes nothing.
    expect(await relayOutboxDocument(stack.services.outbox, tenantId, eventId)).toEqual({ outcome: 'already_published' });
    const publishedAt = doc.publishedAt as { toMillis(): number };
    await afterNextMessage(stack, bus, owner, accounts, tenantId);
    expect(byEvent(bus.messages, eventId)).toHaveLength(copies.length);
    expect(((await outboxDoc(eventId)).publishedAt as { toMillis(): number }).toMillis()).toBe(publishedAt.toMillis());
  });

  it('a failed publish throws through the handler, leaves the document unsent, and the sweeper publishes it later', async () => {
    const { eventId, entryId } = await postEntry(owner, accounts);
    // A real Pub/Sub client on a project where `domain-events` does not exist: NOT_FOUND.
    const brokenBus = createPubSubEventBus(`demo-tally-nope-${randomUUID().slice(0, 8)}`);
    const broken: OutboxDeps = { ...stack.services.outbox, bus: brokenBus };
    const relay = createOutboxRelayHandler({ outbox: broken, logger: stack.services.logger });
    const cloudEvent: CloudEvent<unknown> = {
      specversion: '1.0', id: randomUUID(), type: 'google.cloud.firestore.document.v1.created',
      source: '//firestore.googleapis.com/projects/demo/databases/(default)', subject: `documents/tenants/${tenantId}/outbox/${eventId}`,
    };
    const topicNotFound = { code: 5, message: expect.stringContaining('NOT_FOUND') as unknown }; // the publish's own error
    await expect(relay(cloudEvent)).rejects.toMatchObject(topicNotFound);
    // Retried by the trigger, still failing: still unsent, nothing published.
    await expect(relay(cloudEvent)).rejects.toMatchObject(topicNotFound);
    expect((await outboxDoc(eventId)).publishedAt).toBeNull();
    await brokenBus.client.close();

    // Too young for the sweeper (threshold 60 s): left alone.
    const young = await sweepOutbox(stack.services.outbox, { olderThanMs: 60_000, batchMax: 100, tenantId });
    expect(young.found).toBe(0);
    expect((await outboxDoc(eventId)).publishedAt).toBeNull();

    // Two minutes later (by the clock), the sweeper's tick publishes it, with its ordering key.
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ projectId: 'demo', level: 'INFO', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const sweeper = createOutboxSweeperHandler({ outbox: later(stack.services.outbox, 120_000), logger, olderThanMs: 60_000, batchMax: 100 });
    await sweeper({ specversion: '1.0', id: 'tick-1', type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//pubsub.googleapis.com/projects/demo/topics/ticks-outbox' });
    expect(lines.at(-1)).toMatchObject({ message: 'outbox sweep', failed: 0, batchMax: 100 });
    expect(lines.at(-1)!.published).toBeGreaterThanOrEqual(1);
    const message = await waitFor(() => byEvent(bus.messages, eventId)[0], 'the swept event');
    expect(message.orderingKey).toBe(entryId);
    expect((await outboxDoc(eventId)).pubsubMessageIds).toEqual([message.id]);
  });

  it('the sweeper respects its age threshold and batch bound, oldest first, across tenants', async () => {
    // Start from an empty outbox in this project.
    await drainOutbox(stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    const other = await stack.newTenant();
    const otherAccounts = { a: await openAccount(other.owner), b: await openAccount(other.owner) };
    const written: string[] = [];
    for (let i = 0; i < 5; i++) written.push((await postEntry(i % 2 === 0 ? owner : other.owner, i % 2 === 0 ? accounts : otherAccounts)).eventId);

    expect(await sweepOutbox(stack.services.outbox, { olderThanMs: 60_000, batchMax: 2 })).toMatchObject({ found: 0, published: 0 });
    const sweeper = later(stack.services.outbox, 120_000);
    const first = await sweepOutbox(sweeper, { olderThanMs: 60_000, batchMax: 2 });
    expect(first).toMatchObject({ found: 2, published: 2, failed: 0 });
    expect(first.oldestAgeMs).toBeGreaterThanOrEqual(120_000);
    const unsent = async () => (await stack.services.outbox.store.findUnpublished({ createdBeforeMs: Date.now() + 1, limit: 100 })).map((e) => e.id);
    // Oldest first: the first two written went out.
    expect(await unsent()).toEqual(written.slice(2));
    expect(await sweepOutbox(sweeper, { olderThanMs: 60_000, batchMax: 2 })).toMatchObject({ found: 2, published: 2 });
    expect(await sweepOutbox(sweeper, { olderThanMs: 60_000, batchMax: 2 })).toMatchObject({ found: 1, published: 1 });
    expect(await unsent()).toEqual([]);
    await waitFor(() => written.every((id) => byEvent(bus.messages, id).length === 1) || undefined, 'all five messages');
  });

  it('listEventsBetween pages through a time range event by event, splitting a document of several events, whatever is sent (the durable log)', async () => {
    const fromMs = Date.now() - 1;
    const { tenantId: logTenant, owner: logOwner } = await stack.newTenant();
    const logAccounts = { a: await openAccount(logOwner), b: await openAccount(logOwner) };
    const single = [(await postEntry(logOwner, logAccounts)).eventId, (await postEntry(logOwner, logAccounts)).eventId];
    // One commit of three events, as a payment capture writes (its events and its ledger entry's).
    const nowMs = Date.now();
    const commitEvents = ['a', 'b', 'c'].map((x) => ({ id: `evt_multi_${x}_${randomUUID().slice(0, 8)}`, type: 'test.multi', aggregateId: `agg_${x}`, payload: { x }, createdAtMs: nowMs, traceId: '', spanId: '' }));
    const { createOutboxWrites } = await import('../functions/src/adapters/firestore/outbox-store.js');
    const writes = createOutboxWrites(stack.services.db, logTenant);
    for (const e of commitEvents) writes.add(e);
    const batch = stack.services.db.batch();
    expect(writes.writeTo(batch)).toBe(1);
    await batch.commit();
    await relayOutboxDocument(stack.services.outbox, logTenant, single[0]!); // sent or not, both are in the log
    const expected = [...single, ...commitEvents.map((e) => e.id)];

    const pages: string[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await stack.services.outbox.store.listEventsBetween({ tenantId: logTenant, fromMs, toMs: Date.now() + 1, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      pages.push(page.events.map((e) => e.id));
      cursor = page.nextCursor;
      if (cursor === undefined) break;
    }
    expect(pages).toEqual([expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)]);
    // Across tenants (collection group) the same events are there, with their tenant.
    const all = await stack.services.outbox.store.listEventsBetween({ fromMs, toMs: Date.now() + 1, limit: 500 });
    expect(all.events.filter((e) => e.tenantId === logTenant).map((e) => e.id)).toEqual(expected);
    // An empty range, and a forged cursor refused as input.
    expect(await stack.services.outbox.store.listEventsBetween({ tenantId: logTenant, fromMs: 0, toMs: 1, limit: 5 })).toEqual({ events: [], nextCursor: undefined });
    await expect(stack.services.outbox.store.listEventsBetween({ tenantId: logTenant, fromMs, toMs: Date.now(), limit: 5, cursor: 'bm9wZQ' })).rejects.toMatchObject({ reason: 'FIELD_INVALID' });
    // Leaves nothing unsent for the tests after it (they count what a drain publishes).
    expect(await drainOutbox(stack.services.outbox, { tenantId: logTenant, batchMax: 100, batchesMax: 2 })).toMatchObject({ published: 4, complete: true });
  });

  it('`tally outbox drain --json` publishes what is unsent (one tenant), with a summary; exit code 0', async () => {
    const { eventId } = await postEntry(owner, accounts);
    const other = await stack.newTenant();
    const otherAccounts = { a: await openAccount(other.owner), b: await openAccount(other.owner) };
    const { eventId: otherEventId } = await postEntry(other.owner, otherAccounts);
    const cli = path.resolve(import.meta.dirname, '..', 'bin', 'tally.mjs');
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [cli, ...args], { env: { ...process.env, GCLOUD_PROJECT: stack.services.config.projectId, GOOGLE_CLOUD_PROJECT: stack.services.config.projectId }, timeout: 30_000, encoding: 'utf8' },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
    const result = await run(['outbox', 'drain', '--tenant', tenantId, '--batch-max', '2', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ published: 1, failed: 0, complete: true });
    expect((await outboxDoc(eventId)).publishedAt).not.toBeNull();
    // The other tenant was not touched.
    expect((await stack.services.db.doc(`tenants/${other.tenantId}/outbox/${otherEventId}`).get()).get('publishedAt')).toBeNull();
    await waitFor(() => byEvent(bus.messages, eventId)[0], 'the drained event');

    // Human output: a progress line per batch on stderr, a summary on stdout.
    const human = await run(['outbox', 'drain']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/outbox drain: batch 1: 1 published/);
    expect(human.stdout).toMatch(/outbox drained: 1 events published/);
    expect(await run(['outbox', 'drain', '--batches-max', '0'])).toMatchObject({ code: 1 });
  });
});

describe('the local trigger costs the same whatever the outbox holds (issue 12 item 4, ADR 0024)', () => {
  let stack: TestStack;
  let bus: Awaited<ReturnType<typeof listen>>;
  let owner: TallyClient;
  let tenantId: string;
  let accounts: { a: string; b: string };
  /** The trigger's own client, so its RPCs are counted apart from the API's and the relay's. */
  let triggerDb: Firestore;

  beforeAll(async () => {
    stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-outbox-${randomUUID().slice(0, 8)}` });
    bus = await listen(stack);
    ({ tenantId, owner } = await stack.newTenant());
    accounts = { a: await openAccount(owner), b: await openAccount(owner) };
    triggerDb = new Firestore({ projectId: stack.services.config.projectId, preferRest: false, useBigInt: true });
  });
  afterAll(async () => { await triggerDb.terminate(); await bus.close(); await stack.close(); });

  /**
   * Everything the trigger's client sends while it starts, sees three entries written through the
   * API, hands them to the real relay, and stops; polls are driven by hand (the timer's interval is
   * an hour), so the count does not depend on time.
   */
  async function threeWrites() {
    await drainOutbox(stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    let trigger: OutboxTrigger | undefined;
    const counted = await countFirestoreRpcs(async () => {
      trigger = startOutboxTrigger({
        db: triggerDb, projectId: stack.services.config.projectId, pollIntervalMs: 3_600_000,
        handler: createOutboxRelayHandler({ outbox: stack.services.outbox, logger: stack.services.logger }),
      });
      await trigger.poll(); // after the start's own poll: nothing unsent is left
      const written = [await postEntry(owner, accounts), await postEntry(owner, accounts), await postEntry(owner, accounts)];
      const report = await trigger.poll();
      await trigger.stop(); // waits for the relays it started
      return { report, written, stats: trigger.stats() };
    }, triggerDb);
    for (const { eventId } of counted.result.written) {
      expect((await stack.services.db.doc(`tenants/${tenantId}/outbox/${eventId}`).get()).get('publishedAt')).not.toBeNull();
      await waitFor(() => byEvent(bus.messages, eventId)[0], 'the relayed event');
    }
    const { pollMs, ...report } = counted.result.report;
    return { rpcs: counted.rpcs, report, pollMs, stats: counted.result.stats };
  }

  it('reads the same documents with the same RPCs per write with 0 and with 2,000 published events, and opens no listener', async () => {
    const empty = await threeWrites();
    // Three new events: one page, the three documents, all handed to the relay.
    expect(empty.report).toEqual({ pages: 1, documentsRead: 3, handed: 3 });
    // A snapshot listener (`listen`) made the emulator re-run its collection-group query on every commit.
    expect(empty.rpcs).toEqual({ runQuery: 3 });

    // 2,000 events already published, as a stack that has been running for a while holds.
    const createdAt = Timestamp.now();
    for (let i = 0; i < 2_000; i += 500) {
      const batch = stack.services.db.batch();
      for (let j = i; j < i + 500; j++) {
        batch.set(stack.services.db.doc(`tenants/${tenantId}/outbox/evt_old_${j}`), {
          tenantId, createdAt, publishedAt: createdAt, pubsubMessageIds: [`m${j}`],
          events: [{ id: `evt_old_${j}`, type: 'ledger.entry.posted', aggregateId: `je_old_${j}`, payload: {}, createdAt, traceId: '', spanId: '' }],
        });
      }
      await batch.commit();
    }
    const full = await threeWrites();
    expect(full.report).toEqual(empty.report);
    expect(full.rpcs).toEqual(empty.rpcs);
    // What does grow is the time a query takes on the emulator (it scans the outbox): the poller's
    // duty cycle bounds its share of the time (emulators/outbox-trigger.test.ts, nextPollDelayMs).
    for (const run of [empty, full]) expect(run.stats).toMatchObject({ relayed: 3, failed: 0, queued: 0, inFlight: 0 });
  });

  it('queues a burst found by one poll beyond the relays in flight and relays all of it; a full queue is reported and the rest found by the next poll', async () => {
    await drainOutbox(stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    const errors: string[] = [];
    let running = 0;
    let runningMax = 0;
    const relay = createOutboxRelayHandler({ outbox: stack.services.outbox, logger: stack.services.logger });
    const trigger = startOutboxTrigger({
      db: triggerDb, projectId: stack.services.config.projectId, pollIntervalMs: 3_600_000, inFlightMax: 2, queueMax: 5,
      handler: async (event) => { running++; runningMax = Math.max(runningMax, running); try { await relay(event); } finally { running--; } },
      onError: (error) => errors.push(String(error)),
    });
    try {
      await trigger.poll();
      const written = [];
      for (let i = 0; i < 8; i++) written.push((await postEntry(owner, accounts)).eventId);
      expect(await trigger.poll()).toMatchObject({ handed: 5 });
      expect(errors.join()).toMatch(/5 documents already queued/);
      await eventually(() => { if (trigger.stats().relayed < 5) throw new Error('relaying'); }, { timeoutMs: 15_000, intervalMs: 50 });
      expect(await trigger.poll()).toMatchObject({ handed: 3 });
    } finally {
      await trigger.stop();
    }
    expect(trigger.stats()).toMatchObject({ relayed: 8, failed: 0, queued: 0, inFlight: 0 });
    expect(runningMax).toBeLessThanOrEqual(2);
    expect(await stack.services.outbox.store.findUnpublished({ createdBeforeMs: Date.now() + 1, tenantId, limit: 10 })).toEqual([]);
  });

  it('hands each document over once across polls, and leaves a failed relay to the sweeper', async () => {
    await drainOutbox(stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    const subjects: string[] = [];
    const errors: unknown[] = [];
    const trigger = startOutboxTrigger({
      db: triggerDb, projectId: stack.services.config.projectId, pollIntervalMs: 3_600_000,
      handler: (event) => { subjects.push(String(event.subject)); return Promise.reject(new Error('publish failed')); },
      onError: (error) => errors.push(error),
    });
    try {
      await trigger.poll();
      const { eventId } = await postEntry(owner, accounts);
      expect(await trigger.poll()).toMatchObject({ pages: 1, documentsRead: 1, handed: 1 });
      // Still unsent, still in the window: read again, not handed again.
      expect(await trigger.poll()).toMatchObject({ pages: 1, documentsRead: 1, handed: 0 });
      expect(subjects).toEqual([`documents/tenants/${tenantId}/outbox/${eventId}`]);
      await waitFor(() => errors.length === 1 || undefined, 'the failed relay reported');
      expect((await stack.services.db.doc(`tenants/${tenantId}/outbox/${eventId}`).get()).get('publishedAt')).toBeNull();
      // The sweeper publishes it (as it would a minute later on `npm start`).
      expect(await sweepOutbox(stack.services.outbox, { olderThanMs: -1, batchMax: 100, tenantId })).toMatchObject({ found: 1, published: 1 });
      expect(await trigger.poll()).toMatchObject({ pages: 1, documentsRead: 0, handed: 0 });
    } finally {
      await trigger.stop();
    }
  });

  it('under sustained writes the duty cycle\'s backoff is bounded: the relay relays while writes go on, every event within pollDelayMaxMs plus two polls plus the relay, each published once', async () => {
    await drainOutbox(stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    // A duty cycle of 0.01%: any scan (a few ms here) asks for a pause of tens of seconds, as a
    // 1-2 s scan of a 10,000-event outbox under load asks for 9-18 s at the default 10%. What
    // bounds the lag is pollDelayMaxMs (1 s here, 10 s by default); without it no event written
    // after the second poll would be relayed for tens of seconds (checked by removing the cap).
    const pollDelayMaxMs = 1_000;
    const relay = createOutboxRelayHandler({ outbox: stack.services.outbox, logger: stack.services.logger });
    const handed = new Map<string, number>();
    const lagsMs: number[] = [];
    const trigger = startOutboxTrigger({
      db: triggerDb, projectId: stack.services.config.projectId, pollIntervalMs: 50, pollDutyMax: 0.0001, pollDelayMaxMs,
      handler: async (event) => {
        const subject = String(event.subject);
        handed.set(subject, (handed.get(subject) ?? 0) + 1);
        await relay(event);
        lagsMs.push(Date.now() - Date.parse(String(event.time))); // commit to published and marked
      },
    });
    const pairs = await Promise.all(Array.from({ length: 4 }, async () => ({ a: await openAccount(owner), b: await openAccount(owner) })));
    const written: string[] = [];
    let pollMsMax = 0;
    // Each poll's duration stays in stats() until the next poll ends (at least a pause later).
    const sampler = setInterval(() => { pollMsMax = Math.max(pollMsMax, trigger.stats().lastPollMs); }, 50);
    try {
      const writeUntilMs = Date.now() + 4_000;
      await Promise.all(pairs.map(async (pair) => {
        while (Date.now() < writeUntilMs) written.push((await postEntry(owner, pair)).eventId);
      }));
      const whileWriting = trigger.stats();
      // Progress during the writes, not only after them.
      expect(whileWriting.relayed).toBeGreaterThan(0);
      expect(whileWriting.polls).toBeGreaterThanOrEqual(3);
      // After the writes stop, the timer's own polls drain the backlog (no manual poll).
      await eventually(async () => {
        expect(await stack.services.outbox.store.findUnpublished({ createdBeforeMs: Date.now() + 1, tenantId, limit: 10 })).toEqual([]);
        expect(trigger.stats()).toMatchObject({ queued: 0, inFlight: 0 });
      }, { timeoutMs: 20_000, intervalMs: 200 });
    } finally {
      clearInterval(sampler);
      await trigger.stop();
    }
    expect(trigger.stats()).toMatchObject({ found: written.length, relayed: written.length, failed: 0 });
    // Each event handed over once and published once.
    expect([...handed.keys()].sort()).toEqual(written.map((id) => `documents/tenants/${tenantId}/outbox/${id}`).sort());
    expect(Math.max(...handed.values())).toBe(1);
    await eventually(() => { for (const id of written) expect(byEvent(bus.messages, id)).toHaveLength(1); }, { timeoutMs: 15_000, intervalMs: 100 });
    await afterNextMessage(stack, bus, owner, accounts, tenantId);
    for (const id of written) expect(byEvent(bus.messages, id)).toHaveLength(1);
    // The bound: an event committed just after a poll's scan passed it waits for that poll to end,
    // the pause (at most pollDelayMaxMs) and the next poll, then for the relays ahead of it
    // (3 s on this loaded machine for a few hundred events, 32 at a time).
    const lagBoundMs = pollDelayMaxMs + 2 * pollMsMax + 3_000;
    expect(Math.max(...lagsMs), `the slowest of ${written.length} events, bound ${lagBoundMs} ms`).toBeLessThanOrEqual(lagBoundMs);
  });
});
