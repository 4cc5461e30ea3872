/**
 * Proration through the API (issue 14 item 3), attacked: Stripe's published example at the API, a
 * proration date outside the period and other bad changes refused with nothing written, another
 * tenant's ids, idempotent replays.
 */
import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Interval, InvoiceStatus, PriceModel } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { Code, expectConnectError } from './support/connect-error.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const at = (iso: string) => timestampFromDate(new Date(iso));

async function documentsOf(tenantId: string): Promise<Record<string, number>> {
  const collections = await env.stack.services.db.doc(`tenants/${tenantId}`).listCollections();
  return Object.fromEntries(await Promise.all(collections.map(async (c) => [c.id, Number((await c.count().get()).data().count)] as const)));
}

/** A test tenant selling from DE, a FR customer on a clock at Jan 1 (a 31-day January), EUR 10 and 20 monthly prices. */
async function shop(): Promise<{ tenantId: string; owner: TallyClient; clockId: string; customerId: string; ten: string; twenty: string; productId: string }> {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Proration shop', testMode: true, idempotencyKey: key() });
  const owner = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE' }, idempotencyKey: key() });
  const clock = (await owner.billing.createTestClock({ name: 'p', frozenTime: at('2026-01-01T00:00:00Z'), idempotencyKey: key() })).testClock!;
  const customer = (await owner.payments.createCustomer({ email: 'a@example.com', name: 'A', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR', testClockId: clock.id }, idempotencyKey: key() });
  const product = (await owner.billing.createProduct({ name: 'Plan', idempotencyKey: key() })).product!;
  const price = async (amountMinor: bigint) => (await owner.billing.createPrice({
    price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key(),
  })).price!.id;
  return { tenantId: res.tenant!.id, owner, clockId: clock.id, customerId: customer.id, ten: await price(1_000n), twenty: await price(2_000n), productId: product.id };
}

describe('proration through the API', () => {
  it("Stripe's example: $10 -> $20 exactly halfway adds 5.00 (credit -5.00, charge +10.00), invoiced now with always_invoice and previewed first", async () => {
    const s = await shop();
    const created = await s.owner.billing.createSubscription({ customerId: s.customerId, items: [{ priceId: s.ten, quantity: 1n }], idempotencyKey: key() });
    const sub = created.subscription!;
    // Jan 1 .. Feb 1: halfway is Jan 16 12:00.
    const change = { priceId: s.twenty, prorationBehavior: 'always_invoice', prorationDate: at('2026-01-16T12:00:00Z') };
    const preview = (await s.owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change })).invoice!;
    const updated = await s.owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: key() });
    const invoice = updated.invoice!;
    expect(invoice.lines.map((l) => l.amountMinor).sort((a, b) => Number(a - b))).toEqual([-500n, 1_000n]);
    expect(invoice).toMatchObject({ subtotalMinor: 500n, taxMinor: 100n, totalMinor: 600n, status: InvoiceStatus.PAID, number: 'INV-000002' });
    expect({ lines: preview.lines, total: preview.totalMinor }).toEqual({ lines: invoice.lines, total: invoice.totalMinor });
    expect(updated.subscription?.items[0]).toMatchObject({ priceId: s.twenty, quantity: 1n });
  });

  it('bad changes get typed errors and write nothing: a proration date outside the period, quantity below 1, unknown or foreign price, currency mismatch, another interval, another tenant', async () => {
    const s = await shop();
    const other = await shop();
    const sub = (await s.owner.billing.createSubscription({ customerId: s.customerId, items: [{ priceId: s.ten, quantity: 2n }], idempotencyKey: key() })).subscription!;
    const usd = (await s.owner.billing.createPrice({ price: { productId: s.productId, currency: 'USD', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() })).price!.id;
    const yearly = (await s.owner.billing.createPrice({ price: { productId: s.productId, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.YEAR, intervalCount: 1 }, idempotencyKey: key() })).price!.id;
    const before = await documentsOf(s.tenantId);
    const update = (change: Record<string, unknown>) => s.owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: key() });
    await expectConnectError(update({ quantity: 3n, prorationDate: at('2025-12-31T23:59:59Z') }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'change.proration_date' });
    await expectConnectError(update({ quantity: 3n, prorationDate: at('2026-02-01T00:00:00Z') }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'change.proration_date' });
    await expectConnectError(s.owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change: { quantity: 3n, prorationDate: at('2026-03-01T00:00:00Z') } }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'change.proration_date' });
    await expectConnectError(update({ quantity: -1n }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'change.quantity' });
    await expectConnectError(update({ priceId: `price_${'Z'.repeat(22)}` }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(update({ priceId: other.twenty }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(update({ priceId: usd }), Code.InvalidArgument, 'CURRENCY_MISMATCH');
    await expectConnectError(update({ priceId: yearly }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(update({ prorationBehavior: 'sometimes', quantity: 3n }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(other.owner.billing.updateSubscription({ subscriptionId: sub.id, change: { quantity: 3n }, idempotencyKey: key() }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(other.owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change: { quantity: 3n } }), Code.NotFound, 'NOT_FOUND');
    expect(await documentsOf(s.tenantId)).toEqual(before);
  });

  it('a replay with the same key changes and charges once; the same key with another change is refused', async () => {
    const s = await shop();
    const sub = (await s.owner.billing.createSubscription({ customerId: s.customerId, items: [{ priceId: s.ten, quantity: 1n }], idempotencyKey: key() })).subscription!;
    const request = { subscriptionId: sub.id, change: { quantity: 4n, prorationBehavior: 'always_invoice', prorationDate: at('2026-01-20T00:00:00Z') }, idempotencyKey: key() };
    const first = await s.owner.billing.updateSubscription(request);
    expect(await s.owner.billing.updateSubscription(request)).toEqual(first);
    await expectConnectError(s.owner.billing.updateSubscription({ ...request, change: { ...request.change, quantity: 5n } }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    expect(await documentsOf(s.tenantId)).toMatchObject({ invoices: 2, payments: 2 });
  });
});
