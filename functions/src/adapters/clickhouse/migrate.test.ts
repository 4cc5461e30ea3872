import { describe, expect, it } from 'vitest';
import { loadMigrations, MigrationError, planMigrations, splitStatements, type Migration } from './migrate.js';

const m = (version: number, checksum = `c${version}`): Migration => ({ version, name: `m${version}`, statements: ['SELECT 1'], checksum });
const applied = (version: number, checksum = `c${version}`) => ({ version, name: `m${version}`, checksum });

describe('ClickHouse migrations: planning', () => {
  it('applies what is missing, in order, and nothing when all is applied', () => {
    expect(planMigrations([m(1), m(2), m(3)], []).map((x) => x.version)).toEqual([1, 2, 3]);
    expect(planMigrations([m(1), m(2), m(3)], [applied(1)]).map((x) => x.version)).toEqual([2, 3]);
    expect(planMigrations([m(1), m(2)], [applied(1), applied(2), applied(2)])).toEqual([]);
  });

  it('refuses an applied migration edited since', () => {
    expect(() => planMigrations([m(1, 'new')], [applied(1, 'old')])).toThrow(/0001_m1 was edited after it was applied/);
  });

  it('refuses a migration numbered below one already applied (out of order)', () => {
    expect(() => planMigrations([m(1), m(2), m(3)], [applied(1), applied(3)])).toThrow(/0002_m2 is numbered below 0003.*out of order/);
  });

  it('refuses a database newer than the code (an applied migration without its file)', () => {
    expect(() => planMigrations([m(1)], [applied(1), applied(2)])).toThrow(MigrationError);
    expect(() => planMigrations([m(1)], [applied(1), applied(2)])).toThrow(/0002_m2 is applied but not among the files/);
  });

  it('refuses one version recorded with two checksums', () => {
    expect(() => planMigrations([m(1)], [applied(1, 'a'), applied(1, 'b')])).toThrow(/twice with different checksums/);
  });
});

describe('ClickHouse migrations: files', () => {
  it('splits statements at a ; ending a line and drops comment lines', () => {
    expect(splitStatements('-- a comment; with a semicolon\nCREATE TABLE a (x String)\nENGINE = Log;\n\n-- b\nCREATE TABLE b (y String) ENGINE = Log;\n'))
      .toEqual(['CREATE TABLE a (x String)\nENGINE = Log', 'CREATE TABLE b (y String) ENGINE = Log']);
  });

  it('the shipped migrations are numbered from 0001 without gaps and create the documented tables', () => {
    const files = loadMigrations();
    expect(files.map((f) => f.version)).toEqual(files.map((_, i) => i + 1));
    const created = files.flatMap((f) => f.statements).map((s) => /CREATE TABLE IF NOT EXISTS (\w+)/.exec(s)?.[1]);
    expect(created.slice(0, 5)).toEqual(['events', 'payment_events', 'refunds', 'disputes', 'ledger_postings']);
    // Every table is deduplicated by its key and partitioned by month (ADR 0029).
    for (const statement of files.flatMap((f) => f.statements)) {
      expect(statement).toMatch(/ENGINE = ReplacingMergeTree\(inserted_at_ms\)\nPARTITION BY toYYYYMM\(occurred_at\)\nORDER BY \(tenant_id, occurred_at, event_id/);
    }
  });
});
