/**
 * `analyticsMaintenance` (ADR 0029 decision 9): the monthly scheduler tick that applies the
 * analytics retention, against the real ClickHouse 18.16 server in a database of its own. Through
 * the Functions Framework entry as deployed (a Pub/Sub push request of the tick): months older than
 * the retention are dropped, the current month is kept, and a redelivered tick changes nothing
 * (idempotent). A run stopped at its bound fails the delivery (so the tick is redelivered) after its
 * drops, and the next delivery finishes. Terraform's job, function and subscription are checked in
 * test/terraform.test.ts.
 */
import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClickHouseAnalyticsEventStore } from '../functions/src/adapters/clickhouse/analytics-event-store.js';
import { createClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import { createAnalyticsMaintenanceHandler, RetentionBoundReachedError } from '../functions/src/handlers/pubsub/analytics-maintenance.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { createLogger } from '../functions/src/platform/telemetry/logger.js';
import type { AnalyticsEvent } from '../functions/src/ports/analytics-events.js';
import { systemClock } from '../functions/src/ports/clock.js';

const database = `maint_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const config = { ...parseConfig({ TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') }).clickhouse, database };
const client = createClickHouseClient(config);
const nowMs = Date.now();
const currentMonth = new Date(nowMs).toISOString().slice(0, 7).replace('-', '');

const paymentCreated = (id: string, occurredAtMs: number): AnalyticsEvent => ({
  eventId: `evt_${id}_1_payment_created`, type: 'payment.created', tenantId: 'ten_maintenance', aggregateId: id, occurredAtMs, traceId: '', spanId: '', messageId: `m_${id}`,
  payloadJson: JSON.stringify({
    status: 'processing', amountMinor: '100', currency: 'EUR',
    payment: { version: 1, status: 'processing', psp: '', amountMinor: '100', currency: 'EUR', amountAuthorizedMinor: '0', amountCapturedMinor: '0', amountRefundedMinor: '0', amountChargedBackMinor: '0', feeMinor: '0', declineReason: '', createdAtMs: occurredAtMs },
  }),
});

/** Seeds two months far older than 7 years (2010-01, 2010-02) and one in the current month. */
async function seed(): Promise<void> {
  const store = createClickHouseAnalyticsEventStore(client, systemClock);
  const events = [paymentCreated(`jan_${randomUUID().slice(0, 6)}`, Date.UTC(2010, 0, 15)), paymentCreated(`feb_${randomUUID().slice(0, 6)}`, Date.UTC(2010, 1, 15)), paymentCreated(`now_${randomUUID().slice(0, 6)}`, nowMs)];
  await store.insert(events.map((e) => store.prepare(e)));
}

/** Months (YYYYMM) holding rows, per table. */
async function monthsByTable(): Promise<Record<string, string[]>> {
  const rows = await (await client.query({
    query: `SELECT table, partition_id AS p FROM system.parts WHERE database = currentDatabase() AND active AND table != 'schema_migrations' GROUP BY table, partition_id ORDER BY table, partition_id`,
    format: 'JSONEachRow',
  })).json<{ table: string; p: string }>();
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.table] ??= []).push(r.p);
  return out;
}

beforeAll(async () => {
  await migrate(config);
});
afterAll(async () => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

describe('analyticsMaintenance: the monthly retention tick', () => {
  it('a tick pushed to the registered function drops the months older than 7 years and keeps the current one; a redelivered tick changes nothing', async () => {
    await seed();
    expect(await monthsByTable()).toEqual({ events: ['201001', '201002', currentMonth], payment_events: ['201001', '201002', currentMonth], payment_snapshots: ['201001', '201002', currentMonth] });
    await import('../functions/src/index.js');
    const server = getTestServer('analyticsMaintenance');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The function composes its ClickHouse client from the environment at its first request.
    process.env.TALLY_CLICKHOUSE_DATABASE = database;
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/projects/demo/topics/ticks-analytics`;
      const tick = (messageId: string) => fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: { data: Buffer.from('tick').toString('base64'), messageId, publishTime: new Date().toISOString() }, subscription: 'projects/demo/subscriptions/analytics-maintenance' }),
      });
      expect((await tick('1')).status).toBeLessThan(300);
      const kept = { events: [currentMonth], payment_events: [currentMonth], payment_snapshots: [currentMonth] };
      expect(await monthsByTable()).toEqual(kept);
      // The same tick again (a redelivery): nothing left to drop, acked.
      expect((await tick('1')).status).toBeLessThan(300);
      expect(await monthsByTable()).toEqual(kept);
    } finally {
      delete process.env.TALLY_CLICKHOUSE_DATABASE;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a run stopped at its bound drops that many, then fails (the tick is redelivered); the next delivery finishes', async () => {
    await seed();
    const logged: { message: string; fields: Record<string, unknown> }[] = [];
    const logger = createLogger({ projectId: 'demo', level: 'INFO', write: (line) => { const { message, ...fields } = JSON.parse(line) as { message: string }; logged.push({ message, fields }); } });
    const handler = (partitionsMax: number) => createAnalyticsMaintenanceHandler({ client, logger, nowMs: () => nowMs, partitionsMax });
    const event = { specversion: '1.0', id: 'tick-1', type: 'google.cloud.pubsub.topic.v1.messagePublished', source: 'test' } as const;
    await expect(handler(4)(event)).rejects.toThrow(RetentionBoundReachedError);
    expect(logged.at(-1)).toMatchObject({ message: 'analytics retention: stopped at its bound with partitions left; the tick is redelivered to continue', fields: { dropped: 4, remaining: 2, partitionsMax: 4 } });
    expect(logged.filter((l) => l.message === 'analytics retention: dropping partition').map((l) => `${l.fields.table}/${l.fields.partition}`))
      .toEqual(['events/201001', 'payment_events/201001', 'payment_snapshots/201001', 'events/201002']);
    const done = await handler(4)(event);
    expect(done).toMatchObject({ partitions: [{ table: 'payment_events', partition: '201002' }, { table: 'payment_snapshots', partition: '201002' }], remaining: 0 });
    expect(await monthsByTable()).toEqual({ events: [currentMonth], payment_events: [currentMonth], payment_snapshots: [currentMonth] });
  });
});
