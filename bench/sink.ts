/**
 * bench:sink (issue 13 item 9). Prints, as its last line, one JSON object:
 * - sinkRowsPerSec: analyticsSink (its own process, as npm start runs it) draining a backlog of
 *   events on `domain-events` (Pub/Sub emulator) into the real ClickHouse: the events are
 *   published while the sink is paused, and timed from its resume until every one is queryable
 *   (FINAL). The sink's own rate, not the emulator's publish path (which a concurrent run of
 *   publisher and sink on two cores mostly measures, `sinkConcurrentRowsPerSec`, also printed);
 * - directRowsPerSec: the same events' rows inserted straight into ClickHouse with the client in
 *   batches of TALLY_ANALYTICS_BATCH_ROWS_MAX, as many at once as the sink writes, same run, from
 *   a process of its own as the sink has (bench/direct-process.ts);
 * both after an unmeasured warm-up of each path (BENCH_SINK_WARM_EVENTS, 5,000), then in
 * BENCH_ROUNDS (3) rounds alternating sink and direct on BENCH_SINK_EVENTS (60,000) events each,
 * every phase starting on a quiet machine (no ClickHouse merge running, CPUs idle, so that one
 * path's after-effects do not land on the other's clock); each figure covers all its rounds. (With
 * 20,000 events a direct round took half a second and swung from 17,000 to 41,000 rows/s between
 * rounds of one run; 60,000 keep it within about 25%.)
 * - lagP99Ms: outbox write (the entry's commit time) to queryable row, through the local stack:
 *   ledger entries through the use case, the local outbox trigger and relay, Pub/Sub, the sink;
 * - peakRssMb: the sink process's peak resident set.
 * Goal: sinkRowsPerSec / directRowsPerSec >= 0.5. Starts and stops the emulators and ClickHouse.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { toBinary } from '@bufbuild/protobuf';
import { highVolumeStreamsMax } from '../emulators/pubsub-bridge.js';
import { makeBenchEvents } from './sink-events.js';
import { benchLog, measureRounds, runBench } from './support.js';

const log = benchLog('bench:sink');
const eventsTotal = Number(process.env.BENCH_SINK_EVENTS ?? 60_000);
const lagEntries = Number(process.env.BENCH_SINK_LAG_ENTRIES ?? 300);
const warmEvents = Number(process.env.BENCH_SINK_WARM_EVENTS ?? 5_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const lagEntriesPerSec = Number(process.env.BENCH_SINK_LAG_RATE ?? 30);

/** The share of all CPUs' time spent busy over the next `windowMs` (Linux /proc/stat; 0 where there is none). */
async function cpuBusyShare(windowMs: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const sample = async (): Promise<[number, number] | undefined> => {
    const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
    if (!line.startsWith('cpu ')) return undefined;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return [ticks.reduce((a, b) => a + b, 0), idle];
  };
  const before = await sample();
  await new Promise((r) => setTimeout(r, windowMs));
  const after = await sample();
  if (!before || !after || after[0] === before[0]) return 0;
  return 1 - (after[1] - before[1]) / (after[0] - before[0]);
}

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
    const answered = said.get(line);
    const rss = /^sink peakRssMb (\d+)$/.exec(line)?.[1];
    if (rss) peakRssMb = Number(rss);
    // Anything else is the sink's own log (warnings and up): shown, so that a stall says why.
    if (answered) answered();
    else if (!rss) log(`[sink log] ${line.slice(0, 400)}`);
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
  const makeEvents = (tenantId: string, n = eventsTotal) => makeBenchEvents(tenantId, n);

  // The direct path: the same events' rows, built by the sink's row code and inserted straight
  // into ClickHouse by a process of its own (bench/direct-process.ts), as the sink has one.
  const directProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/direct-process.ts'], { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  const directExited = once(directProcess, 'exit');
  cleanups.push(async () => { if (directProcess.exitCode === null) { directProcess.stdin!.end(); directProcess.kill('SIGTERM'); await directExited; } });
  const directLines = createInterface({ input: directProcess.stdout! });
  let directAnswer: ((line: string) => void) | undefined;
  const directReady = new Promise<void>((resolve) => { directAnswer = () => resolve(); });
  directLines.on('line', (line) => { const answer = directAnswer; directAnswer = undefined; answer?.(line); });
  await directReady;
  const direct = async (tenantId: string, n: number): Promise<number> => {
    const answered = new Promise<string>((resolve) => { directAnswer = resolve; });
    directProcess.stdin!.write(`insert ${tenantId} ${n}\n`);
    const [word, elapsedMs, cpuUs] = (await answered).split(' ');
    if (word !== 'inserted') throw new Error(`direct process answered: ${word}`);
    log(`  direct: ${(Number(cpuUs) / n).toFixed(1)} µs of its process's CPU per row`);
    if ((await count(tenantId)) !== n) throw new Error('direct insert lost rows');
    return Number(elapsedMs);
  };
  // The sink's rate: a backlog published while it is paused, drained from its resume (its
  // resubscription included) until every event is queryable.
  const drain = async (tenantId: string, n: number): Promise<number> => {
    await tellSink('pause');
    const publishStart = performance.now();
    await Promise.all(makeEvents(tenantId, n).map((e) => services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId })));
    log(`  backlog of ${n} published in ${Math.round(performance.now() - publishStart)} ms; resuming the sink ...`);
    const startedMs = performance.now();
    await tellSink('resume');
    await waitForRows(tenantId, n, Date.now() + 300_000);
    return performance.now() - startedMs;
  };
  // Each measured phase starts on a quiet machine: no ClickHouse merge running and the CPUs idle.
  // Otherwise the previous phase's after-effects (ClickHouse merging its parts, the Pub/Sub
  // emulator's JVM collecting and compiling after a burst) land on whichever path comes next.
  const quiet = async (): Promise<void> => {
    const deadlineMs = Date.now() + 30_000;
    while (Date.now() < deadlineMs) {
      const [row] = await queryRows<{ n: string }>(clickhouse, { sql: 'SELECT count() AS n FROM system.merges', params: {} });
      if (Number(row!.n) === 0 && (await cpuBusyShare(300)) < 0.1) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    log('  (the machine is still busy after 30 s; measuring anyway)');
  };

  // Warm-up, unmeasured: both paths, so that both are measured warm (the sink's JIT and
  // connections, the emulator's JVM, ClickHouse).
  log(`warm-up: ${warmEvents} events through the sink and straight in ...`);
  const warm = `ten_warm_${randomUUID().slice(0, 8)}`;
  for (const e of makeEvents(warm, warmEvents)) void services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId });
  await waitForRows(warm, warmEvents, Date.now() + 120_000);
  await direct(`ten_warmdirect_${randomUUID().slice(0, 8)}`, warmEvents);

  // Measured: rounds alternating the two paths, each on the same number of events.
  const measured = await measureRounds(log, {
    rounds, opsPerRound: eventsTotal, beforeEach: quiet,
    paths: {
      sink: (label) => drain(`ten_sink_${label}_${randomUUID().slice(0, 8)}`, eventsTotal),
      direct: (label) => direct(`ten_direct_${label}_${randomUUID().slice(0, 8)}`, eventsTotal),
    },
  });

  // For comparison: publisher and sink at once (the emulator's publish path shares the two cores).
  log(`sink, publishing meanwhile: ${eventsTotal} events ...`);
  const concurrentTenant = `ten_sinkpub_${randomUUID().slice(0, 8)}`;
  const concurrentStart = performance.now();
  await Promise.all(makeEvents(concurrentTenant).map((e) => services.bus.publish('domain-events', toBinary(DomainEventSchema, e), { eventId: e.eventId })));
  await waitForRows(concurrentTenant, eventsTotal, Date.now() + 300_000);
  const concurrentMs = performance.now() - concurrentStart;

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
  directProcess.stdin!.end();
  await directExited;
  await clickhouse.close();
  await services.telemetry.shutdown();

  const { sink: sinkRowsPerSec, direct: directRowsPerSec } = measured;
  const pubsubOnlyPerSec = Math.round(eventsTotal / (pubsubMs / 1000));
  const sinkConcurrentRowsPerSec = Math.round(eventsTotal / (concurrentMs / 1000));
  log(`sink ${sinkRowsPerSec} events/s, direct ${directRowsPerSec} events/s, ratio ${(sinkRowsPerSec / directRowsPerSec).toFixed(3)} (goal >= 0.5); publishing meanwhile ${sinkConcurrentRowsPerSec} events/s; the Pub/Sub emulator alone drains ${pubsubOnlyPerSec} messages/s; lag p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; sink peak RSS ${peakRssMb} MB`);
  return { ratio: Number((sinkRowsPerSec / directRowsPerSec).toFixed(3)), sinkConcurrentRowsPerSec, pubsubOnlyPerSec, lagP50Ms: pct(0.5), sinkRowsPerSec, directRowsPerSec, lagP99Ms: pct(0.99), peakRssMb };
}
