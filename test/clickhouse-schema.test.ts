/**
 * The real ClickHouse server global-setup started (Debian's clickhouse-server, ADR 0029) and the
 * schema lifecycle: `npx tally analytics migrate` against a fresh database, run again, refusing an
 * edited or out-of-order migration; and reads that are right before ReplacingMergeTree merges.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { loadMigrations, migrate, MigrationError } from '../functions/src/adapters/clickhouse/migrate.js';
import { sqlInt, sqlString } from '../functions/src/adapters/clickhouse/sql-literal.js';
import { queryRows } from '../functions/src/adapters/clickhouse/sql-query.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import fc from 'fast-check';
import { parseJson, runCli } from './support/cli-runner.js';

const url = inject('clickhouseUrl');
const config = parseConfig({ TALLY_CLICKHOUSE_URL: url }).clickhouse;
const client = createClickHouseClient(config);
const scratchDatabases: string[] = [];
afterAll(async () => {
  for (const db of scratchDatabases) await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await client.close();
});

const scratchDatabase = (): string => {
  const name = `mig_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  scratchDatabases.push(name);
  return name;
};

describe('ClickHouse server (test stack)', () => {
  it('answers on loopback at the derived port with the migrated schema in database tally', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tables = await queryRows<{ name: string }>(client, { sql: 'SELECT name FROM system.tables WHERE database = {database:String} ORDER BY name', params: { database: 'tally' } });
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['disputes', 'events', 'ledger_postings', 'payment_events', 'refunds', 'schema_migrations']));
  });
});

describe('npx tally analytics migrate', () => {
  it('applies every migration to a fresh database, records their checksums, and a second run applies nothing', async () => {
    const database = scratchDatabase();
    process.env.TALLY_CLICKHOUSE_DATABASE = database;
    try {
      const first = parseJson<{ database: string; applied: string[]; alreadyApplied: number }>(await runCli(['analytics', 'migrate', '--json']));
      const files = loadMigrations();
      expect(first).toEqual({ database, applied: files.map((f) => `${String(f.version).padStart(4, '0')}_${f.name}`), alreadyApplied: 0 });
      const second = parseJson<{ applied: string[]; alreadyApplied: number }>(await runCli(['analytics', 'migrate', '--json']));
      expect(second).toMatchObject({ applied: [], alreadyApplied: files.length });
      const recorded = await (await client.query({ query: `SELECT version, checksum FROM ${database}.schema_migrations ORDER BY version`, format: 'JSONEachRow' })).json<{ version: number; checksum: string }>();
      expect(recorded).toEqual(files.map((f) => ({ version: f.version, checksum: f.checksum })));
    } finally {
      delete process.env.TALLY_CLICKHOUSE_DATABASE;
    }
  });

  it('refuses an edited or out-of-order migration, changing nothing, and the CLI says why (exit 1)', async () => {
    const database = scratchDatabase();
    const scratch = { ...config, database };
    const files = loadMigrations();
    await migrate(scratch, { migrations: files.slice(0, 1) });
    const edited = [{ ...files[0]!, checksum: 'f'.repeat(64) }, ...files.slice(1)];
    await expect(migrate(scratch, { migrations: edited })).rejects.toThrow(MigrationError);
    await expect(migrate(scratch, { migrations: edited })).rejects.toThrow(/0001_events was edited after it was applied/);
    // Nothing of 0002 was created by the refused runs.
    const tables = await queryRows<{ name: string }>(client, { sql: 'SELECT name FROM system.tables WHERE database = {database:String} ORDER BY name', params: { database } });
    expect(tables.map((t) => t.name)).toEqual(['events', 'schema_migrations']);
    // A migration numbered below an applied one: apply 0002 under the number 3, then offer 0002.
    await migrate(scratch, { migrations: [files[0]!, { ...files[1]!, version: 3 }] });
    await expect(migrate(scratch, { migrations: [files[0]!, { ...files[1]!, name: 'late' }, { ...files[1]!, version: 3 }] })).rejects.toThrow(/0002_late is numbered below 0003.*out of order/);
    // Through the CLI: the database holds a version the code does not have.
    process.env.TALLY_CLICKHOUSE_DATABASE = database;
    try {
      const refused = await runCli(['analytics', 'migrate']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/analytics migrate refused: migration 0003_typed_tables/);
    } finally {
      delete process.env.TALLY_CLICKHOUSE_DATABASE;
    }
  });
});

describe('ReplacingMergeTree reads are right before merges', () => {
  it('an event inserted three times (separate parts, not merged) reads once with FINAL and with argMax ... GROUP BY', async () => {
    const tenantId = `ten_${randomUUID()}`;
    const row = (insertedAtMs: number) => ({
      event_id: 'evt_dup', tenant_id: tenantId, type: 'payment.created', aggregate_id: 'pay_1', occurred_at: '2026-12-06 10:00:00',
      occurred_at_ms: 1796551200123, trace_id: '', span_id: '', payload_json: '{}', message_id: `m${insertedAtMs}`, inserted_at_ms: insertedAtMs,
    });
    // A background merge may fold the parts at any moment (it did, in a CI run): hold merges of this
    // table while the three parts are counted, so the test really reads before a merge.
    await client.command({ query: 'SYSTEM STOP MERGES events' });
    let raw: { n: string }[];
    try {
      for (const insertedAtMs of [1, 2, 3]) await client.insert({ table: 'events', values: [row(insertedAtMs)], format: 'JSONEachRow' });
      raw = await queryRows<{ n: string }>(client, { sql: 'SELECT count() AS n FROM events WHERE tenant_id = {tenantId:String}', params: { tenantId } });
    } finally {
      await client.command({ query: 'SYSTEM START MERGES events' });
    }
    // Three parts, no merge yet: without FINAL the count is wrong, which is why every read uses it.
    expect(Number(raw[0]!.n)).toBe(3);
    const final = await queryRows<{ n: string; m: string }>(client, { sql: 'SELECT count() AS n, any(message_id) AS m FROM events FINAL WHERE tenant_id = {tenantId:String}', params: { tenantId } });
    expect(final).toEqual([{ n: '1', m: 'm3' }]);
    const grouped = await queryRows<{ event_id: string; m: string }>(client, {
      sql: 'SELECT event_id, argMax(message_id, inserted_at_ms) AS m FROM events WHERE tenant_id = {tenantId:String} GROUP BY event_id', params: { tenantId },
    });
    expect(grouped).toEqual([{ event_id: 'evt_dup', m: 'm3' }]);
  });
});

// The literals the 18.16 renderer (sql-query.ts) is built from; every statement goes through it.
describe('SQL literals (ClickHouse 18.16 has no query parameters)', () => {
  it('sqlString reads back exactly any string from the real server, quotes, backslashes and NUL included', async () => {
    const samples = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 200, seed: 13 });
    samples.push("'; DROP TABLE events; --", '\\\'', '\0', 'a\\', "\\'", '\u0000x');
    const values = samples.map((v, i) => `${sqlString(v)} AS v${i}`);
    const [row] = await (await client.query({ query: `SELECT ${values.join(', ')}`, format: 'JSONEachRow' })).json<Record<string, string>>();
    samples.forEach((v, i) => expect(row![`v${i}`], JSON.stringify(v)).toBe(v));
  });

  it('sqlInt writes Int64 integers and refuses anything else', async () => {
    const [row] = await (await client.query({ query: `SELECT ${sqlInt(-(2n ** 63n))} AS lo, ${sqlInt(2n ** 63n - 1n)} AS hi, ${sqlInt(42)} AS n`, format: 'JSONEachRow' })).json<Record<string, string>>();
    expect({ ...row, n: String(row!.n) }).toEqual({ lo: '-9223372036854775808', hi: '9223372036854775807', n: '42' });
    for (const bad of [1.5, Number.NaN, 2 ** 60, 2n ** 63n]) expect(() => sqlInt(bad)).toThrow(/not an Int64 integer/);
  });
});
