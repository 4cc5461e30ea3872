/**
 * Query parameters on both ClickHouse versions Tally meets (issue 13 item 5, "parameters bound,
 * never concatenated into SQL"; ADR 0029 decision 8). Every statement taking an outside value is a
 * `{name:Type}` template plus values (functions/src/adapters/clickhouse/sql-query.ts):
 * - Debian's 18.16 server (the test stack's) has no query parameters: the adapter must choose the
 *   rendered path there, and every supported Type must read back exactly through it;
 * - current ClickHouse (chdb 3.4 embeds 26.x, plugged into @clickhouse/client, whose `query_params`
 *   it binds server-side) is production's case: the adapter must choose the bound path, send no
 *   value in the SQL text, and the real report queries must give the same rows bound as rendered.
 * A tenant id full of SQL syntax (quotes, backslashes, a placeholder) is used throughout: it must
 * select exactly its own rows on both paths.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClickHouseAnalyticsEventStore } from '../functions/src/adapters/clickhouse/analytics-event-store.js';
import { createClickHouseAnalyticsReader, reportQueries } from '../functions/src/adapters/clickhouse/analytics-reader.js';
import { createClickHouseClient, type ClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { applyMigrations, loadMigrations, migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import { applyAnalyticsRetention } from '../functions/src/adapters/clickhouse/retention.js';
import { parameterMode, queryRows, renderSql, type SqlClient, type SqlQuery } from '../functions/src/adapters/clickhouse/sql-query.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import type { AnalyticsEvent } from '../functions/src/ports/analytics-events.js';
import type { LedgerVolumeRow, PaymentVolumeRow, ReportRows } from '../functions/src/ports/analytics-reader.js';
import type { Clock } from '../functions/src/ports/clock.js';

const dayMs = 86_400_000;
const day1Ms = Date.UTC(2026, 10, 2);
const hostileTenant = "ten_o'brien\\'; DROP TABLE events; --{tenantId:String}\n\0";
const plainTenant = `ten_${randomUUID()}`;

const hostileStrings = [
  ...fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 100, seed: 5 }),
  '', "'", "\\'", '\\', 'a\\', '\0', '\u0000x', '\n\r\t', "'; DROP TABLE events; --", '{x:String}', '{s0:String}', '}{', 'é😀\u202e', hostileTenant,
];

/** Every supported Type with values at its edges, and what the server must answer for each. */
function everyType(): { query: SqlQuery; expected: Record<string, unknown> } {
  const strings = Object.fromEntries(hostileStrings.map((v, i) => [`s${i}`, v]));
  const ints = {
    i8: [-128, 'Int8'], u8: [255, 'UInt8'], i16: [-32_768, 'Int16'], u16: [65_535, 'UInt16'], i32: [-(2 ** 31), 'Int32'], u32: [2 ** 32 - 1, 'UInt32'],
    i64lo: [-(2n ** 63n), 'Int64'], i64hi: [2n ** 63n - 1n, 'Int64'], u64: [2n ** 63n - 1n, 'UInt64'], offset: [0, 'UInt64'],
  } as const;
  const columns = [
    ...hostileStrings.map((_v, i) => `{s${i}:String} AS s${i}`),
    ...Object.entries(ints).map(([name, [, type]]) => `toString({${name}:${type}}) AS ${name}`),
    'toUnixTimestamp({t:DateTime}) AS t', 'toUnixTimestamp({t0:DateTime}) AS t0', 'toUnixTimestamp({tMax:DateTime}) AS tMax',
    '{tables:Array(String)} AS tables', 'length({none:Array(String)}) AS none',
  ];
  return {
    query: {
      sql: `SELECT ${columns.join(', ')}`,
      params: { ...strings, ...Object.fromEntries(Object.entries(ints).map(([name, [value]]) => [name, value])), t: 1_700_000_000, t0: 0, tMax: 2 ** 32 - 1, tables: hostileStrings.slice(-6), none: [] },
    },
    expected: {
      ...strings, ...Object.fromEntries(Object.entries(ints).map(([name, [value]]) => [name, String(value)])),
      t: 1_700_000_000, t0: 0, tMax: 2 ** 32 - 1, tables: hostileStrings.slice(-6), none: 0,
    },
  };
}
/** 64-bit integers come back quoted; compare numbers as numbers. */
const normalized = (row: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, ['t', 't0', 'tMax', 'none'].includes(k) ? Number(v) : v]));

/** A few events for two tenants: payments (one refunded) and a ledger entry each. */
function events(): AnalyticsEvent[] {
  const snapshot = (version: number, status: string, amountMinor: string, currency: string, createdAtMs: number, extra: Record<string, string> = {}) => ({
    version, status, psp: 'sandbox', amountMinor, currency, amountAuthorizedMinor: '0', amountCapturedMinor: '0', amountRefundedMinor: '0',
    amountChargedBackMinor: '0', feeMinor: '0', declineReason: '', createdAtMs, ...extra,
  });
  const out: AnalyticsEvent[] = [];
  for (const [n, tenant] of [[1, hostileTenant], [2, plainTenant]] as const) {
    const ev = (aggregateId: string, eventId: string, type: string, occurredAtMs: number, payload: unknown): AnalyticsEvent => ({
      eventId, type, tenantId: tenant, aggregateId, occurredAtMs, traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), payloadJson: JSON.stringify(payload), messageId: `m_${eventId}`,
    });
    const t1 = day1Ms + 3_600_000 * n;
    const t2 = day1Ms + dayMs + 3_600_000 * n;
    const paid = { amountAuthorizedMinor: String(1000 * n), amountCapturedMinor: String(1000 * n), feeMinor: '30' };
    out.push(
      ev(`pay_a${n}`, `evt_pay_a${n}_1_payment_created`, 'payment.created', t1, { status: 'processing', amountMinor: String(1000 * n), currency: 'EUR', payment: snapshot(1, 'processing', String(1000 * n), 'EUR', t1) }),
      ev(`pay_a${n}`, `evt_pay_a${n}_2_payment_status_changed`, 'payment.status_changed', t1 + 1_000, { from: 'processing', to: 'succeeded', payment: snapshot(2, 'succeeded', String(1000 * n), 'EUR', t1, paid) }),
      ev(`pay_a${n}`, `evt_pay_a${n}_3_refund`, 'payment.refund_succeeded', t2, { refundId: `re_${n}`, amountMinor: '100', payment: snapshot(3, 'succeeded', String(1000 * n), 'EUR', t1, { ...paid, amountRefundedMinor: '100' }) }),
      ev(`pay_b${n}`, `evt_pay_b${n}_1_payment_created`, 'payment.created', t2, { status: 'failed', amountMinor: '700', currency: 'USD', payment: snapshot(1, 'failed', '700', 'USD', t2, { declineReason: 'card_declined' }) }),
      ev(`je_${n}`, `evt_je_${n}`, 'ledger.entry.posted', t1, { entryId: `je_${n}`, recordId: `je_${n}`, postings: [{ accountId: 'acc_cash', direction: 'debit', amountMinor: String(50 * n), currency: 'EUR' }, { accountId: 'acc_rev', direction: 'credit', amountMinor: String(50 * n), currency: 'EUR' }] }),
    );
  }
  return out;
}

const report = { tenantId: hostileTenant, startMs: day1Ms, endMs: day1Ms + 2 * dayMs, offset: 0, limit: 100 };
const expectedPayments: PaymentVolumeRow[] = [
  { day: '2026-11-02', status: 'succeeded', currency: 'EUR', psp: 'sandbox', paymentCount: 1n, grossMinor: 1000n, capturedMinor: 1000n, refundedMinor: 100n, disputedMinor: 0n, feeMinor: 30n, authorizationAttempts: 1n, authorized: 1n },
  { day: '2026-11-03', status: 'failed', currency: 'USD', psp: 'sandbox', paymentCount: 1n, grossMinor: 700n, capturedMinor: 0n, refundedMinor: 0n, disputedMinor: 0n, feeMinor: 0n, authorizationAttempts: 1n, authorized: 0n },
];
const expectedLedger: LedgerVolumeRow[] = [
  { accountId: 'acc_cash', currency: 'EUR', debitMinor: 50n, creditMinor: 0n, postingCount: 1n },
  { accountId: 'acc_rev', currency: 'EUR', debitMinor: 0n, creditMinor: 50n, postingCount: 1n },
];

async function writeEvents(client: ClickHouseClient): Promise<void> {
  let nowMs = 1;
  const clock: Clock = { nowMs: () => nowMs++ };
  const store = createClickHouseAnalyticsEventStore(client, clock);
  await store.insert(events().map((e) => store.prepare(e)));
}

/** Wraps a client to record what each statement sent. */
function recording(client: ClickHouseClient): { client: SqlClient; sent: { query: string; query_params?: Record<string, unknown> }[] } {
  const sent: { query: string; query_params?: Record<string, unknown> }[] = [];
  return {
    sent,
    client: {
      query: ((params: Parameters<ClickHouseClient['query']>[0]) => { sent.push({ query: params.query, ...(params.query_params ? { query_params: params.query_params } : {}) }); return client.query(params); }) as SqlClient['query'],
      command: (params) => { sent.push({ query: params.query, ...(params.query_params ? { query_params: params.query_params } : {}) }); return client.command(params); },
    },
  };
}

describe('ClickHouse 18.16 (Debian server, the test stack): the rendered path', () => {
  const database = `qp_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const config = { ...parseConfig({ TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') }).clickhouse, database };
  let client: ClickHouseClient;
  beforeAll(async () => {
    await migrate(config);
    client = createClickHouseClient(config);
    await writeEvents(client);
  });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await client.close();
  });

  it('is chosen from the server version, and every supported Type reads back exactly through it', async () => {
    expect(await parameterMode(client)).toBe('rendered');
    const { query, expected } = everyType();
    const [row] = await queryRows<Record<string, unknown>>(client, query);
    expect(normalized(row!)).toEqual(expected);
  });

  it('the report reader sends rendered SQL (no query_params) and reads exactly the hostile tenant\'s rows', async () => {
    const { client: spy, sent } = recording(client);
    const reader = createClickHouseAnalyticsReader(spy, { queryTimeoutMs: 10_000 });
    expect((await reader.paymentVolume(report)).rows).toEqual(expectedPayments);
    expect((await reader.ledgerVolume(report)).rows).toEqual(expectedLedger);
    const statements = sent.filter((s) => !s.query.startsWith('SELECT version()'));
    expect(statements).toHaveLength(4);
    for (const s of statements) {
      expect(s.query_params).toBeUndefined();
      expect([reportQueries.paymentVolume(report), reportQueries.ledgerVolume(report), reportQueries.dataAsOf(report.tenantId)].map(renderSql)).toContain(s.query);
    }
  });
});

describe('current ClickHouse (chdb 26.x, embedded): the bound path, as in production', () => {
  let client: ClickHouseClient;
  beforeAll(async () => {
    // As test/clickhouse-versions.test.ts: chdb's Connection is typed against its own copy of client-common.
    const connection = createChdbConnection({ path: ':memory:' }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
    client = createClient({ connection, clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
    await applyMigrations(client, loadMigrations());
    await writeEvents(client);
  });
  afterAll(async () => { await client.close(); });

  it('is chosen from the server version, and every supported Type reads back exactly, bound and rendered alike', async () => {
    expect(await parameterMode(client)).toBe('bound');
    const { query, expected } = everyType();
    const { client: spy, sent } = recording(client);
    const [bound] = await queryRows<Record<string, unknown>>(spy, query);
    expect(sent.at(-1)!.query).toBe(query.sql);
    expect(sent.at(-1)!.query_params).toBeDefined();
    expect(normalized(bound!)).toEqual(expected);
    const [rendered] = await (await client.query({ query: renderSql(query), format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(normalized(rendered!)).toEqual(expected);
  });

  it('each report query gives the same rows bound as rendered, for several periods and pages', async () => {
    const periods = [report, { ...report, endMs: day1Ms + dayMs }, { ...report, offset: 1, limit: 1 }, { ...report, tenantId: plainTenant }, { ...report, tenantId: 'ten_none' }];
    let nonEmpty = 0;
    const { client: spy, sent } = recording(client);
    for (const q of periods) {
      for (const query of [reportQueries.paymentVolume(q), reportQueries.ledgerVolume(q), reportQueries.dataAsOf(q.tenantId)]) {
        const bound = await queryRows<Record<string, unknown>>(spy, query);
        expect(sent.at(-1)).toEqual({ query: query.sql, query_params: expect.objectContaining({ tenantId: q.tenantId }) });
        const rendered = await (await client.query({ query: renderSql(query), format: 'JSONEachRow' })).json<Record<string, unknown>>();
        expect(bound).toEqual(rendered);
        if (bound.length > 0 && bound[0]!.n !== '0') nonEmpty += 1;
      }
    }
    expect(nonEmpty).toBeGreaterThanOrEqual(10);
  });

  it('retention drops an expired month through a bound ALTER ... DROP PARTITION', async () => {
    const { client: spy, sent } = recording(client);
    const nowMs = Date.UTC(2034, 0, 15);
    const result = await applyAnalyticsRetention(spy as ClickHouseClient, { nowMs, retentionMonths: 84, dryRun: false, partitionsMax: 120 });
    expect(result.partitions.map((p) => `${p.table}/${p.partition}`).sort()).toEqual(['events/202611', 'ledger_postings/202611', 'payment_events/202611', 'payment_snapshots/202611', 'refunds/202611']);
    const drops = sent.filter((s) => s.query.startsWith('ALTER'));
    expect(drops).toHaveLength(5);
    for (const d of drops) expect(d).toMatchObject({ query: expect.stringMatching(/DROP PARTITION \{partition:UInt32\}$/), query_params: { partition: 202_611 } });
    const [left] = await (await client.query({ query: 'SELECT count() AS n FROM events', format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(left!.n)).toBe(0);
    // Put the rows back for the reader's test below.
    await writeEvents(client);
  });

  // Last: the reader's readonly=1 becomes a session SET on chdb (no per-request settings).
  it('the report reader sends the constant templates with bound values (none in the SQL text) and reads exactly the hostile tenant\'s rows', async () => {
    const { client: spy, sent } = recording(client);
    const reader = createClickHouseAnalyticsReader(spy, { queryTimeoutMs: 10_000 });
    const payments: ReportRows<PaymentVolumeRow> = await reader.paymentVolume(report);
    expect(payments.rows).toEqual(expectedPayments);
    expect((await reader.ledgerVolume(report)).rows).toEqual(expectedLedger);
    const statements = sent.filter((s) => !s.query.startsWith('SELECT version()'));
    expect(statements).toHaveLength(4);
    for (const s of statements) {
      expect(s.query_params).toMatchObject({ tenantId: hostileTenant });
      expect(s.query).not.toContain('brien');
      expect([reportQueries.paymentVolume(report).sql, reportQueries.ledgerVolume(report).sql, reportQueries.dataAsOf(report.tenantId).sql]).toContain(s.query);
    }
  });
});
