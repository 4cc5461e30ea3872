/**
 * `npx tally analytics retention` against the real ClickHouse 18.16 server (issue 13 item 3, ADR
 * 0029 decision 9): monthly partitions of the analytics tables older than the retention are dropped
 * whole (18.16 has no TTL clause), at most --partitions-max per run with exit 3 when some are left,
 * each drop logged; a dry run changes nothing; younger months, including the one partly inside the
 * retention, keep every row.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClickHouseAnalyticsEventStore } from '../functions/src/adapters/clickhouse/analytics-event-store.js';
import { createClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import type { RetentionResult } from '../functions/src/adapters/clickhouse/retention.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import type { AnalyticsEvent } from '../functions/src/ports/analytics-events.js';
import { systemClock } from '../functions/src/ports/clock.js';
import { parseJson, runCli } from './support/cli-runner.js';

const database = `ret_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const config = { ...parseConfig({ TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') }).clickhouse, database };
const client = createClickHouseClient(config);
/** 7 years back from here keeps December 2019 on: 201910 and 201911 are expired. */
const now = '2026-12-07T00:00:00Z';

const paymentCreated = (id: string, occurredAt: string): AnalyticsEvent => {
  const occurredAtMs = Date.parse(occurredAt);
  return {
    eventId: `evt_${id}_1_payment_created`, type: 'payment.created', tenantId: 'ten_retention', aggregateId: id, occurredAtMs, traceId: '', spanId: '', messageId: `m_${id}`,
    payloadJson: JSON.stringify({
      status: 'processing', amountMinor: '100', currency: 'EUR',
      payment: { version: 1, status: 'processing', psp: '', amountMinor: '100', currency: 'EUR', amountAuthorizedMinor: '0', amountCapturedMinor: '0', amountRefundedMinor: '0', amountChargedBackMinor: '0', feeMinor: '0', declineReason: '', createdAtMs: occurredAtMs },
    }),
  };
};
const entryPosted = (id: string, occurredAt: string): AnalyticsEvent => ({
  eventId: `evt_${id}`, type: 'ledger.entry.posted', tenantId: 'ten_retention', aggregateId: id, occurredAtMs: Date.parse(occurredAt), traceId: '', spanId: '', messageId: `m_${id}`,
  payloadJson: JSON.stringify({ entryId: id, recordId: id, postings: [{ accountId: 'acc_a', direction: 'debit', amountMinor: '1', currency: 'EUR' }, { accountId: 'acc_b', direction: 'credit', amountMinor: '1', currency: 'EUR' }] }),
});

beforeAll(async () => {
  await migrate(config);
  const store = createClickHouseAnalyticsEventStore(client, systemClock);
  const events = [
    paymentCreated('pay_oct_a', '2019-10-01T00:00:00Z'), paymentCreated('pay_oct_b', '2019-10-31T23:59:59Z'), entryPosted('je_oct', '2019-10-15T12:00:00Z'),
    paymentCreated('pay_nov', '2019-11-30T23:59:59Z'),
    // December 2019 is partly inside the 7 years (from 2019-12-07): kept whole.
    paymentCreated('pay_dec', '2019-12-01T00:00:00Z'), entryPosted('je_dec', '2019-12-02T00:00:00Z'),
    paymentCreated('pay_now', '2026-11-15T08:00:00Z'),
  ];
  await store.insert(events.map((e) => store.prepare(e)));
});
afterAll(async () => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

/** Rows per table and month (YYYYMM), as the data stands. */
async function monthsByTable(): Promise<Record<string, Record<string, number>>> {
  const rows = await (await client.query({
    query: `SELECT table, partition_id AS p, sum(rows) AS n FROM system.parts WHERE database = currentDatabase() AND active AND table != 'schema_migrations' GROUP BY table, partition_id ORDER BY table, partition_id`,
    format: 'JSONEachRow',
  })).json<{ table: string; p: string; n: string }>();
  const out: Record<string, Record<string, number>> = {};
  for (const r of rows) (out[r.table] ??= {})[r.p] = Number(r.n);
  return out;
}

async function retention(args: string[]) {
  process.env.TALLY_CLICKHOUSE_DATABASE = database;
  try {
    return await runCli(['analytics', 'retention', '--now', now, ...args]);
  } finally {
    delete process.env.TALLY_CLICKHOUSE_DATABASE;
  }
}

const expired = [
  { table: 'events', partition: '201910', rows: 3 }, { table: 'ledger_postings', partition: '201910', rows: 2 },
  { table: 'payment_events', partition: '201910', rows: 2 }, { table: 'payment_snapshots', partition: '201910', rows: 2 },
  { table: 'events', partition: '201911', rows: 1 }, { table: 'payment_events', partition: '201911', rows: 1 }, { table: 'payment_snapshots', partition: '201911', rows: 1 },
];

describe('npx tally analytics retention', () => {
  it('drops whole months older than 7 years, bounded per run (exit 3, then the next run finishes), logging each drop; a dry run drops nothing', async () => {
    const before = await monthsByTable();
    expect(before).toEqual({
      events: { 201910: 3, 201911: 1, 201912: 2, 202611: 1 },
      ledger_postings: { 201910: 2, 201912: 2 },
      payment_events: { 201910: 2, 201911: 1, 201912: 1, 202611: 1 },
      payment_snapshots: { 201910: 2, 201911: 1, 201912: 1, 202611: 1 },
    });

    const dry = parseJson<RetentionResult>(await retention(['--dry-run', '--json']));
    expect(dry).toEqual({ database, keepFromMonth: '201912', retentionMonths: 84, dryRun: true, partitions: expired, remaining: 0 });
    expect(await monthsByTable()).toEqual(before);

    // The bound: three partitions this run, oldest first; exit 3 says more are left.
    const bounded = await retention(['--partitions-max', '3']);
    expect(bounded.code, bounded.stderr).toBe(3);
    expect(bounded.stdout).toContain(`3 partitions dropped (months before 201912, retention 84 months, ${database}`);
    expect(bounded.stdout).toContain('4 more beyond --partitions-max 3: run again');
    expect(bounded.stderr.trim().split('\n')).toEqual(expired.slice(0, 3).map((p) => `analytics retention: dropping ${database}.${p.table} partition ${p.partition} (${p.rows} rows)`));

    const rest = parseJson<RetentionResult>(await retention(['--json']));
    expect(rest).toMatchObject({ dryRun: false, partitions: expired.slice(3), remaining: 0 });
    expect(await monthsByTable()).toEqual({
      events: { 201912: 2, 202611: 1 },
      ledger_postings: { 201912: 2 },
      payment_events: { 201912: 1, 202611: 1 },
      payment_snapshots: { 201912: 1, 202611: 1 },
    });
    // Nothing left to drop: a further run is a no-op.
    expect(parseJson<RetentionResult>(await retention(['--json']))).toMatchObject({ partitions: [], remaining: 0 });
  });

  it('refuses a retention or bound that is not a positive integer, and a --now that is not a time (exit 1, nothing dropped)', async () => {
    const before = await monthsByTable();
    const cases: [string[], RegExp][] = [
      [['--retention-months', '0'], /--retention-months: expected a positive integer, got 0/],
      [['--partitions-max', '-1'], /--partitions-max: expected a positive integer, got -1/],
      [['--retention-months', '7y'], /--retention-months: expected a positive integer, got 7y/],
      [['--now', 'yesterday'], /--now: yesterday is not an ISO 8601 time/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['analytics', 'retention', ...args])));
    results.forEach((refused, i) => {
      expect(refused.code, cases[i]![0].join(' ')).toBe(1);
      expect(refused.stderr).toMatch(cases[i]![1]);
    });
    expect(await monthsByTable()).toEqual(before);
  });
});
