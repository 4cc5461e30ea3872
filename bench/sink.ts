/**
 * bench:sink (issue 13 item 9). Prints, as its last line, one JSON object:
 * - sinkRowsPerSec: analyticsSink (its own process, as npm start runs it) draining a backlog of
 *   events on `domain-events` (Pub/Sub emulator) into the real ClickHouse: the events are
 *   published while the sink is paused, and timed from its resume until every one is queryable
 *   (FINAL). The sink's own rate, not the emulator's publish path (which a concurrent run of
 *   publisher and sink on two cores mostly measures, `sinkConcurrentRowsPerSec`, also printed);
 * - directRowsPerSec: the same events' rows inserted straight into ClickHouse with the client in
 *   batches of TALLY_ANALYTICS_BATCH_ROWS_MAX, as many at once as the sink writes, same run;
 * - lagP99Ms: outbox write (the entry's commit time) to queryable row, through the local stack:
 *   ledger entries through the use case, the local outbox trigger and relay, Pub/Sub, the sink;
 * - peakRssMb: the sink process's peak resident set.
 * Goal: sinkRowsPerSec / directRowsPerSec >= 0.5. Starts and stops the emulators and ClickHouse.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { highVolumeStreamsMax } from '../emulators/pubsub-bridge.js';
import { benchLog, runBench } from './support.js';

const log = benchLog('bench:sink');
const eventsTotal = Number(process.env.BENCH_SINK_EVENTS ?? 20_000);
const lagEntries = Number(process.env.BENCH_SINK_LAG_ENTRIES ?? 300);
const lagEntriesPerSec = Number(process.env.BENCH_SINK_LAG_RATE ?? 30);

runBench('bench:sink', async () => {
  const { startClickHouse } = await import('../emulators/clickhouse.js');
  log('starting ClickHouse ...');
  const server = await startClickHouse({ profile: 'test' });
  const cleanups: (() => Promise<unknown>)[] = [() => server.stop()];
  try {
    return await measureSink(server.url, cleanups);
  } finally {
    // Whatever failed, nothing is left running (ClickHouse and the sink run in their own process groups).
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
});

async function measureSink(clickhouseUrl: string, cleanups: (() => Promise<unknown>)[]): Promise<Record<string, unknown>> {
  const server = { url: clickhouseUrl };
  process.env.TALLY_CLICKHOUSE_URL = server.url;
  const { parseConfig } = await import('../functions/src/platform/config/config.js');
  const { migrate } = await import('../functions/src/adapters/clickhouse/migrate.js');
  const { createClickHouseClient } = await import('../functions/src/adapters/clickhouse/clickhouse-client.js');
  const { queryRows } = await import('../functions/src/adapters/clickhouse/sql-query.js');
  const { DomainEventSchema } = await import('../functions/src/gen/tally/events/v1/events_pb.js');
  const config = parseConfig();
  await migrate(config.clickhouse);
  const clickhouse = createClickHouseClient(config.clickhouse);
  const { composeServices } = await import('../functions/src/compose.js');
  const { sinkInFlightMax } = await import('../functions/src/compose-analytics.js');
  const services = composeServices(config);
  await services.bus.ensureTopics(['domain-events']);

  // BENCH_SINK_CPU_PROF_DIR=<dir>: the sink process writes a V8 CPU profile there (where its time goes).
  const profile = process.env.BENCH_SINK_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_SINK_CPU_PROF_DIR] : [];
  const sink = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/sink-process.ts'], { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  const sinkExited = once(sink, 'exit');
  cleanups.push(async () => { if (sink.exitCode === null) { sink.kill('SIGTERM'); await sinkExited; } });
  const lines = createInterface({ input: sink.stdout! });
  let peakRssMb = 0;
  const said = new Map<string, () => void>();
  const saying = (line: string) => new Promise<void>((resolve) => said.set(line, resolve));
  const ready = saying('sink ready');
  lines.on('line', (line) => {
    said.get(line)?.();
    const rss = /^sink peakRssMb (\d+)$/.exec(line)?.[1];
    if (rss) peakRssMb = Number(rss);
  });
  await ready;
  const tellSink = async (command: 'pause' | 'resume') => {
    const answered = saying(`sink ${command === 'pause' ? 'paused' : 'resumed'}`);
    sink.stdin!.write(`${command}\n`);
    await answered;
  };

  const count = async (tenantId: string, final = true): Promise<number> => {
    const [row] = await queryRows<{ n: string }>(clickhouse, { sql: `SELECT count() AS n FROM events ${final ? 'FINAL' : ''} WHERE tenant_id = {tenantId:String}`, params: { tenantId } });
    return Number(row!.n);
  };
  // Polled with a plain count (a FINAL over a growing table every few ms would load the server the
  // sink writes to, which the direct path does not suffer); FINAL checks the result once at the end.
  const waitForRows = async (tenantId: string, n: number, deadlineMs: number): Promise<void> => {
    // A redelivered event is a second row until merged: only FINAL says all n are there.
    while ((await count(tenantId, false)) < n || (await count(tenantId)) < n) {
      if (Date.now() > deadlineMs) throw new Error(`only ${await count(tenantId)} of ${n} rows after the deadline`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // Ledger-entry-shaped events (two postings): the common event's size.
  const makeEvents = (tenantId: string) => Array.from({ length: eventsTotal }, (_, i) => create(DomainEventSchema, {
    eventId: `evt_bench_${tenantId}_${i}`, type: 'ledger.entry.posted', tenantId, aggregateId: `je_bench_${i}`, occurredAt: timestampFromMs(Date.now()),
    traceId: randomUUID().replaceAll('-', ''), spanId: '00f067aa0ba902b7',
    payloadJson: JSON.stringify({ recordId: `je_bench_${i}`, chainHash: 'x'.repeat(64), entryId: `je_bench_${i}`, postings: [
      { accountId: 'acc_a', direction: 'debit', amountMinor: String(100 + i), currency: 'USD' },
      { accountId: 'acc_b', direction: 'credit', amountMinor: String(100 + i), currency: 'USD' },
    ] }),
  }));

  // Warm-up: a small round through the sink (connections, JIT).
  const warm = `ten_warm_${randomUUID().slice(0, 8)}`;
  for (const e of makeEvents(warm).slice(0, 500)) void services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId });
  await waitForRows(warm, 500, Date.now() + 60_000);

  // The sink's rate: a backlog published while it is paused, drained from its resume.
  log(`sink: publishing a backlog of ${eventsTotal} events to domain-events (sink paused) ...`);
  await tellSink('pause');
  const sinkTenant = `ten_sink_${randomUUID().slice(0, 8)}`;
  const publishStart = performance.now();
  await Promise.all(makeEvents(sinkTenant).map((e) => services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId })));
  log(`sink: published in ${Math.round(performance.now() - publishStart)} ms; resuming the sink ...`);
  const sinkStart = performance.now();
  await tellSink('resume');
  await waitForRows(sinkTenant, eventsTotal, Date.now() + 300_000);
  const sinkMs = performance.now() - sinkStart;

  // For comparison: publisher and sink at once (the emulator's publish path shares the two cores).
  log(`sink, publishing meanwhile: ${eventsTotal} events ...`);
  const concurrentTenant = `ten_sinkpub_${randomUUID().slice(0, 8)}`;
  const concurrentStart = performance.now();
  await Promise.all(makeEvents(concurrentTenant).map((e) => services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId })));
  await waitForRows(concurrentTenant, eventsTotal, Date.now() + 300_000);
  const concurrentMs = performance.now() - concurrentStart;

  // The sink is idle now (every event it was sent is queryable): the direct path has ClickHouse as the sink had it.
  log('direct: the same rows straight into ClickHouse ...');
  const { eventRows, mergeRows, analyticsTables } = await import('../functions/src/adapters/clickhouse/event-rows.js');
  const { timestampMs } = await import('@bufbuild/protobuf/wkt');
  const directTenant = `ten_direct_${randomUUID().slice(0, 8)}`;
  const directEvents = makeEvents(directTenant).map((e) => ({
    eventId: e.eventId, type: e.type, tenantId: e.tenantId, aggregateId: e.aggregateId, occurredAtMs: timestampMs(e.occurredAt!),
    traceId: e.traceId, spanId: e.spanId, payloadJson: e.payloadJson, messageId: '0',
  }));
  const batch = config.analyticsSink.batchRowsMax;
  const directStart = performance.now();
  const chunks = Array.from({ length: Math.ceil(eventsTotal / batch) }, (_, i) => directEvents.slice(i * batch, (i + 1) * batch));
  const inFlight = 4; // the sink's flushesInFlightMax default
  for (let i = 0; i < chunks.length; i += inFlight) {
    await Promise.all(chunks.slice(i, i + inFlight).map(async (chunk) => {
      const insertedAtMs = Date.now();
      const rows = mergeRows(chunk.map((e) => eventRows(e, insertedAtMs)));
      await Promise.all(analyticsTables.filter((t) => rows[t].length > 0).map((t) => clickhouse.insert({ table: t, values: rows[t], format: 'JSONEachRow' })));
    }));
  }
  const directMs = performance.now() - directStart;
  if ((await count(directTenant)) !== eventsTotal) throw new Error('direct insert lost rows');

  // Where the sink's time goes: the same backlog drained from the Pub/Sub emulator by the client's
  // streaming pull alone (same streams and flow control, acked at once, nothing written), on a
  // topic of its own so that the sink does not take these messages and write them meanwhile.
  log('pubsub only: the same backlog, acked on arrival ...');
  const ackOnly = `bench-ack-only-${randomUUID().slice(0, 8)}`;
  const ackOnlyTopic = `bench-ack-only-${randomUUID().slice(0, 8)}`;
  await services.bus.ensureTopics([ackOnlyTopic]);
  await services.bus.client.topic(ackOnlyTopic).createSubscription(ackOnly, { ackDeadlineSeconds: 60 });
  const pubsubTenant = `ten_pubsub_${randomUUID().slice(0, 8)}`;
  await Promise.all(makeEvents(pubsubTenant).map((e) => services.bus.publish(ackOnlyTopic, toBinary(DomainEventSchema, e), { eventId: e.eventId, tenantId: pubsubTenant })));
  const pubsubStart = performance.now();
  const ackSub = services.bus.client.subscription(ackOnly, {
    flowControl: { maxMessages: sinkInFlightMax(config), allowExcessMessages: false }, streamingOptions: { maxStreams: Number(process.env.BENCH_SINK_STREAMS ?? highVolumeStreamsMax) },
  });
  let received = 0;
  await new Promise<void>((resolve) => ackSub.on('message', (m: { attributes: Record<string, string>; ack(): void }) => {
    m.ack();
    if (m.attributes.tenantId === pubsubTenant && ++received === eventsTotal) resolve();
  }));
  const pubsubMs = performance.now() - pubsubStart;
  await ackSub.close();
  await services.bus.client.subscription(ackOnly).delete();

  log(`lag: ${lagEntries} ledger entries at ${lagEntriesPerSec}/s through the local outbox trigger, relay, Pub/Sub and the sink ...`);
  const { startOutboxTrigger } = await import('../emulators/outbox-trigger.js');
  const { createOutboxRelayHandler } = await import('../functions/src/handlers/firestore/outbox-relay.js');
  const ledger = await import('../functions/src/app/ledger/ledger-use-cases.js');
  const trigger = startOutboxTrigger({
    db: services.db, projectId: config.projectId, handler: createOutboxRelayHandler({ outbox: services.outbox, logger: services.logger }),
    onError: (error) => log(`outbox relay failed: ${String(error)}`),
  });
  const lagTenant = `ten_lag_${randomUUID().slice(0, 8)}`;
  const account = (code: string) => ledger.createAccount(services.ledger, lagTenant, {
    code, name: code, currency: 'USD', type: 'asset', flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: 1,
  });
  const accounts = await Promise.all(Array.from({ length: 16 }, (_, i) => account(`lag-${i}`)));
  const seenAtMs = new Map<string, number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const rows = await queryRows<{ event_id: string; occurred_at_ms: string }>(clickhouse, { sql: 'SELECT event_id, occurred_at_ms FROM events WHERE tenant_id = {tenantId:String}', params: { tenantId: lagTenant } });
      const now = Date.now();
      for (const r of rows) if (!seenAtMs.has(r.event_id)) seenAtMs.set(r.event_id, now - Number(r.occurred_at_ms));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const writes: Promise<unknown>[] = [];
  const lagStart = performance.now();
  for (let i = 0; i < lagEntries; i++) {
    const due = lagStart + (i * 1000) / lagEntriesPerSec;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    writes.push(ledger.createEntry(services.ledger, lagTenant, {
      id: `je_lag_${i}_${randomUUID().slice(0, 8)}`,
      postings: [
        { accountId: accounts[i % 16]!.id, direction: 'debit', amountMinor: 100n, currency: 'USD' },
        { accountId: accounts[(i + 1) % 16]!.id, direction: 'credit', amountMinor: 100n, currency: 'USD' },
      ],
      description: 'lag', metadata: {},
    }, { traceId: '', spanId: '' }));
  }
  await Promise.all(writes);
  const lagDeadline = Date.now() + 120_000;
  while (seenAtMs.size < lagEntries && Date.now() < lagDeadline) await new Promise((r) => setTimeout(r, 100));
  polling = false;
  await poller;
  await trigger.stop();
  if (seenAtMs.size < lagEntries) throw new Error(`lag: only ${seenAtMs.size} of ${lagEntries} entries reached ClickHouse`);
  const lags = [...seenAtMs.values()].sort((a, b) => a - b);
  const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor(lags.length * p))]!;

  sink.kill('SIGTERM');
  await sinkExited;
  await clickhouse.close();
  await services.telemetry.shutdown();

  const sinkRowsPerSec = Math.round(eventsTotal / (sinkMs / 1000));
  const directRowsPerSec = Math.round(eventsTotal / (directMs / 1000));
  const pubsubOnlyPerSec = Math.round(eventsTotal / (pubsubMs / 1000));
  const sinkConcurrentRowsPerSec = Math.round(eventsTotal / (concurrentMs / 1000));
  log(`sink ${sinkRowsPerSec} events/s, direct ${directRowsPerSec} events/s, ratio ${(sinkRowsPerSec / directRowsPerSec).toFixed(3)} (goal >= 0.5); publishing meanwhile ${sinkConcurrentRowsPerSec} events/s; the Pub/Sub emulator alone drains ${pubsubOnlyPerSec} messages/s; lag p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; sink peak RSS ${peakRssMb} MB`);
  return { ratio: Number((sinkRowsPerSec / directRowsPerSec).toFixed(3)), sinkConcurrentRowsPerSec, pubsubOnlyPerSec, lagP50Ms: pct(0.5), sinkRowsPerSec, directRowsPerSec, lagP99Ms: pct(0.99), peakRssMb };
}
