/**
 * The analytics schema and reports on both ClickHouse versions Tally meets (issue 13 item 4, ADR
 * 0029): Debian 12's clickhouse-server 18.16 (the test stack's server, used locally) and current
 * ClickHouse (26.x, embedded in-process by the `chdb` package, plugged into the same
 * `@clickhouse/client` through `chdb/connection`). On each: every migration file is applied through
 * `applyMigrations` (the code path of `npx tally analytics migrate`), a few events are written
 * through the sink's own event store twice over (separate inserts, merges stopped, so the copies sit
 * in separate unmerged parts), and the AnalyticsService reader's queries must give the same exact
 * answers on both. chdb is not a server: it has one `default` database per process (the client's
 * `database` setting is not applied), so the migrations go there instead of a scratch database.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createClickHouseAnalyticsEventStore } from '../functions/src/adapters/clickhouse/analytics-event-store.js';
import { createClickHouseAnalyticsReader } from '../functions/src/adapters/clickhouse/analytics-reader.js';
import { createClickHouseClient, type ClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { analyticsTables } from '../functions/src/adapters/clickhouse/event-rows.js';
import { applyMigrations, loadMigrations, migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import { queryRows } from '../functions/src/adapters/clickhouse/sql-query.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import type { AnalyticsEvent } from '../functions/src/ports/analytics-events.js';
import type { Clock } from '../functions/src/ports/clock.js';

const dayMs = 86_400_000;
const day1Ms = Date.UTC(2026, 10, 2);
const day2Ms = day1Ms + dayMs;

interface Engine { client: ClickHouseClient; close: () => Promise<void> }

/** Debian's 18.16 server, a scratch database migrated by `migrate` (as `npx tally analytics migrate`). */
async function serverEngine(): Promise<Engine> {
  const database = `ver_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const config = { ...parseConfig({ TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') }).clickhouse, database };
  await migrate(config);
  const client = createClickHouseClient(config);
  return { client, close: async () => { await client.command({ query: `DROP DATABASE IF EXISTS ${database}` }); await client.close(); } };
}

/** Current ClickHouse in-process; the same client settings as createClickHouseClient where they apply. */
async function chdbEngine(): Promise<Engine> {
  // chdb types its Connection against its own copy of @clickhouse/client-common (the same interface).
  const connection = createChdbConnection({ path: ':memory:' }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const client = createClient({ connection, clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
  await applyMigrations(client, loadMigrations());
  return { client, close: () => client.close() };
}

/** A payment snapshot as app/payments/transitions.ts writes it into payment.* events. */
const snapshot = (s: { version: number; status: string; amountMinor: string; currency: string; authorized?: string; captured?: string; refunded?: string; chargedBack?: string; fee?: string; decline?: string; createdAtMs: number }) => ({
  version: s.version, status: s.status, psp: 'sandbox', amountMinor: s.amountMinor, currency: s.currency,
  amountAuthorizedMinor: s.authorized ?? '0', amountCapturedMinor: s.captured ?? '0', amountRefundedMinor: s.refunded ?? '0',
  amountChargedBackMinor: s.chargedBack ?? '0', feeMinor: s.fee ?? '0', declineReason: s.decline ?? '', createdAtMs: s.createdAtMs,
});

function scenario(tenantId: string, otherTenantId: string): AnalyticsEvent[] {
  const event = (tenant: string, aggregateId: string, eventId: string, type: string, occurredAtMs: number, payload: unknown): AnalyticsEvent => ({
    eventId, type, tenantId: tenant, aggregateId, occurredAtMs, traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), payloadJson: JSON.stringify(payload), messageId: `m_${eventId}`,
  });
  const t1 = day1Ms + 10 * 3_600_000;
  const t2 = day2Ms + 9 * 3_600_000;
  return [
    // pay_1: EUR 10.00 captured, 2.00 refunded, fee 0.30.
    event(tenantId, 'pay_1', 'evt_pay_1_1_payment_created', 'payment.created', t1, { status: 'processing', amountMinor: '1000', currency: 'EUR', payment: snapshot({ version: 1, status: 'processing', amountMinor: '1000', currency: 'EUR', createdAtMs: t1 }) }),
    event(tenantId, 'pay_1', 'evt_pay_1_2_payment_status_changed', 'payment.status_changed', t1 + 1_000, { from: 'processing', to: 'succeeded', payment: snapshot({ version: 2, status: 'succeeded', amountMinor: '1000', currency: 'EUR', authorized: '1000', captured: '1000', fee: '30', createdAtMs: t1 }) }),
    event(tenantId, 'pay_1', 'evt_pay_1_3_refund', 'payment.refund_succeeded', t2, { refundId: 're_1', amountMinor: '200', payment: snapshot({ version: 3, status: 'succeeded', amountMinor: '1000', currency: 'EUR', authorized: '1000', captured: '1000', refunded: '200', fee: '30', createdAtMs: t1 }) }),
    // pay_2: EUR 7.00 declined.
    event(tenantId, 'pay_2', 'evt_pay_2_1_payment_created', 'payment.created', t1 + 5_000, { status: 'processing', amountMinor: '700', currency: 'EUR', payment: snapshot({ version: 1, status: 'processing', amountMinor: '700', currency: 'EUR', createdAtMs: t1 + 5_000 }) }),
    event(tenantId, 'pay_2', 'evt_pay_2_2_payment_status_changed', 'payment.status_changed', t1 + 6_000, { from: 'processing', to: 'failed', payment: snapshot({ version: 2, status: 'failed', amountMinor: '700', currency: 'EUR', decline: 'card_declined', createdAtMs: t1 + 5_000 }) }),
    // pay_3: USD 5.00 captured on day 2, then charged back in full.
    event(tenantId, 'pay_3', 'evt_pay_3_1_payment_created', 'payment.created', t2, { status: 'succeeded', amountMinor: '500', currency: 'USD', payment: snapshot({ version: 1, status: 'succeeded', amountMinor: '500', currency: 'USD', authorized: '500', captured: '500', fee: '15', createdAtMs: t2 }) }),
    event(tenantId, 'pay_3', 'evt_pay_3_2_chargeback', 'payment.chargeback', t2 + 60_000, { amountMinor: '500', payment: snapshot({ version: 2, status: 'succeeded', amountMinor: '500', currency: 'USD', authorized: '500', captured: '500', chargedBack: '500', fee: '15', createdAtMs: t2 }) }),
    // The ledger: one posted entry, one pending entry posted for less than it held.
    event(tenantId, 'je_1', 'evt_je_1', 'ledger.entry.posted', t1, { entryId: 'je_1', recordId: 'je_1', postings: [{ accountId: 'acc_cash', direction: 'debit', amountMinor: '1000', currency: 'EUR' }, { accountId: 'acc_rev', direction: 'credit', amountMinor: '1000', currency: 'EUR' }] }),
    event(tenantId, 'je_2', 'evt_je_2', 'ledger.entry.pending', t1, { entryId: 'je_2', recordId: 'je_2', postings: [{ accountId: 'acc_a', direction: 'debit', amountMinor: '300', currency: 'USD' }, { accountId: 'acc_b', direction: 'credit', amountMinor: '300', currency: 'USD' }] }),
    event(tenantId, 'je_2', 'evt_je_2_posted', 'ledger.pending.posted', t2, { entryId: 'je_2', recordId: 'je_2.resolution', postedAmountsMinor: ['250', '250'] }),
    // Another tenant's payment and entry on the same days: never in this tenant's report.
    event(otherTenantId, 'pay_9', 'evt_pay_9_1_payment_created', 'payment.created', t1, { status: 'succeeded', amountMinor: '99900', currency: 'EUR', payment: snapshot({ version: 1, status: 'succeeded', amountMinor: '99900', currency: 'EUR', authorized: '99900', captured: '99900', createdAtMs: t1 }) }),
    event(otherTenantId, 'je_9', 'evt_je_9', 'ledger.entry.posted', t1, { entryId: 'je_9', recordId: 'je_9', postings: [{ accountId: 'acc_cash', direction: 'debit', amountMinor: '5', currency: 'EUR' }, { accountId: 'acc_rev', direction: 'credit', amountMinor: '5', currency: 'EUR' }] }),
  ];
}

const expectedPaymentVolume = [
  { day: '2026-11-02', status: 'failed', currency: 'EUR', psp: 'sandbox', paymentCount: 1n, grossMinor: 700n, capturedMinor: 0n, refundedMinor: 0n, disputedMinor: 0n, feeMinor: 0n, authorizationAttempts: 1n, authorized: 0n },
  { day: '2026-11-02', status: 'succeeded', currency: 'EUR', psp: 'sandbox', paymentCount: 1n, grossMinor: 1000n, capturedMinor: 1000n, refundedMinor: 200n, disputedMinor: 0n, feeMinor: 30n, authorizationAttempts: 1n, authorized: 1n },
  { day: '2026-11-03', status: 'succeeded', currency: 'USD', psp: 'sandbox', paymentCount: 1n, grossMinor: 500n, capturedMinor: 500n, refundedMinor: 0n, disputedMinor: 500n, feeMinor: 15n, authorizationAttempts: 1n, authorized: 1n },
];
const expectedLedgerVolume = [
  { accountId: 'acc_a', currency: 'USD', debitMinor: 250n, creditMinor: 0n, postingCount: 1n },
  { accountId: 'acc_b', currency: 'USD', debitMinor: 0n, creditMinor: 250n, postingCount: 1n },
  { accountId: 'acc_cash', currency: 'EUR', debitMinor: 1000n, creditMinor: 0n, postingCount: 1n },
  { accountId: 'acc_rev', currency: 'EUR', debitMinor: 0n, creditMinor: 1000n, postingCount: 1n },
];

const engines: [string, () => Promise<Engine>][] = [
  ['ClickHouse 18.16 (Debian server, the test stack)', serverEngine],
  ['current ClickHouse (chdb, embedded)', chdbEngine],
];

describe.each(engines)('analytics schema and reports on %s', (_name, open) => {
  let engine: Engine | undefined;
  afterAll(async () => { await engine?.close(); });

  it('applies every migration, and the report queries answer exactly over events written twice into unmerged parts', async () => {
    engine = await open();
    const { client } = engine;
    const tables = await (await client.query({ query: 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name', format: 'JSONEachRow' })).json<{ name: string }>();
    expect(tables.map((t) => t.name)).toEqual([...analyticsTables, 'schema_migrations'].sort());
    const recorded = await (await client.query({ query: 'SELECT version FROM schema_migrations ORDER BY version', format: 'JSONEachRow' })).json<{ version: number }>();
    expect(recorded.map((r) => Number(r.version))).toEqual(loadMigrations().map((m) => m.version));
    // A second run applies nothing (idempotent on this version too).
    expect(await applyMigrations(client, loadMigrations())).toEqual({ applied: [], alreadyApplied: loadMigrations().length });

    const tenantId = `ten_${randomUUID()}`;
    const events = scenario(tenantId, `ten_${randomUUID()}`);
    let nowMs = 1;
    const clock: Clock = { nowMs: () => nowMs++ };
    const store = createClickHouseAnalyticsEventStore(client, clock);
    // Every event written twice, each write its own parts; merges held so that the reads below
    // really run before a merge (ReplacingMergeTree has not collapsed anything yet). They are not
    // started again: the engine's database is dropped (server) or discarded (chdb) by close().
    for (const table of analyticsTables) await client.command({ query: `SYSTEM STOP MERGES ${table}` });
    await store.insert(events.map((e) => store.prepare(e)));
    await store.insert(events.map((e) => store.prepare(e)));
    const [raw] = await queryRows<{ n: string }>(client, { sql: 'SELECT count() AS n FROM events WHERE tenant_id = {tenantId:String}', params: { tenantId } });
    expect(Number(raw!.n)).toBe(2 * 10);
    const [final] = await queryRows<{ n: string }>(client, { sql: 'SELECT count() AS n FROM events FINAL WHERE tenant_id = {tenantId:String}', params: { tenantId } });
    expect(Number(final!.n)).toBe(10);

    // Last: the reader's queries carry readonly=1, which chdb's connection applies as a session SET
    // (it has no per-request settings), leaving the embedded session read-only from here on.
    const reader = createClickHouseAnalyticsReader(client, { queryTimeoutMs: 10_000 });
    const query = { tenantId, startMs: day1Ms, endMs: day2Ms + dayMs, offset: 0, limit: 100 };
    const payments = await reader.paymentVolume(query);
    expect(payments.rows).toEqual(expectedPaymentVolume);
    expect(payments.dataAsOfMs).toBe(day2Ms + 9 * 3_600_000 + 60_000);
    expect((await reader.ledgerVolume(query)).rows).toEqual(expectedLedgerVolume);
    // Period and page bounds are applied by the queries themselves.
    expect((await reader.paymentVolume({ ...query, endMs: day2Ms })).rows).toEqual(expectedPaymentVolume.slice(0, 2));
    expect((await reader.paymentVolume({ ...query, offset: 1, limit: 1 })).rows).toEqual(expectedPaymentVolume.slice(1, 2));
    expect((await reader.ledgerVolume({ ...query, endMs: day2Ms })).rows).toEqual(expectedLedgerVolume.slice(2));
  });
});
