/**
 * Versioned ClickHouse migrations (ADR 0029): `migrations/NNNN_name.sql`, applied in order by
 * `npx tally analytics migrate`, the test setup and `npm start`. Each applied file is recorded in
 * `schema_migrations` with its SHA-256; a run applies only what is missing and refuses, changing
 * nothing, when the database and the files disagree: an applied migration edited since
 * (checksum), missing from the files (the database is newer than this code), or a new file
 * numbered below one already applied (out of order).
 *
 * Statements are `CREATE ... IF NOT EXISTS` so that a run interrupted between a statement and its
 * record is simply run again. A file holds statements separated by `;` at the end of a line;
 * `--` comment lines are dropped (ClickHouse's HTTP interface takes one statement per request).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../platform/config/config.js';
import { createClickHouseClient, type ClickHouseClient } from './clickhouse-client.js';

export const migrationsDir = path.join(import.meta.dirname, 'migrations');
const fileNamePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Files in the migrations folder at most: a bound, and far more than this schema will need. */
const migrationsMax = 1_000;

export interface Migration {
  version: number;
  name: string;
  statements: string[];
  /** SHA-256 (hex) of the file's bytes. */
  checksum: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Splits a migration file into statements (comment lines dropped, `;` at a line's end ends one). */
export function splitStatements(sql: string): string[] {
  const lines = sql.split('\n').filter((line) => !line.trim().startsWith('--'));
  return lines.join('\n').split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter((s) => s !== '');
}

/** Reads and checks the migration files: names `NNNN_name.sql`, versions unique. */
export function loadMigrations(dir = migrationsDir): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  if (files.length > migrationsMax) throw new MigrationError(`more than ${migrationsMax} migration files in ${dir}`);
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = fileNamePattern.exec(file);
    if (!match) throw new MigrationError(`migration file ${file}: expected NNNN_name.sql (four digits, lower-case name)`);
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new MigrationError(`two migration files numbered ${match[1]} in ${dir}`);
    const bytes = readFileSync(path.join(dir, file));
    const statements = splitStatements(bytes.toString('utf8'));
    if (statements.length === 0) throw new MigrationError(`migration file ${file} has no statement`);
    migrations.push({ version, name: match[2]!, statements, checksum: createHash('sha256').update(bytes).digest('hex') });
  }
  return migrations;
}

export interface AppliedMigration { version: number; name: string; checksum: string }

/**
 * What to apply, or why not: pure, so that the refusals are tested without a server. `applied` is
 * what `schema_migrations` holds (a version recorded twice by two concurrent runs must agree).
 */
export function planMigrations(files: readonly Migration[], applied: readonly AppliedMigration[]): Migration[] {
  const byVersion = new Map<number, AppliedMigration>();
  for (const a of applied) {
    const seen = byVersion.get(a.version);
    if (seen && seen.checksum !== a.checksum) throw new MigrationError(`schema_migrations records version ${a.version} twice with different checksums`);
    byVersion.set(a.version, a);
  }
  for (const a of byVersion.values()) {
    const file = files.find((f) => f.version === a.version);
    const label = `${String(a.version).padStart(4, '0')}_${a.name}`;
    if (!file) throw new MigrationError(`migration ${label} is applied but not among the files: the database is newer than this code`);
    if (file.checksum !== a.checksum) {
      throw new MigrationError(`migration ${label} was edited after it was applied (checksum ${a.checksum.slice(0, 12)}... recorded, ${file.checksum.slice(0, 12)}... now): add a new migration instead`);
    }
  }
  const newestApplied = Math.max(0, ...byVersion.keys());
  const pending = files.filter((f) => !byVersion.has(f.version));
  const late = pending.find((f) => f.version < newestApplied);
  if (late) {
    throw new MigrationError(`migration ${String(late.version).padStart(4, '0')}_${late.name} is numbered below ${String(newestApplied).padStart(4, '0')}, which is applied already (out of order): renumber it after the newest`);
  }
  return pending;
}

export interface MigrateResult {
  database: string;
  /** `NNNN_name` of each migration applied by this run, in order. */
  applied: string[];
  /** Migrations found already applied. */
  alreadyApplied: number;
}

async function appliedMigrations(client: ClickHouseClient): Promise<AppliedMigration[]> {
  const rows = await (await client.query({ query: 'SELECT version, name, checksum FROM schema_migrations ORDER BY version', format: 'JSONEachRow' }))
    .json<{ version: number | string; name: string; checksum: string }>();
  return rows.map((r) => ({ version: Number(r.version), name: r.name, checksum: r.checksum }));
}

/**
 * Applies the missing migrations through `client`, whose database must exist: the step `migrate`
 * runs after creating the database. Exported so that the schema is also checked on current
 * ClickHouse (embedded chdb, whose connection always uses its `default` database) through the
 * same code path as `npx tally analytics migrate`.
 */
export async function applyMigrations(client: ClickHouseClient, files: readonly Migration[], onApplied?: (label: string) => void): Promise<{ applied: string[]; alreadyApplied: number }> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY version`,
  });
  const pending = planMigrations(files, await appliedMigrations(client));
  const applied: string[] = [];
  for (const migration of pending) {
    for (const statement of migration.statements) await client.command({ query: statement });
    await client.insert({
      table: 'schema_migrations', format: 'JSONEachRow',
      values: [{ version: migration.version, name: migration.name, checksum: migration.checksum, applied_at: Math.floor(Date.now() / 1000) }],
    });
    const label = `${String(migration.version).padStart(4, '0')}_${migration.name}`;
    applied.push(label);
    onApplied?.(label);
  }
  return { applied, alreadyApplied: files.length - pending.length };
}

/** Creates the database if needed and applies the missing migrations in order. */
export async function migrate(config: Config['clickhouse'], options: { migrations?: Migration[]; onApplied?: (label: string) => void } = {}): Promise<MigrateResult> {
  const files = options.migrations ?? loadMigrations();
  // The configured database may not exist yet: create it through `default`, which always does.
  const bootstrap = createClickHouseClient(config, { database: 'default' });
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${config.database}` });
  } finally {
    await bootstrap.close();
  }
  const client = createClickHouseClient(config);
  try {
    return { database: config.database, ...await applyMigrations(client, files, options.onApplied) };
  } finally {
    await client.close();
  }
}
