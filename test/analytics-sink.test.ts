/**
 * analyticsSink end to end (issue 13 items 1, 3, 8): real API calls write outbox events, the real
 * relay publishes them to the Pub/Sub emulator, the local bridge (with the deployed subscription
 * policy) feeds the sink, and rows land in the real ClickHouse server. Exactly one row per event
 * (as FINAL reads it) under a relay run twice, a duplicated publish, a crash after the insert and
 * before the ack (so Pub/Sub redelivers), and a ClickHouse restart mid-stream; trace ids from the
 * API request to the row; a poison message ends in the dead-letter topic after the policy's
 * attempts. Each stack has its own emulator project, so no other file's events arrive here.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Message } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouse } from '../emulators/clickhouse.js';
import { retryDelayMs } from '../emulators/pubsub-bridge.js';
import { migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import { queryRows } from '../functions/src/adapters/clickhouse/sql-query.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { relayOutboxDocument } from '../functions/src/app/outbox/relay.js';
import { DomainEventSchema } from '../functions/src/gen/tally/events/v1/events_pb.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { stateDir } from '../emulators/toolchain.js';
import { finalRows, startTestAnalyticsSink, testClickHouse, type TestAnalyticsSink } from './support/analytics-sink.js';
import { eventually } from './support/eventually.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const clickhouse = testClickHouse();
let stack: TestStack;
let tenant: Awaited<ReturnType<TestStack['newTenant']>>;
let accounts: { a: string; b: string };
const sinks: TestAnalyticsSink[] = [];

beforeAll(async () => {
  stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-analytics-${randomUUID().slice(0, 8)}` });
  await stack.services.bus.ensureTopics(['domain-events']);
  expect(stack.clickhouseUrl).toBe(process.env.TALLY_CLICKHOUSE_URL);
  tenant = await stack.newTenant('Analytics Shop');
  accounts = { a: await openAccount(tenant.owner), b: await openAccount(tenant.owner) };
});

afterAll(async () => {
  await Promise.all(sinks.map((s) => s.stop()));
  await clickhouse.close();
  await stack?.close();
});

async function sink(options: Omit<Parameters<typeof startTestAnalyticsSink>[0], 'client' | 'projectId'> = {}): Promise<TestAnalyticsSink> {
  const started = await startTestAnalyticsSink({ client: stack.services.bus.client, projectId: stack.services.config.projectId, ...options });
  sinks.push(started);
  return started;
}

/** A ledger entry through the API with the caller's traceparent; its outbox event id. */
async function postEntry(traceId = randomUUID().replaceAll('-', '')) {
  const { entry } = await tenant.owner.ledger.createEntry(transfer(accounts.a, accounts.b, 1234n), { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  return { entryId: entry!.id, eventId: `evt_${entry!.id}`, traceId };
}

const waitMs = { timeoutMs: 30_000, intervalMs: 100 };

async function countFinal(table: string, eventId: string, client = clickhouse): Promise<number> {
  const rows = await queryRows<{ n: string }>(client, { sql: `SELECT count() AS n FROM ${table} FINAL WHERE tenant_id = {tenantId:String} AND event_id = {eventId:String}`, params: { tenantId: tenant.tenantId, eventId } });
  return Number(rows[0]!.n);
}

describe('analyticsSink: exactly one row per event', () => {
  it('a ledger entry through the API lands once in events and ledger_postings with the request trace id, though the relay ran twice at once', async () => {
    const s = await sink();
    const { entryId, eventId, traceId } = await postEntry();
    // Two relays of one document at once (the trigger retried while the first still ran).
    await Promise.all([relayOutboxDocument(stack.services.outbox, tenant.tenantId, eventId), relayOutboxDocument(stack.services.outbox, tenant.tenantId, eventId)]);
    await eventually(async () => expect(await countFinal('events', eventId)).toBe(1), waitMs);
    const [row] = await finalRows(clickhouse, 'events', tenant.tenantId, eventId);
    expect(row).toMatchObject({ event_id: eventId, type: 'ledger.entry.posted', aggregate_id: entryId, trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(JSON.parse(row!.payload_json!)).toMatchObject({ entryId, postings: [{ amountMinor: '1234' }, { amountMinor: '1234' }] });
    const postings = await finalRows(clickhouse, 'ledger_postings', tenant.tenantId, eventId);
    expect(postings.map((p) => [p.posting_index, p.account_id, p.direction, p.amount_minor, p.currency, p.state, p.trace_id])).toEqual([
      [0, accounts.a, 'debit', '1234', 'USD', 'posted', traceId], [1, accounts.b, 'credit', '1234', 'USD', 'posted', traceId],
    ]);
    expect(s.deliveries.get(eventId)).toBeGreaterThanOrEqual(1);
  });

  it('a duplicated publish (a stale relay republishing a sent event) is delivered twice and still one row', async () => {
    const s = await sink();
    const { eventId } = await postEntry();
    const stale = await stack.services.outbox.store.get(tenant.tenantId, eventId);
    expect(stale?.publishedAtMs).toBeNull();
    // Both relays hold the unsent copy: each publishes (two messages, one event id).
    await relayOutboxDocument(stack.services.outbox, tenant.tenantId, eventId, stale);
    await relayOutboxDocument(stack.services.outbox, tenant.tenantId, eventId, stale);
    await eventually(() => expect(s.deliveries.get(eventId)).toBe(2), waitMs);
    await s.services.sink.flush();
    expect(await countFinal('events', eventId)).toBe(1);
    expect(await countFinal('ledger_postings', eventId)).toBe(2);
  });

  it('a crash after the insert and before the ack: Pub/Sub redelivers, the event is inserted again, still one row', async () => {
    const writesOf = new Map<string, number>();
    let crashed = false;
    const s = await sink({
      afterWrite: (events) => {
        for (const e of events) writesOf.set(e.eventId, (writesOf.get(e.eventId) ?? 0) + 1);
        // Durable in ClickHouse, then the process dies before answering the delivery.
        if (!crashed && events.length > 0) { crashed = true; throw new Error('crash after insert, before ack'); }
      },
    });
    const { eventId } = await postEntry();
    await relayOutboxDocument(stack.services.outbox, tenant.tenantId, eventId);
    await eventually(() => expect(writesOf.get(eventId)).toBe(2), waitMs);
    expect(s.deliveries.get(eventId)).toBe(2);
    expect(await countFinal('events', eventId)).toBe(1);
    expect(await countFinal('ledger_postings', eventId)).toBe(2);
  });
});

describe('analyticsSink: ClickHouse down and back', () => {
  /** Two free loopback ports (the restarted server must come back on the same ones). */
  async function freePorts(): Promise<{ http: number; tcp: number }> {
    const one = (): Promise<number> => new Promise((resolve, reject) => {
      const server = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    return { http: await one(), tcp: await one() };
  }

  it('a restart mid-stream loses nothing and doubles nothing: every event once after the server is back, none dead-lettered', { timeout: 300_000 }, async () => {
    const ports = await freePorts();
    const dataDir = path.join(stateDir, `clickhouse-restart-${ports.http}`);
    let server = await startClickHouse({ profile: 'test', ports, dataDir });
    try {
      await migrate(parseConfig({ TALLY_CLICKHOUSE_URL: server.url }).clickhouse);
      const own = testClickHouse(server.url);
      // Every failed delivery during the outage is a delivery attempt, and after the policy's 20 the
      // emulator dead-letters the message (as Pub/Sub does). With the other tests' backoff (50 ms
      // doubling to 400 ms) 20 attempts last about 7 s: under a load average of ~18 the stop, the
      // publishes while down and the restart took longer, and the events of the batch in flight at
      // the stop were dead-lettered (a CI run saw 280 of 300; reproduced with an 8 s longer outage:
      // 233 rows, and the 67 missing events all in the dead-letter hold). That is the policy
      // working (acks follow durable writes; nothing is lost, it is replayable), but not what this
      // test is about: here the backoff grows to 5 s, so 20 attempts span about 70 s
      // (`outageToleranceMs`), far beyond the outage, and convergence is awaited with a bound.
      const retryBackoff = { minimumMs: 100, maximumMs: 5_000 };
      const attempts = subscriptionPolicies['analytics-sink'].maxDeliveryAttempts;
      const outageToleranceMs = Array.from({ length: attempts - 1 }, (_, i) => retryDelayMs(i + 1, retryBackoff)).reduce((a, b) => a + b, 0);
      expect(outageToleranceMs).toBeGreaterThan(60_000);
      const s = await sink({ clickhouseUrl: server.url, retryBackoff, env: { TALLY_ANALYTICS_BATCH_AGE_MS: '20', TALLY_CLICKHOUSE_REQUEST_TIMEOUT_MS: '2000' } });
      // Anything dead-lettered is seen, so that a failure says so instead of only "280 of 300".
      const deadLettered: string[] = [];
      const hold = stack.services.bus.client.subscription(s.deadLetterHold);
      hold.on('message', (m: Message) => { deadLettered.push(m.attributes.eventId ?? ''); m.ack(); });
      const streamTenant = `ten_stream_${randomUUID().slice(0, 8)}`;
      const total = 300;
      const publish = (i: number) => stack.services.bus.publish('domain-events', toBinary(DomainEventSchema, create(DomainEventSchema, {
        eventId: `evt_stream_${i}`, type: 'test.stream', tenantId: streamTenant, aggregateId: `agg_${i % 7}`,
        occurredAt: timestampFromMs(Date.UTC(2026, 11, 6) + i), payloadJson: JSON.stringify({ i }),
      })), { eventId: `evt_stream_${i}` });
      const count = async (): Promise<{ rows: number; distinct: number }> => {
        const [r] = await queryRows<{ rows: string; distinct: string }>(own, { sql: 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events FINAL WHERE tenant_id = {tenantId:String}', params: { tenantId: streamTenant } });
        return { rows: Number(r!.rows), distinct: Number(r!.distinct) };
      };
      for (let i = 0; i < 100; i++) await publish(i);
      await eventually(async () => expect((await count()).rows).toBeGreaterThan(0), waitMs);
      await server.stop();
      // Published while the server is down: the sink fails its writes and leaves them unacked.
      for (let i = 100; i < 200; i++) await publish(i);
      await eventually(() => expect(s.services.sink.stats().writeFailures).toBeGreaterThan(0), waitMs);
      server = await startClickHouse({ profile: 'test', ports, dataDir, fresh: false });
      for (let i = 200; i < total; i++) await publish(i);
      // Converges within seconds when idle; redeliveries come up to 5 s apart, and the bound is for a
      // loaded machine. Exactly `total` rows as FINAL reads them, each event once, none dead-lettered.
      try {
        await eventually(async () => expect({ ...(await count()), deadLettered }).toEqual({ rows: total, distinct: total, deadLettered: [] }), { timeoutMs: 150_000, intervalMs: 500 });
      } finally {
        await hold.close();
        await own.close();
      }
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('analyticsSink: dead letters, locally as deployed', () => {
  it('the local subscription carries the deployed policy: ack deadline and dead-letter topic with max attempts', async () => {
    const s = await sink();
    const [metadata] = await stack.services.bus.client.subscription(s.subscription).getMetadata();
    const policy = subscriptionPolicies['analytics-sink'];
    expect(metadata.ackDeadlineSeconds).toBe(policy.ackDeadlineSeconds);
    expect(metadata.deadLetterPolicy).toEqual({ deadLetterTopic: `projects/${stack.services.config.projectId}/topics/${s.subscription}-dlq`, maxDeliveryAttempts: policy.maxDeliveryAttempts });
  });

  it('a poison message is never acked: after maxDeliveryAttempts deliveries it is in the dead-letter topic, nothing written', async () => {
    const s = await sink();
    const marker = randomUUID();
    await stack.services.bus.publish('domain-events', new TextEncoder().encode('not a DomainEvent'), { eventId: `poison-${marker}` });
    const hold = stack.services.bus.client.subscription(s.deadLetterHold);
    const deadLetters: Message[] = [];
    hold.on('message', (m: Message) => { deadLetters.push(m); m.ack(); });
    try {
      const dead = await eventually(() => {
        const found = deadLetters.find((m) => m.attributes.eventId === `poison-${marker}`);
        expect(found).toBeDefined();
        return found!;
      }, { timeoutMs: 45_000, intervalMs: 200 });
      const attempts = subscriptionPolicies['analytics-sink'].maxDeliveryAttempts;
      expect(dead.attributes).toMatchObject({ CloudPubSubDeadLetterSourceSubscription: s.subscription, CloudPubSubDeadLetterSourceDeliveryCount: String(attempts) });
      expect(dead.data.toString()).toBe('not a DomainEvent');
      expect(s.deliveries.get(`poison-${marker}`)).toBe(attempts);
    } finally {
      await hold.close();
    }
  });
});

describe('analyticsSink as deployed (Functions Framework entry)', () => {
  it('a Pub/Sub push request to the registered analyticsSink writes its event and answers 2xx; a poison push gets 500 (nack); a replay for another consumer is skipped', async () => {
    await import('../functions/src/index.js');
    const server = getTestServer('analyticsSink');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/projects/demo/topics/domain-events`;
      const eventId = `evt_push_${randomUUID().slice(0, 8)}`;
      const data = Buffer.from(toBinary(DomainEventSchema, create(DomainEventSchema, {
        eventId, type: 'payment.created', tenantId: tenant.tenantId, aggregateId: 'pay_push', occurredAt: timestampFromMs(Date.now()),
        payloadJson: JSON.stringify({ type: 'payment.created', status: 'requires_confirmation', amountMinor: '2500', currency: 'EUR', captureMethod: 'automatic' }),
      }))).toString('base64');
      const push = (body: string, attributes: Record<string, string> = {}) => fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: { data: body, messageId: '1', attributes: { eventId, ...attributes }, publishTime: new Date().toISOString() }, subscription: 'projects/demo/subscriptions/analytics-sink' }),
      });
      const ok = await push(data);
      expect(ok.status).toBeLessThan(300);
      // Answered only once durable: the row is there now, without waiting.
      const rows = await finalRows(clickhouse, 'payment_events', tenant.tenantId, eventId);
      expect(rows.map((r) => [r.payment_id, r.status, r.amount_minor, r.currency])).toEqual([['pay_push', 'requires_confirmation', '2500', 'EUR']]);
      expect((await push(Buffer.from('junk').toString('base64'))).status).toBe(500);
      // A replay aimed at another consumer of domain-events (ADR 0030) is acked and skipped, whatever it holds.
      expect((await push(Buffer.from('junk').toString('base64'), { tallyReplayTarget: 'webhook-dispatcher' })).status).toBeLessThan(300);
      expect((await push(Buffer.from('junk').toString('base64'), { tallyReplayTarget: 'analytics-sink' })).status).toBe(500);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
