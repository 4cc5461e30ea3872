/**
 * `npm run bench:webhooks` (issue 16 item 8): merchant webhook delivery on the emulators.
 *   deliveriesPerSec   events through webhookDispatcher, as npm start runs it (the local Pub/Sub
 *                      bridge on domain-events handing it `webhookDispatcherConcurrency` messages
 *                      at once, as terraform's per-instance concurrency), each signed, POSTed to a
 *                      local receiver and its delivery recorded in Firestore: a backlog of
 *                      BENCH_WEBHOOK_EVENTS domain events is published while the dispatcher is
 *                      stopped, and timed from its start until every event is done (answered 2xx
 *                      and recorded). The dispatcher's rate, not the publisher's.
 *   directPostsPerSec  the same number of signed POSTs (Standard Webhooks headers, same bodies'
 *                      size) with plain fetch, as many in flight, same run
 *   p99LagMs           outbox write to the receiver's 2xx: BENCH_WEBHOOK_LAG_EVENTS events written
 *                      to the outbox at BENCH_WEBHOOK_LAG_RATE per second, each relayed as the
 *                      deployed trigger does (the carried document), through Pub/Sub and the
 *                      dispatcher
 * The throughput phases run in BENCH_ROUNDS rounds, alternating, after an unmeasured round of
 * each (the emulator's JVM keeps compiling for tens of seconds). Also prints the closed-loop
 * figure of earlier versions of this bench (`closedLoopDeliveriesPerSec`: BENCH_CONCURRENCY
 * workers, each writing an outbox event and waiting for its delivery: concurrency / latency).
 * Prints one JSON object as its last line. Goal: deliveriesPerSec / directPostsPerSec >= 0.5.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { benchConcurrency, benchLog, benchRounds, measureRounds, measureWorkers, runBench } from './support.js';

const log = benchLog('bench:webhooks');
const eventsPerRound = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 3_000);
const lagEvents = Number(process.env.BENCH_WEBHOOK_LAG_EVENTS ?? 200);
const lagEventsPerSec = Number(process.env.BENCH_WEBHOOK_LAG_RATE ?? 20);

runBench('bench:webhooks', async () => {
  const { startFakeKms } = await import('../emulators/fake-kms/server.js');
  const kms = await startFakeKms();
  process.env.TALLY_KMS_ENDPOINT = kms.address;
  process.env.TALLY_WEBHOOK_SECRETS_KMS_KEY = 'projects/demo-tally/locations/global/keyRings/tally/cryptoKeys/webhook-secrets';
  const { parseConfig } = await import('../functions/src/platform/config/config.js');
  const { composeServices } = await import('../functions/src/compose.js');
  const { webhookDispatcherConcurrency } = await import('../functions/src/compose-webhooks.js');
  const { createEndpoint } = await import('../functions/src/app/webhooks/endpoints.js');
  const { newSecret, signedHeaders } = await import('../functions/src/app/webhooks/signing.js');
  const { webhookBody } = await import('../functions/src/domain/webhooks/endpoint.js');
  const { createWebhookDispatcherHandler } = await import('../functions/src/handlers/pubsub/webhook-dispatcher.js');
  const { bridgeTopicToHandler } = await import('../emulators/pubsub-bridge.js');
  const { subscriptionPolicies } = await import('../functions/src/adapters/pubsub/subscription-policies.js');
  const { relayOutboxDocument } = await import('../functions/src/app/outbox/relay.js');
  const { outboxDocumentFields, outboxDocumentFromFields } = await import('../functions/src/adapters/firestore/outbox-store.js');
  const { DomainEventSchema } = await import('../functions/src/gen/tally/events/v1/events_pb.js');
  const { fromBinary } = await import('@bufbuild/protobuf');
  const services = composeServices(parseConfig());
  await services.bus.ensureTopics(['domain-events']);

  // The receiver: answers 200 at once (keep-alive), notes when each event's 2xx went out.
  const answeredAtMs = new Map<string, number>();
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200).end('ok');
      const id = req.headers['webhook-id'];
      if (typeof id === 'string') answeredAtMs.set(id, performance.now());
    });
  });
  receiver.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  // Endpoints each subscribed to one event type, events spread over them: one delivery per event
  // (32 endpoints: a tenant has at most 50; each takes 16 concurrent POSTs per instance).
  const tenantId = `ten_bench_${randomUUID().slice(0, 8)}`;
  const trace = { traceId: '', spanId: '' };
  const endpoints = 32;
  for (let e = 0; e < endpoints; e++) {
    await createEndpoint(services.webhooks, tenantId, { url: receiverUrl, eventTypes: [`bench.w${e}`], description: 'bench' }, trace);
  }
  const typeOf = (n: number) => `bench.w${n % endpoints}`;
  const payload = { amountMinor: '100', currency: 'EUR' };

  // The dispatcher as deployed, timed inside: where its time goes (POST vs its record).
  const inside = { postMs: 0, posts: 0, recordMs: 0, records: 0 };
  const real = services.webhooks;
  const timed = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, add: (ms: number) => void) => async (...a: A): Promise<R> => {
    const t0 = performance.now();
    try { return await fn(...a); } finally { add(performance.now() - t0); }
  };
  const webhooks = {
    ...real,
    sender: { send: timed(real.sender.send.bind(real.sender), (ms) => { inside.postMs += ms; inside.posts += 1; }) },
    store: { ...real.store, createDelivery: timed(real.store.createDelivery.bind(real.store), (ms) => { inside.recordMs += ms; inside.records += 1; }) },
  };
  const dispatcher = createWebhookDispatcherHandler({ webhooks, logger: services.logger });
  // Each event id's completion (the dispatcher returned: delivered and recorded).
  const done = new Map<string, () => void>();
  const whenDone = (id: string) => new Promise<void>((resolve) => done.set(id, resolve));
  let dispatchFailures = 0;
  const subscription = `webhook-dispatcher-bench-${randomUUID().slice(0, 8)}`;
  const startDispatcher = () => bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: 'domain-events', subscription,
    policy: subscriptionPolicies['webhook-dispatcher'], inFlightMax: webhookDispatcherConcurrency,
    handler: async (event) => {
      await dispatcher(event);
      const id = fromBinary(DomainEventSchema, Buffer.from(event.data?.message.data ?? '', 'base64')).eventId;
      done.get(id)?.();
      done.delete(id);
    },
    onError: (error) => { dispatchFailures += 1; log(`dispatcher failed: ${String(error)}`); },
  });
  let bridge = await startDispatcher();

  // One domain event as the relay publishes it.
  const domainEvent = (id: string, n: number) => toBinary(DomainEventSchema, create(DomainEventSchema, {
    eventId: id, type: typeOf(n), tenantId, aggregateId: `pay_bench_${n}`, occurredAt: timestampFromMs(Date.now()), traceId: '', spanId: '', payloadJson: JSON.stringify(payload),
  }));
  let unanswered = 0;
  const takeAnswer = (id: string): number | undefined => {
    const at = answeredAtMs.get(id);
    answeredAtMs.delete(id);
    if (at === undefined) unanswered += 1;
    return at;
  };

  /** A backlog published while the dispatcher is stopped, drained from its start: the ms it took. */
  const dispatcherRound = async (label: string, events: number): Promise<number> => {
    await bridge.stop();
    const ids = Array.from({ length: events }, (_, n) => `evt_bench_${label}_${n}_${randomUUID().slice(0, 8)}`);
    const finished = ids.map(whenDone);
    await Promise.all(ids.map((id, n) => services.bus.publish('domain-events', domainEvent(id, n), { eventId: id })));
    const t0 = performance.now();
    bridge = await startDispatcher();
    await Promise.all(finished);
    const elapsedMs = performance.now() - t0;
    for (const id of ids) takeAnswer(id);
    return elapsedMs;
  };

  const secret = newSecret();
  /** The same number of signed POSTs with fetch, as many in flight: the ms they took. */
  const directRound = async (label: string, requests: number): Promise<number> => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: webhookDispatcherConcurrency }, async () => {
      for (let n = next++; n < requests; n = next++) {
        const id = `evt_direct_${label}_${n}_${randomUUID().slice(0, 8)}`;
        const body = webhookBody({ id, type: typeOf(n), objectId: `pay_bench_${n}`, occurredAtMs: Date.now(), body: payload });
        const res = await fetch(receiverUrl, {
          method: 'POST', headers: { ...signedHeaders(id, body, [secret.raw], new Date()), 'content-type': 'application/json' }, body, redirect: 'manual', signal: AbortSignal.timeout(10_000),
        });
        await res.text();
        if (res.status !== 200) unanswered += 1;
        answeredAtMs.delete(id);
      }
    }));
    return performance.now() - t0;
  };

  log(`warming up: ${eventsPerRound} events through the dispatcher, ${eventsPerRound} direct POSTs (unmeasured) ...`);
  await dispatcherRound('warm', eventsPerRound);
  await directRound('warm', eventsPerRound);
  inside.postMs = inside.posts = inside.recordMs = inside.records = 0;
  const measured = await measureRounds(log, {
    rounds: benchRounds, opsPerRound: eventsPerRound,
    paths: { dispatcher: (label) => dispatcherRound(label, eventsPerRound), direct: (label) => directRound(label, eventsPerRound) },
  });
  const { dispatcher: deliveriesPerSec, direct: directPostsPerSec } = measured;

  // Lag through the whole path: outbox write, relay (as the deployed trigger, the carried
  // document), Pub/Sub, dispatcher, POST; paced well below the throughput.
  log(`lag: ${lagEvents} outbox events at ${lagEventsPerSec}/s through relay, Pub/Sub and the dispatcher ...`);
  const lagsMs: number[] = [];
  const lagOne = async (n: number) => {
    const id = `evt_lag_${n}_${randomUUID().slice(0, 8)}`;
    const finished = whenDone(id);
    const writtenAtMs = performance.now();
    const fields = outboxDocumentFields(tenantId, [{ id, type: typeOf(n), aggregateId: `pay_bench_${n}`, payload, createdAtMs: Date.now(), traceId: '', spanId: '' }]);
    const { writeTime } = await services.db.collection('tenants').doc(tenantId).collection('outbox').doc(id).create(fields);
    const version = `${writeTime.seconds}.${String(writeTime.nanoseconds).padStart(9, '0')}`;
    await relayOutboxDocument(services.outbox, tenantId, id, outboxDocumentFromFields(tenantId, id, fields, version));
    await finished;
    const answered = takeAnswer(id);
    if (answered !== undefined) lagsMs.push(answered - writtenAtMs);
  };
  const lagStart = performance.now();
  const lagRuns: Promise<void>[] = [];
  for (let n = 0; n < lagEvents; n++) {
    const wait = lagStart + (n * 1000) / lagEventsPerSec - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    lagRuns.push(lagOne(n));
  }
  await Promise.all(lagRuns);
  // Taken now: the closed loop below reuses lagOne, which adds to lagsMs.
  const lags = [...lagsMs].sort((a, b) => a - b);
  const pct = (p: number) => Number((lags[Math.min(lags.length - 1, Math.floor(lags.length * p))] ?? 0).toFixed(1));
  if (lags.length !== lagEvents) throw new Error(`lag: ${lags.length} of ${lagEvents} events answered`);

  // The closed loop of earlier versions: each worker writes an outbox event and waits for its delivery.
  const closedLoop = await measureWorkers(log, 'closed loop (outbox write to recorded delivery)', async (worker, i) => {
    await lagOne(1_000_000 + worker * 100_000 + i);
  }, 8_000);

  await bridge.stop();
  await new Promise((resolve) => receiver.close(resolve));
  await kms.stop();
  const avg = (ms: number, n: number) => (n === 0 ? 0 : Number((ms / n).toFixed(1)));
  log(`inside the dispatcher (ms, mean over the measured rounds): signed POST ${avg(inside.postMs, inside.posts)}, delivery recorded ${avg(inside.recordMs, inside.records)}`);
  if (unanswered > 0 || dispatchFailures > 0) throw new Error(`${unanswered} events were not answered 2xx, ${dispatchFailures} dispatches failed`);
  const ratio = Number((deliveriesPerSec / directPostsPerSec).toFixed(3));
  log(`dispatcher ${deliveriesPerSec}/s; direct ${directPostsPerSec}/s; ratio ${ratio} (goal >= 0.5: ${ratio >= 0.5 ? 'met' : 'not met'}); lag p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; closed loop ${closedLoop.perSec}/s with ${benchConcurrency} workers`);
  return {
    ratio, goalRatio: 0.5, goalMet: ratio >= 0.5, inFlight: webhookDispatcherConcurrency, eventsPerRound, rounds: benchRounds,
    p50LagMs: pct(0.5), closedLoopDeliveriesPerSec: closedLoop.perSec, deliveriesPerSec, directPostsPerSec, p99LagMs: pct(0.99),
  };
});
