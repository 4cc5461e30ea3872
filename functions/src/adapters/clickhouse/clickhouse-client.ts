/**
 * The analytics ClickHouse client (@clickhouse/client over HTTP), built from TALLY_CLICKHOUSE_*.
 * Settings are passed explicitly rather than left to the library's defaults (STYLE.md): a bounded
 * request deadline, a bounded connection pool, and 64-bit integers quoted in JSON output so that
 * amounts in minor units reach JavaScript exactly (as strings, for BigInt).
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../platform/config/config.js';

export type { ClickHouseClient } from '@clickhouse/client';

/** Concurrent HTTP connections per client: the sink's flushes and the API's queries together. */
const connectionsMax = 16;

export function createClickHouseClient(config: Config['clickhouse'], options: { database?: string } = {}): ClickHouseClient {
  if (config.url === '') throw new Error('TALLY_CLICKHOUSE_URL is not set: analytics needs a ClickHouse server (npm start and the tests start one)');
  return createClient({
    url: config.url,
    username: config.username,
    password: config.password,
    database: options.database ?? config.database,
    request_timeout: config.requestTimeoutMs,
    max_open_connections: connectionsMax,
    // The server closes idle sockets after 3 s (its default, and emulators/clickhouse.ts's): drop ours first.
    keep_alive: { enabled: true, idle_socket_ttl: 2_000 },
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    application: 'tally',
    // The library's own log lines are not Cloud Logging JSON and repeat what the caller reports
    // (a failed insert fails the sink's batch, which its handler or the bridge logs once).
    log: { level: ClickHouseLogLevel.OFF },
  });
}
