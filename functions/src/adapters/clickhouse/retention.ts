/**
 * Retention of the analytics archive (issue 13 item 3, ADR 0029 decision 9): the raw `events` table
 * and the typed tables keep `retentionMonths` (84: 7 years) of `occurred_at`; older months are
 * dropped whole with `ALTER TABLE t DROP PARTITION YYYYMM`. A TTL clause would do it by itself on a
 * current server, but ClickHouse 18.16 (Debian 12's, used locally) cannot parse one (TTL came in
 * 19.6), and monthly partitions make a drop exact and cheap on both.
 *
 * A month is dropped only when all of it is older than the retention: the partitions before the
 * month holding `now - retentionMonths`. Each run drops at most `partitionsMax` partitions, oldest
 * first, and says when it stopped at the bound (`remaining` > 0): the next run continues, nothing
 * is skipped silently. Table names come from the fixed list of analytics tables (identifiers, which
 * cannot be parameters on 18.16); the table list, the month and each partition id are parameters
 * of constant templates (sql-query.ts), partition ids checked to be YYYYMM first.
 */
import type { ClickHouseClient } from './clickhouse-client.js';
import { analyticsTables } from './event-rows.js';
import { queryRows, runCommand } from './sql-query.js';

/** 7 years: the archive of financial events (README "Analytics"). */
export const analyticsRetentionMonthsDefault = 84;
/** Partitions dropped per run at most (a month of 6 tables is 6): a bound, far above a monthly run's need. */
export const retentionPartitionsMaxDefault = 120;

export interface RetentionOptions {
  nowMs: number;
  retentionMonths: number;
  /** List what would be dropped, drop nothing. */
  dryRun: boolean;
  partitionsMax: number;
  /** Called before each drop (or for each partition a dry run would drop). */
  onPartition?: (p: ExpiredPartition) => void;
}

export interface ExpiredPartition {
  table: string;
  /** YYYYMM. */
  partition: string;
  rows: number;
}

export interface RetentionResult {
  database: string;
  /** Partitions before this month (YYYYMM) are older than the retention. */
  keepFromMonth: string;
  retentionMonths: number;
  dryRun: boolean;
  /** Dropped by this run (or, in a dry run, that would be), oldest first. */
  partitions: ExpiredPartition[];
  /** Expired partitions left for the next run because the run's bound was reached. */
  remaining: number;
}

/** The first month (YYYYMM, UTC) kept: the one holding `nowMs` minus `retentionMonths` months. Pure. */
export function keepFromMonth(nowMs: number, retentionMonths: number): string {
  if (!Number.isSafeInteger(retentionMonths) || retentionMonths < 1) throw new RangeError(`retentionMonths must be a positive integer, got ${retentionMonths}`);
  const now = new Date(nowMs);
  const monthIndex = now.getUTCFullYear() * 12 + now.getUTCMonth() - retentionMonths;
  const year = Math.floor(monthIndex / 12);
  return `${year}${String(monthIndex - year * 12 + 1).padStart(2, '0')}`;
}

const partitionPattern = /^\d{6}$/;

/** Finds the analytics tables' partitions older than the retention and drops them (bounded). */
export async function applyAnalyticsRetention(client: ClickHouseClient, options: RetentionOptions): Promise<RetentionResult> {
  const keepFrom = keepFromMonth(options.nowMs, options.retentionMonths);
  const [{ database } = { database: '' }] = await (await client.query({ query: 'SELECT currentDatabase() AS database', format: 'JSONEachRow' })).json<{ database: string }>();
  // Active parts only (inactive ones are merged-away leftovers); partition ids of toYYYYMM are the
  // YYYYMM digits, so string order is month order.
  const found = await queryRows<{ table: string; partition: string; rows: string | number }>(client, {
    sql: `SELECT table, partition_id AS partition, sum(rows) AS rows FROM system.parts
WHERE database = currentDatabase() AND active AND has({tables:Array(String)}, table) AND partition_id < {keepFrom:String}
GROUP BY table, partition_id ORDER BY partition_id, table`,
    params: { tables: analyticsTables, keepFrom },
  });
  const expired = found.map((p) => {
    const table = analyticsTables.find((t) => t === p.table);
    if (table === undefined || !partitionPattern.test(p.partition)) throw new Error(`retention: unexpected partition ${p.table}/${p.partition} (tables are partitioned by toYYYYMM)`);
    return { table, partition: p.partition, rows: Number(p.rows) };
  });
  const partitions = expired.slice(0, options.partitionsMax);
  for (const p of partitions) {
    options.onPartition?.(p);
    if (!options.dryRun) await runCommand(client, { sql: `ALTER TABLE ${p.table} DROP PARTITION {partition:UInt32}`, params: { partition: Number(p.partition) } });
  }
  return { database, keepFromMonth: keepFrom, retentionMonths: options.retentionMonths, dryRun: options.dryRun, partitions, remaining: expired.length - partitions.length };
}
