/**
 * What one checkout costs in Firestore documents, counted at the client against the emulator
 * (issue 12 item 5, ADR 0027): the API call (create + confirm + automatic capture) writes one
 * outbox document per commit, not one per event, and the relay of what the trigger carries
 * (as the local trigger delivers it: the created document as a protobuf DocumentEventData) reads
 * nothing and writes one mark per document, while still publishing one message per event with the
 * event's id. Upper bounds are the figures of ADR 0027 after the change: a write or read added
 * back to the path fails here.
 */
import { randomUUID } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { Firestore } from '@google-cloud/firestore';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { Message } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxTrigger } from '../emulators/outbox-trigger.js';
import { domainEventsTopic } from '../functions/src/app/outbox/outbox-message.js';
import { DomainEventSchema } from '../functions/src/gen/tally/events/v1/events_pb.js';
import { CaptureMethod, PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { createOutboxRelayHandler } from '../functions/src/handlers/firestore/outbox-relay.js';
import { eventually } from './support/eventually.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

/** ADR 0027, after one outbox document per commit and the carried relay. */
const apiWritesMax = 13;
const apiOutboxWrites = 2;

let env: PaymentsStack;
let triggerDb: Firestore;
beforeAll(async () => {
  env = await startPaymentsStack();
  // No webhooks: only the API call and the relay touch Firestore while counting.
  env.sandbox.control.setWebhookTargets({});
  triggerDb = new Firestore({ projectId: env.stack.services.config.projectId, preferRest: false, useBigInt: true });
});
afterAll(async () => { await triggerDb.terminate(); await env.close(); });

const key = () => randomUUID();

describe('documents per checkout (issue 12 item 5)', () => {
  it('the API call writes one outbox document per commit; the relay of the carried documents reads nothing and marks each once; one message per event', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
    const checkout = () => owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.AUTOMATIC, confirm: true, idempotencyKey: key() });
    await checkout(); // warm: the tenant's ledger accounts exist, as for every checkout but the first

    const api = await countFirestoreRpcs(checkout, env.stack.services.db);
    const paid = api.result.payment!;
    expect(paid.status).toBe(PaymentStatus.SUCCEEDED);
    expect(api.documents.writesByCollection.outbox).toBe(apiOutboxWrites);
    expect(api.documents.writes).toBeLessThanOrEqual(apiWritesMax);
    // The checkout's events: those of the documents its commits wrote.
    const documentIds = new Set(api.written.filter((name) => name.includes('/outbox/')).map((name) => name.split('/').at(-1)!));
    const events = (await Promise.all([...documentIds].map((id) => env.stack.services.outbox.store.get(tenantId, id)))).flatMap((d) => d!.events);
    expect(events.filter((e) => e.aggregateId === paid.id).map((e) => e.type)).toContain('payment.created');
    expect(events.length).toBeGreaterThan(apiOutboxWrites); // several events share a document

    // The CloudEvents the local trigger delivers for them (the poll reads; Eventarc's delivery is not ours).
    const delivered: CloudEvent<unknown>[] = [];
    const trigger = startOutboxTrigger({ db: triggerDb, projectId: env.stack.services.config.projectId, pollIntervalMs: 3_600_000, handler: (e) => { delivered.push(e); return Promise.resolve(); } });
    await trigger.poll();
    await trigger.stop();
    const written = api.written.filter((name) => name.includes(`/documents/tenants/${tenantId}/outbox/`)).map((name) => `documents/tenants/${tenantId}/outbox/${name.split('/').at(-1)!}`);
    const ours = delivered.filter((e) => written.includes(String(e.subject)));
    expect(ours).toHaveLength(apiOutboxWrites);
    expect(ours.every((e) => e.datacontenttype === 'application/protobuf' && e.data instanceof Uint8Array)).toBe(true);
    // The relay publishes the same bytes from the carried document as from a read of it (same envelope, same payload JSON).
    const { store, encode } = env.stack.services.outbox;
    for (const e of ours) {
      const id = String(e.subject).split('/').at(-1)!;
      const carried = store.carried(e.data, tenantId, id);
      const read = await store.get(tenantId, id);
      expect(carried?.events.map((x) => Buffer.from(encode(x)).toString('base64'))).toEqual(read!.events.map((x) => Buffer.from(encode(x)).toString('base64')));
    }

    await env.stack.services.bus.ensureTopics([domainEventsTopic]);
    const [subscription] = await env.stack.services.bus.client.topic(domainEventsTopic).createSubscription(`cost-${randomUUID().slice(0, 8)}`, { enableMessageOrdering: true });
    const messages: Message[] = [];
    subscription.on('message', (m: Message) => { messages.push(m); m.ack(); });
    try {
      const relay = createOutboxRelayHandler({ outbox: env.stack.services.outbox, logger: env.stack.services.logger });
      const relayed = await countFirestoreRpcs(async () => { for (const e of ours) await relay(e); }, env.stack.services.db);
      expect(relayed.documents).toEqual({ reads: 0, writes: apiOutboxWrites, deletes: 0, writesByCollection: { outbox: apiOutboxWrites } });
      for (const e of ours) expect((await env.stack.services.outbox.store.get(tenantId, String(e.subject).split('/').at(-1)!))?.publishedAtMs).toEqual(expect.any(Number));

      // One message per event, as before the change: the event's id, type, aggregate as ordering key.
      await eventually(() => { if (events.some((e) => !messages.some((m) => m.attributes.eventId === e.id))) throw new Error('messages missing'); }, { timeoutMs: 15_000, intervalMs: 100 });
      for (const event of events) {
        const copies = messages.filter((m) => m.attributes.eventId === event.id);
        expect(copies).toHaveLength(1);
        expect(copies[0]!.attributes).toMatchObject({ eventId: event.id, type: event.type, tenantId, aggregateId: event.aggregateId });
        expect(copies[0]!.orderingKey).toBe(event.aggregateId);
        expect(fromBinary(DomainEventSchema, copies[0]!.data)).toMatchObject({ eventId: event.id, type: event.type, aggregateId: event.aggregateId });
      }

      // A redelivered trigger (after the mark): publishes again (same ids: consumers dedupe), marks nothing, still reads nothing.
      const again = await countFirestoreRpcs(() => relay(ours[0]!), env.stack.services.db);
      expect(again.documents).toMatchObject({ reads: 0, writes: 1, deletes: 0 }); // the conditional mark, refused
    } finally {
      await subscription.close();
      await subscription.delete();
    }
  });
});
