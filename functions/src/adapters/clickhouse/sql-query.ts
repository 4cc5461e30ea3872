/**
 * Every ClickHouse statement that takes a value from outside (a tenant id, a period, a page, a
 * partition) is written once, as a template with ClickHouse's own `{name:Type}` placeholders, plus
 * the values (`SqlQuery`), and runs through `queryRows` / `runCommand` (ADR 0029 decision 8):
 *
 * - **bound** on a server that has query parameters (every supported ClickHouse; production): the
 *   template goes to the server as is and the values as `param_<name>` (`query_params` of
 *   @clickhouse/client), so no value is ever part of the SQL text;
 * - **rendered** on older servers (Debian 12's 18.16, used locally, predates query parameters:
 *   it answers "Unknown setting param_x"): each placeholder is replaced by a literal written from
 *   its declared Type with `sqlString`/`sqlInt`, the only place those are used.
 *
 * Which one is decided once per client from `SELECT version()` (`parameterMode`). Both paths run
 * the same checks first (`checkSqlQuery`): a placeholder without a value, a value without a
 * placeholder, a Type outside the supported list or a value that does not fit its Type throws
 * `SqlParamsError` before anything is sent, so a mistake fails the same way on either path and
 * never renders an empty or truncated value.
 */
import type { ClickHouseClient } from './clickhouse-client.js';
import { sqlInt, sqlString } from './sql-literal.js';

/** A value for one placeholder: a string, an integer (number or bigint), or a list of strings. */
export type SqlParamValue = string | number | bigint | readonly string[];

/** A statement with `{name:Type}` placeholders and the value of each. */
export interface SqlQuery {
  sql: string;
  params: Readonly<Record<string, SqlParamValue>>;
}

/** A template and its params disagree, or a value does not fit its Type: a programmer error. */
export class SqlParamsError extends Error {
  override readonly name = 'SqlParamsError';
}

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
/**
 * Integer Types and their ranges. UInt64 stops at Int64's maximum: `sqlInt` writes Int64 literals,
 * and both paths must accept the same values.
 */
const integerRanges: Readonly<Record<string, readonly [bigint, bigint]>> = {
  Int8: [-128n, 127n], Int16: [-32_768n, 32_767n], Int32: [-(2n ** 31n), 2n ** 31n - 1n], Int64: [int64Min, int64Max],
  UInt8: [0n, 255n], UInt16: [0n, 65_535n], UInt32: [0n, 2n ** 32n - 1n], UInt64: [0n, int64Max],
};
/** DateTime values are whole seconds since 1970 in DateTime's range (UInt32). */
const dateTimeSecondsMax = 2n ** 32n - 1n;

/** Every supported Type, for error messages. */
export const sqlParamTypes: readonly string[] = ['String', ...Object.keys(integerRanges), 'DateTime', 'Array(String)'];

const placeholderPattern = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]*)\}/g;

interface Placeholder { name: string; type: string }

function integerOf(name: string, type: string, value: SqlParamValue): bigint {
  const big = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (big === undefined) throw new SqlParamsError(`SQL param ${name} (${type}): ${describe(value)} is not an integer`);
  return big;
}

function describe(value: SqlParamValue): string {
  return typeof value === 'string' ? 'a string' : Array.isArray(value) ? 'an array' : `${typeof value} ${String(value)}`;
}

/** Checks one value against its declared Type (the same check on both paths). */
function checkValue(name: string, type: string, value: SqlParamValue): void {
  if (type === 'String') {
    if (typeof value !== 'string') throw new SqlParamsError(`SQL param ${name} (String): ${describe(value)} is not a string`);
    return;
  }
  if (type === 'Array(String)') {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new SqlParamsError(`SQL param ${name} (Array(String)): expected an array of strings`);
    return;
  }
  const range = type === 'DateTime' ? [0n, dateTimeSecondsMax] as const : integerRanges[type];
  if (range === undefined) throw new SqlParamsError(`SQL param ${name}: Type ${type} is not supported (supported: ${sqlParamTypes.join(', ')})`);
  const big = integerOf(name, type, value);
  if (big < range[0] || big > range[1]) throw new SqlParamsError(`SQL param ${name} (${type}): ${big} is outside ${range[0]}..${range[1]}`);
}

/**
 * The placeholders of `query.sql`, after checking that they and `query.params` agree exactly and
 * that every value fits its Type. A name used twice must carry the same Type both times. A `{` or
 * `}` that is not part of a placeholder is refused: the server would refuse it too.
 */
export function checkSqlQuery(query: SqlQuery): Placeholder[] {
  const placeholders = new Map<string, Placeholder>();
  for (const match of query.sql.matchAll(placeholderPattern)) {
    const name = match[1]!;
    const type = match[2]!;
    const seen = placeholders.get(name);
    if (seen && seen.type !== type) throw new SqlParamsError(`SQL param ${name} is declared as ${seen.type} and as ${type}`);
    placeholders.set(name, { name, type });
  }
  const rest = query.sql.replace(placeholderPattern, '');
  const stray = /[{}]/.exec(rest);
  if (stray) throw new SqlParamsError(`SQL template has a malformed placeholder near "${rest.slice(Math.max(0, stray.index - 20), stray.index + 20)}" (expected {name:Type})`);
  for (const { name, type } of placeholders.values()) {
    if (!Object.hasOwn(query.params, name)) throw new SqlParamsError(`SQL param ${name} (${type}) has no value`);
    checkValue(name, type, query.params[name]!);
  }
  const extra = Object.keys(query.params).filter((key) => !placeholders.has(key));
  if (extra.length > 0) throw new SqlParamsError(`SQL params ${extra.join(', ')} have no placeholder in the query`);
  return [...placeholders.values()];
}

/** The literal that stands for a checked value of `type` in the rendered form. */
function literal(type: string, value: SqlParamValue): string {
  if (type === 'String') return sqlString(value as string);
  // Typed like the bound parameter (an untyped empty array would be Array(Nothing)).
  if (type === 'Array(String)') return `CAST([${(value as readonly string[]).map(sqlString).join(', ')}] AS Array(String))`;
  if (type === 'DateTime') return `toDateTime(${sqlInt(value as number | bigint)})`;
  // Plain integer literals: 18.16 takes only literals in LIMIT. Their type is the narrowest that
  // holds the value rather than the declared one, which comparisons and LIMIT do not see.
  return sqlInt(value as number | bigint);
}

/**
 * The statement with every placeholder replaced by its value's literal (for servers without query
 * parameters). One pass over the template: a value that looks like a placeholder stays a value.
 */
export function renderSql(query: SqlQuery): string {
  checkSqlQuery(query);
  return query.sql.replace(placeholderPattern, (_whole, name: string, type: string) => literal(type, query.params[name]!));
}

/**
 * The values as `query_params` for @clickhouse/client (sent as `param_<name>` in their text form).
 * DateTime goes as ten digits: the server reads a digit string as a Unix timestamp only when it is
 * long enough ('0' is refused by 26.x; the client pads its Dates to 10 the same way).
 */
export function boundParams(query: SqlQuery): Record<string, string | number | bigint | readonly string[]> {
  const out: Record<string, string | number | bigint | readonly string[]> = {};
  for (const { name, type } of checkSqlQuery(query)) {
    const value = query.params[name]!;
    out[name] = type === 'DateTime' ? String(value).padStart(10, '0') : value;
  }
  return out;
}

export type ParameterMode = 'bound' | 'rendered';

/**
 * Servers of this major version and later get bound parameters. Query parameters arrived during the
 * 19.x series (18.16 has none), but these statements also bind LIMIT, DateTime, Array(String) and an
 * ALTER ... DROP PARTITION value, verified here only on 26.x (chdb). The rendered form is correct on
 * every version, so the line is drawn conservatively at 24 (the 2024 releases: every ClickHouse
 * still supported upstream, and production's): an older server gets literals, never a statement
 * its parser might refuse.
 */
export const boundParametersSinceMajor = 24;

/** Bound or rendered, from the text of `SELECT version()` (e.g. `18.16.1`, `24.3.1.2672`). Pure. */
export function parameterModeOf(version: string): ParameterMode {
  const major = /^(\d+)\./.exec(version.trim())?.[1];
  if (major === undefined) throw new Error(`ClickHouse version "${version.slice(0, 40)}" is not major.minor...`);
  return Number(major) >= boundParametersSinceMajor ? 'bound' : 'rendered';
}

/** What queryRows/runCommand need of a client (a structural subset, so tests can stand in a server version). */
export type SqlClient = Pick<ClickHouseClient, 'query' | 'command'>;

const modes = new WeakMap<SqlClient, Promise<ParameterMode>>();

/**
 * The client's parameter mode, asked of its server once and kept for the client's life (one
 * client talks to one server; an upgrade restarts the services holding it). A failed ask is not
 * kept: the next statement asks again. The ask is shared, so it never carries one caller's abort
 * signal (that caller's abort would fail every statement waiting on it); it is bounded by the
 * client's request timeout, and each caller stops waiting when its own signal aborts.
 */
export function parameterMode(client: SqlClient, abortSignal?: AbortSignal): Promise<ParameterMode> {
  let mode = modes.get(client);
  if (mode === undefined) {
    mode = (async () => {
      const result = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
      const [row] = await result.json<{ version: string }>();
      return parameterModeOf(row?.version ?? '');
    })();
    modes.set(client, mode);
    mode.catch(() => { if (modes.get(client) === mode) modes.delete(client); });
  }
  return abortSignal === undefined ? mode : untilAborted(mode, abortSignal);
}

/** `promise`, or its caller's abort (with the signal's reason), whichever comes first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Per-statement settings passed through to the client. */
export interface SqlRunOptions {
  clickhouse_settings?: NonNullable<Parameters<ClickHouseClient['query']>[0]['clickhouse_settings']>;
  abort_signal?: AbortSignal;
}

/** The statement in the form the client's server takes: the template and values, or rendered SQL. */
async function prepared(client: SqlClient, query: SqlQuery, options: SqlRunOptions): Promise<{ query: string; query_params?: Record<string, unknown> }> {
  // Checked before the server is asked anything: a mistake fails alike on both paths.
  checkSqlQuery(query);
  return await parameterMode(client, options.abort_signal) === 'bound'
    ? { query: query.sql, query_params: boundParams(query) }
    : { query: renderSql(query) };
}

/** Runs a SELECT and returns its rows (JSONEachRow). */
export async function queryRows<T>(client: SqlClient, query: SqlQuery, options: SqlRunOptions = {}): Promise<T[]> {
  const result = await client.query({ ...await prepared(client, query, options), format: 'JSONEachRow', ...options });
  return await result.json<T>();
}

/** Runs a statement that returns no rows (ALTER, ...). */
export async function runCommand(client: SqlClient, query: SqlQuery, options: SqlRunOptions = {}): Promise<void> {
  await client.command({ ...await prepared(client, query, options), ...options });
}
