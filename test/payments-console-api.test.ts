/**
 * What the merchant console's payment pages read (issue 17 item 4), over the real API on the
 * emulators with the sandbox PSP: a payment's timeline (ListPaymentEvents, from the tenant's
 * outbox) and ListPayments' filters (statuses, creation time range, customer) with cursor paging.
 */
import { randomUUID } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { TimestampSchema, timestampDate, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureMethod, PaymentStatus, type ListPaymentsRequestSchema, type Payment } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { Code, expectConnectError } from './support/connect-error.js';
import { eventually } from './support/eventually.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

async function shop(): Promise<{ tenantId: string; owner: TallyClient; viewer: TallyClient; viewerKey: string; pm: string }> {
  const { tenantId, owner } = await env.stack.newTenant('Console payments');
  const viewerKey = (await owner.tenancy.createApiKey({ name: 'viewer', role: Role.VIEWER, idempotencyKey: key() })).apiKey!.secret;
  const viewer = createTallyClient(env.stack.url, viewerKey);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  return { tenantId, owner, viewer, viewerKey, pm };
}

/** Every page of ListPayments with `filter`, following the cursor (bounded). */
async function allPages(client: TallyClient, filter: MessageInitShape<typeof ListPaymentsRequestSchema>, pageSize: number): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = '';
  for (let page = 0; page < 50; page++) {
    const res = await client.payments.listPayments({ ...filter, pageSize, pageToken });
    expect(res.payments.length).toBeLessThanOrEqual(pageSize);
    ids.push(...res.payments.map((p) => p.id));
    if (res.nextPageToken === '') return ids;
    pageToken = res.nextPageToken;
  }
  throw new Error('more than 50 pages');
}

describe('ListPaymentEvents: a payment timeline', () => {
  it('lists the payment\'s own events oldest first (not its ledger entries\'), page by page, for a viewer too', async () => {
    const { tenantId, owner, viewer, pm } = await shop();
    const paid = (await owner.payments.createPayment({ amountMinor: 2_500n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
    expect(paid.status).toBe(PaymentStatus.SUCCEEDED);
    await owner.payments.refundPayment({ paymentId: paid.id, amountMinor: 700n, idempotencyKey: key() });

    // The refund settles through the PSP's webhook: wait until its event is in the timeline.
    const events = await eventually(async () => {
      const res = await viewer.payments.listPaymentEvents({ paymentId: paid.id, pageSize: 100 });
      expect(res.events.map((e) => e.type)).toContain('payment.refund_succeeded');
      return res.events;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('payment.created');
    const succeeded = events.findIndex((e) => e.type === 'payment.status_changed' && (JSON.parse(e.payloadJson) as { to: string }).to === 'succeeded');
    expect(succeeded).toBeGreaterThan(0);
    expect(types.indexOf('payment.refund_succeeded')).toBeGreaterThan(succeeded);
    for (const e of events) expect({ aggregateId: e.aggregateId, tenantId: e.tenantId }).toEqual({ aggregateId: paid.id, tenantId });
    const times = events.map((e) => timestampMs(e.occurredAt!));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const refunded = events.find((e) => e.type === 'payment.refund_succeeded')!;
    expect(JSON.parse(refunded.payloadJson)).toMatchObject({ amountMinor: '700', payment: { amountRefundedMinor: '700' } });

    // The capture committed the payment's events with ledger entries' events in one outbox
    // document: those belong to the entries, not to this timeline.
    const outbox = (await env.stack.services.db.collection(`tenants/${tenantId}/outbox`).where('aggregateIds', 'array-contains', paid.id).get()).docs;
    const otherAggregates = outbox.flatMap((d) => (d.get('events') as { aggregateId: string }[]).map((e) => e.aggregateId)).filter((a) => a !== paid.id);
    expect(otherAggregates.length).toBeGreaterThan(0);

    // Page by page (one event a page) gives the same events in the same order.
    const paged: string[] = [];
    let pageToken = '';
    for (let i = 0; i < 30; i++) {
      const res = await viewer.payments.listPaymentEvents({ paymentId: paid.id, pageSize: 1, pageToken });
      paged.push(...res.events.map((e) => e.eventId));
      if (res.nextPageToken === '') break;
      pageToken = res.nextPageToken;
    }
    expect(paged).toEqual(events.map((e) => e.eventId));
  });

  it('another tenant\'s payment, an unknown one and malformed input are typed errors', async () => {
    const a = await shop();
    const b = await shop();
    const paid = (await a.owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: a.pm, confirm: true, idempotencyKey: key() })).payment!;
    await expectConnectError(b.owner.payments.listPaymentEvents({ paymentId: paid.id }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(a.viewer.payments.listPaymentEvents({ paymentId: 'pay_nope' }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(a.viewer.payments.listPaymentEvents({ paymentId: '' }), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'payment_id' });
    await expectConnectError(a.viewer.payments.listPaymentEvents({ paymentId: '../x' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'payment_id' });
    await expectConnectError(a.viewer.payments.listPaymentEvents({ paymentId: paid.id, pageToken: 'bm9wZQ' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'page_token' });
    await expectConnectError(a.viewer.payments.listPaymentEvents({ paymentId: paid.id, pageSize: 101 }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'page_size' });
    expect((await a.viewer.payments.listPaymentEvents({ paymentId: paid.id })).events.length).toBeGreaterThan(0);
  });
});

describe('ListPayments filters', () => {
  it('filters by statuses, creation time range and customer, newest first, page by page', async () => {
    const { owner, viewer, pm } = await shop();
    const customer = (await owner.payments.createCustomer({ email: 'ada@example.com', name: 'Ada', idempotencyKey: key() })).customer!;
    const made: Payment[] = [];
    // Oldest first: succeeded, requires_capture, requires_payment_method, succeeded (the customer's), requires_capture (the customer's).
    const make = async (request: Parameters<TallyClient['payments']['createPayment']>[0]) => {
      made.push((await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', idempotencyKey: key(), ...request })).payment!);
    };
    await make({ paymentMethodId: pm, confirm: true });
    await make({ paymentMethodId: pm, confirm: true, captureMethod: CaptureMethod.MANUAL });
    await make({});
    await make({ paymentMethodId: pm, confirm: true, customerId: customer.id });
    await make({ paymentMethodId: pm, confirm: true, captureMethod: CaptureMethod.MANUAL, customerId: customer.id });
    expect(made.map((p) => p.status)).toEqual([PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_PAYMENT_METHOD, PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE]);
    const newestFirst = (ps: Payment[]) => [...ps].sort((x, y) => timestampMs(y.createTime!) - timestampMs(x.createTime!) || (y.id < x.id ? -1 : 1)).map((p) => p.id);

    expect(await allPages(viewer, {}, 2)).toEqual(newestFirst(made));
    expect(await allPages(viewer, { statuses: [PaymentStatus.SUCCEEDED] }, 1)).toEqual(newestFirst([made[0]!, made[3]!]));
    expect(await allPages(viewer, { statuses: [PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.SUCCEEDED] }, 3))
      .toEqual(newestFirst([made[0]!, made[1]!, made[3]!, made[4]!]));
    expect(await allPages(viewer, { customerId: customer.id }, 1)).toEqual(newestFirst([made[3]!, made[4]!]));
    expect(await allPages(viewer, { customerId: customer.id, statuses: [PaymentStatus.REQUIRES_CAPTURE] }, 1)).toEqual([made[4]!.id]);
    expect(await allPages(viewer, { statuses: [PaymentStatus.FAILED] }, 1)).toEqual([]);

    // [created_after, created_before): from the second payment's creation to the fourth's, exclusive.
    const from = timestampMs(made[1]!.createTime!);
    const before = timestampMs(made[3]!.createTime!);
    const inRange = made.filter((p) => timestampMs(p.createTime!) >= from && timestampMs(p.createTime!) < before);
    expect(inRange.length).toBeGreaterThan(0);
    expect(await allPages(viewer, { createdAfter: timestampFromMs(from), createdBefore: timestampFromMs(before) }, 1)).toEqual(newestFirst(inRange));
    expect(await allPages(viewer, { createdAfter: timestampFromMs(from), statuses: [PaymentStatus.SUCCEEDED] }, 5))
      .toEqual(newestFirst(made.filter((p) => timestampMs(p.createTime!) >= from && p.status === PaymentStatus.SUCCEEDED)));
    expect(timestampDate(made[0]!.createTime!).getTime()).toBeLessThanOrEqual(from);
  });

  it('refuses filters that cannot be met, naming the field', async () => {
    const { viewerKey } = await shop();
    // Binary protobuf: the JSON encoder would refuse the out-of-range times before sending them.
    const viewer = createTallyClient(env.stack.url, viewerKey, { useBinaryFormat: true });
    await expectConnectError(viewer.payments.listPayments({ statuses: [PaymentStatus.UNSPECIFIED] }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'statuses' });
    await expectConnectError(viewer.payments.listPayments({ statuses: [99 as PaymentStatus] }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'statuses' });
    const now = Date.now();
    await expectConnectError(viewer.payments.listPayments({ createdAfter: timestampFromMs(now), createdBefore: timestampFromMs(now) }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'created_before' });
    await expectConnectError(viewer.payments.listPayments({ createdAfter: create(TimestampSchema, { seconds: 10n ** 15n }) }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'created_after' });
    await expectConnectError(viewer.payments.listPayments({ createdBefore: create(TimestampSchema, { seconds: 1n, nanos: -1 }) }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'created_before' });
    await expectConnectError(viewer.payments.listPayments({ customerId: 'pay_x' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'customer_id' });
    await expectConnectError(viewer.payments.listPayments({ customerId: 'cus_a/b' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'customer_id' });
  });
});
