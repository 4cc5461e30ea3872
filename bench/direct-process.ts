/**
 * bench:sink's direct path in a process of its own, as the sink has one (bench/sink-process.ts):
 * neither path then pays for the other's heap, and the bench's own process (which publishes the
 * backlogs and polls ClickHouse) is on neither clock. Prints `direct ready`; on stdin,
 * `insert <tenantId> <n>` builds that tenant's n bench events (unmeasured), then times inserting
 * their rows straight into ClickHouse with the client: the sink's row code, batches of
 * TALLY_ANALYTICS_BATCH_ROWS_MAX, as many batches at once as the sink writes. Answers
 * `inserted <elapsedMs> <cpuUs>` (the process's CPU over the timed part).
 */
import { createInterface } from 'node:readline';
import { analyticsTables, eventRows, mergeRows } from '../functions/src/adapters/clickhouse/event-rows.js';
import { createClickHouseClient } from '../functions/src/adapters/clickhouse/clickhouse-client.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { asAnalyticsEvent, makeBenchEvents } from './sink-events.js';

const config = parseConfig();
const clickhouse = createClickHouseClient(config.clickhouse);
const batch = config.analyticsSink.batchRowsMax;
const flushesInFlight = 4; // the sink's flushesInFlightMax default

async function insert(tenantId: string, n: number): Promise<{ elapsedMs: number; cpuUs: number }> {
  const events = makeBenchEvents(tenantId, n).map(asAnalyticsEvent);
  const chunks = Array.from({ length: Math.ceil(n / batch) }, (_, i) => events.slice(i * batch, (i + 1) * batch));
  const startedMs = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < chunks.length; i += flushesInFlight) {
    await Promise.all(chunks.slice(i, i + flushesInFlight).map(async (chunk) => {
      const insertedAtMs = Date.now();
      const rows = mergeRows(chunk.map((e) => eventRows(e, insertedAtMs)));
      await Promise.all(analyticsTables.filter((t) => rows[t].length > 0).map((t) => clickhouse.insert({ table: t, values: rows[t], format: 'JSONEachRow' })));
    }));
  }
  const cpu = process.cpuUsage(cpu0);
  return { elapsedMs: performance.now() - startedMs, cpuUs: cpu.user + cpu.system };
}

process.stdout.write('direct ready\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, tenantId, n] = line.split(' ');
  if (command !== 'insert' || !tenantId || !(Number(n) > 0)) return;
  insert(tenantId, Number(n)).then(({ elapsedMs, cpuUs }) => {
    process.stdout.write(`inserted ${elapsedMs.toFixed(1)} ${cpuUs}\n`);
  }, (error: unknown) => {
    process.stderr.write(`bench:sink: [direct] insert failed: ${String(error)}\n`);
    process.exit(1);
  });
});
process.stdin.once('end', () => { void clickhouse.close().then(() => process.exit(0)); });
