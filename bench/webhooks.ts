/**
 * `npm run bench:webhooks` (issue 16 item 8): merchant webhook delivery on the emulators, two paths
 * measured interleaved at the same concurrency:
 *   deliveriesPerSec   events through the whole path: an outbox document written, relayed to
 *                      domain-events (Pub/Sub emulator), webhookDispatcher (via the local bridge)
 *                      records the delivery, signs it, POSTs it to a local receiver and records the
 *                      attempt; one op ends when the dispatcher is done with the event
 *   directPostsPerSec  the same signed POSTs (Standard Webhooks headers) with plain fetch
 *   p99LagMs           outbox write to the receiver's 2xx, over the dispatcher path's events
 * Prints one JSON object as its last line. Goal: deliveriesPerSec / directPostsPerSec >= 0.5.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchConcurrency as concurrency, benchLog, measureInterleaved, runBench } from './support.js';

const log = benchLog('bench:webhooks');

runBench('bench:webhooks', async () => {
  const { startFakeKms } = await import('../emulators/fake-kms/server.js');
  const kms = await startFakeKms();
  process.env.TALLY_KMS_ENDPOINT = kms.address;
  process.env.TALLY_WEBHOOK_SECRETS_KMS_KEY = 'projects/demo-tally/locations/global/keyRings/tally/cryptoKeys/webhook-secrets';
  const { parseConfig } = await import('../functions/src/platform/config/config.js');
  const { composeServices } = await import('../functions/src/compose.js');
  const { createEndpoint } = await import('../functions/src/app/webhooks/endpoints.js');
  const { newSecret, signedHeaders } = await import('../functions/src/app/webhooks/signing.js');
  const { webhookBody } = await import('../functions/src/domain/webhooks/endpoint.js');
  const { createWebhookDispatcherHandler } = await import('../functions/src/handlers/pubsub/webhook-dispatcher.js');
  const { bridgeTopicToHandler } = await import('../emulators/pubsub-bridge.js');
  const { relayOutboxDocument } = await import('../functions/src/app/outbox/relay.js');
  const { outboxDocumentFields, outboxDocumentFromFields } = await import('../functions/src/adapters/firestore/outbox-store.js');
  const services = composeServices(parseConfig());

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

  // Endpoints each subscribed to one event type, workers spread over them: one delivery per event
  // (at most 32 endpoints: a tenant has at most 50; each takes 16 concurrent POSTs per instance).
  const tenantId = `ten_bench_${randomUUID().slice(0, 8)}`;
  const trace = { traceId: '', spanId: '' };
  const endpoints = Math.min(concurrency, 32);
  for (let e = 0; e < endpoints; e++) {
    await createEndpoint(services.webhooks, tenantId, { url: receiverUrl, eventTypes: [`bench.w${e}`], description: 'bench' }, trace);
  }
  const typeOf = (worker: number) => `bench.w${worker % endpoints}`;

  // The dispatcher as deployed, fed by the local bridge; each op waits for its event to be done.
  const done = new Map<string, () => void>();
  // The real sender and store, timed: where the dispatcher's time goes (POST vs its record).
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
  const { fromBinary } = await import('@bufbuild/protobuf');
  const { DomainEventSchema } = await import('../functions/src/gen/tally/events/v1/events_pb.js');
  const bridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: 'domain-events', subscription: `webhook-dispatcher-bench-${randomUUID().slice(0, 8)}`,
    inFlightMax: 4 * concurrency,
    handler: async (event) => {
      const t0 = performance.now();
      await dispatcher(event);
      phases.dispatchMs += performance.now() - t0;
      phases.dispatched += 1;
      const id = fromBinary(DomainEventSchema, Buffer.from(event.data?.message.data ?? '', 'base64')).eventId;
      done.get(id)?.();
    },
    onError: (error) => log(`dispatcher failed: ${String(error)}`),
  });

  const lagsMs: number[] = [];
  // Where an event's time goes (averages, logged): outbox write, relay (publish, mark), dispatcher.
  const phases = { writeMs: 0, relayMs: 0, dispatchMs: 0, events: 0, dispatched: 0 };
  let failures = 0;
  const viaDispatcher = async (worker: number, i: number) => {
    const id = `evt_bench_${worker}_${i}_${randomUUID().slice(0, 8)}`;
    const finished = new Promise<void>((resolve) => done.set(id, resolve));
    const writtenAtMs = performance.now();
    const fields = outboxDocumentFields(tenantId, [{
      id, type: typeOf(worker), aggregateId: `pay_bench_${worker}`, payload: { amountMinor: '100', currency: 'EUR' }, createdAtMs: Date.now(), traceId: '', spanId: '',
    }]);
    const { writeTime } = await services.db.collection('tenants').doc(tenantId).collection('outbox').doc(id).create(fields);
    const relayStart = performance.now();
    phases.writeMs += relayStart - writtenAtMs;
    // As deployed: the trigger carries the created document (fields and update time), so the relay
    // publishes without reading it and marks it with a write conditional on that version.
    const version = `${writeTime.seconds}.${String(writeTime.nanoseconds).padStart(9, '0')}`;
    await relayOutboxDocument(services.outbox, tenantId, id, outboxDocumentFromFields(tenantId, id, fields, version));
    phases.relayMs += performance.now() - relayStart;
    phases.events += 1;
    await finished;
    done.delete(id);
    const answered = answeredAtMs.get(id);
    if (answered === undefined) failures += 1;
    else lagsMs.push(answered - writtenAtMs);
    answeredAtMs.delete(id);
  };

  const secret = newSecret();
  const direct = async (worker: number, i: number) => {
    const id = `evt_direct_${worker}_${i}_${randomUUID().slice(0, 8)}`;
    const body = webhookBody({ id, type: typeOf(worker), objectId: `pay_bench_${worker}`, occurredAtMs: Date.now(), body: { amountMinor: '100', currency: 'EUR' } });
    const res = await fetch(receiverUrl, { method: 'POST', headers: { ...signedHeaders(id, body, [secret.raw], new Date()), 'content-type': 'application/json' }, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    await res.text();
    if (res.status !== 200) failures += 1;
    answeredAtMs.delete(id);
  };

  log('warming up ...');
  await Promise.all(Array.from({ length: concurrency }, (_, w) => Promise.all([viaDispatcher(w, -1), direct(w, -1)])));
  lagsMs.length = 0;
  const measured = await measureInterleaved(log, { dispatcher: viaDispatcher, direct });
  await bridge.stop();
  await new Promise((resolve) => receiver.close(resolve));
  await kms.stop();
  const avg = (ms: number, n: number) => (n === 0 ? 0 : Math.round(ms / n));
  log(`per event (ms, mean): outbox write ${avg(phases.writeMs, phases.events)}, relay ${avg(phases.relayMs, phases.events)}, dispatcher ${avg(phases.dispatchMs, phases.dispatched)}`);
  log(`inside the dispatcher (ms, mean): signed POST ${avg(inside.postMs, inside.posts)}, delivery recorded (one write) ${avg(inside.recordMs, inside.records)}`);
  if (failures > 0) throw new Error(`${failures} events were not answered 2xx`);
  lagsMs.sort((a, b) => a - b);
  const p99LagMs = Number((lagsMs[Math.min(lagsMs.length - 1, Math.floor(lagsMs.length * 0.99))] ?? 0).toFixed(1));
  const ratio = Number((measured.dispatcher.perSec / measured.direct.perSec).toFixed(3));
  log(`dispatcher ${JSON.stringify(measured.dispatcher)}; direct ${JSON.stringify(measured.direct)}; ratio ${ratio} (goal >= 0.5: ${ratio >= 0.5 ? 'met' : 'not met'})`);
  return {
    deliveriesPerSec: measured.dispatcher.perSec, directPostsPerSec: measured.direct.perSec, p99LagMs,
    ratio, goalRatio: 0.5, goalMet: ratio >= 0.5, concurrency, deliveries: measured.dispatcher.ops,
  };
});
