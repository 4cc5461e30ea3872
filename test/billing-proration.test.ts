/**
 * Proration through the API (issue 14 item 3): UpdateSubscription changes an item's price or
 * quantity mid-period with create_prorations | always_invoice | none, PreviewUpcomingInvoice shows
 * the change before it is made, bad input is refused with a typed reason and writes nothing, and a
 * retry under the same key replays. Real API over HTTP, Firestore emulator, sandbox PSP, ledger, a
 * test clock. Stripe's published example: $10 -> $20 monthly switched exactly halfway adds $5.00
 * (credit -5.00 for the unused half, charge +10.00 for the remaining half at the new price).
 */
import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBalance } from '../functions/src/app/ledger/ledger-use-cases.js';
import { billingAccountId } from '../functions/src/domain/billing/invoice-postings.js';
import { Interval, InvoiceStatus, PriceModel, type Invoice } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { Code, rpcError } from './support/connect-error.js';
import { runCli } from './support/cli-runner.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const at = (iso: string) => timestampFromDate(new Date(iso));
const START = '2026-04-01T00:00:00Z';
/** Exactly halfway through April (30 days): 15 of 30 days, 1,296,000 of 2,592,000 seconds left. */
const HALFWAY = '2026-04-16T00:00:00Z';

/** A DE seller, a FR customer (20 % VAT) on a test clock at START, monthly EUR 10.00 and 20.00 prices, subscribed to the 10.00 one. */
async function subscribed(options: { granularity?: 'second' | 'day' } = {}) {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Proration shop', testMode: true, idempotencyKey: key() });
  const owner: TallyClient = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  const tenantId = res.tenant!.id;
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV', prorationGranularity: options.granularity ?? '' }, idempotencyKey: key() });
  const clock = (await owner.billing.createTestClock({ name: 'walk', frozenTime: at(START), idempotencyKey: key() })).testClock!;
  const customer = (await owner.payments.createCustomer({ email: 'p@example.com', name: 'P', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR', testClockId: clock.id }, idempotencyKey: key() });
  const product = (await owner.billing.createProduct({ name: 'Plan', idempotencyKey: key() })).product!;
  const monthly = async (amountMinor: bigint, currency = 'EUR') => (await owner.billing.createPrice({
    price: { productId: product.id, currency, scheme: { model: PriceModel.PER_UNIT, amountMinor }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key(),
  })).price!;
  const [basic, pro] = [await monthly(1_000n), await monthly(2_000n)];
  const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: basic.id, quantity: 1n }], idempotencyKey: key() });
  expect(created.invoice).toMatchObject({ number: 'INV-000001', status: InvoiceStatus.PAID, subtotalMinor: 1_000n });
  const sub = created.subscription!;
  const advance = (iso: string) => owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at(iso), idempotencyKey: key() });
  return { tenantId, owner, apiKey: res.ownerApiKey!.secret, clock, customer, basic, pro, sub, advance, monthly };
}

/** What a client compares between a preview and the invoice made: the lines and totals. */
const shape = (i: Invoice | undefined) => ({
  lines: i?.lines.map((l) => ({ description: l.description, priceId: l.priceId, quantity: l.quantity, amountMinor: l.amountMinor, taxMinor: l.taxMinor })),
  subtotalMinor: i?.subtotalMinor, taxMinor: i?.taxMinor, totalMinor: i?.totalMinor,
});

async function outboxCount(tenantId: string): Promise<number> {
  return (await env.stack.services.db.collection(`tenants/${tenantId}/outbox`).count().get()).data().count;
}

describe('proration through the API', () => {
  it('create_prorations: $10 -> $20 exactly halfway adds credit -5.00 and charge +10.00 to the next renewal, as previewed; a replay changes nothing', async () => {
    const { owner, pro, sub, advance } = await subscribed();
    await advance(HALFWAY);
    const change = { priceId: pro.id, prorationBehavior: 'create_prorations' };
    const preview = (await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change })).invoice!;
    expect(preview.lines.map((l) => l.amountMinor)).toEqual([2_000n, -500n, 1_000n]);
    expect(preview.subtotalMinor).toBe(2_500n);
    // The preview wrote nothing: the plain preview still shows the old price.
    expect((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!.lines.map((l) => l.amountMinor)).toEqual([1_000n]);

    const k = key();
    const updated = await owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: k });
    expect(updated.subscription?.items).toMatchObject([{ priceId: pro.id, quantity: 1n }]);
    expect(updated.invoice).toBeUndefined();
    const replay = await owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: k });
    expect(replay).toEqual(updated);
    expect(await rpcError(owner.billing.updateSubscription({ subscriptionId: sub.id, change: { ...change, quantity: 2n }, idempotencyKey: k }))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });

    // The renewal invoices exactly what was previewed (the replay did not add the lines twice).
    expect(shape((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice)).toEqual(shape(preview));
    await advance('2026-05-01T00:00:01Z');
    const { invoices } = await owner.billing.listInvoices({ subscriptionId: sub.id });
    expect(invoices[0]).toMatchObject({ number: 'INV-000002', status: InvoiceStatus.PAID });
    expect(shape(invoices[0])).toEqual(shape(preview));
    // The lines were consumed by that renewal: the next one bills the new price only.
    expect((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!.lines.map((l) => l.amountMinor)).toEqual([2_000n]);
  });

  it('always_invoice: the prorations are invoiced now (numbered, posted, charged), equal to the preview; the renewal carries none', async () => {
    const { tenantId, owner, pro, sub, advance } = await subscribed();
    await advance(HALFWAY);
    const change = { priceId: pro.id, prorationBehavior: 'always_invoice' };
    const preview = (await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change })).invoice!;
    expect(preview.lines.map((l) => l.amountMinor)).toEqual([-500n, 1_000n]);
    expect(preview).toMatchObject({ subtotalMinor: 500n, taxMinor: 100n, totalMinor: 600n });
    const receivableBefore = (await getBalance(env.stack.services.ledger, tenantId, billingAccountId('billing_receivable', 'EUR'), null)).balance.postedDebitsMinor;
    const updated = await owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: key() });
    expect(updated.invoice).toMatchObject({ number: 'INV-000002', status: InvoiceStatus.PAID, amountPaidMinor: 600n, attemptCount: 1 });
    expect(shape(updated.invoice)).toEqual(shape(preview));
    const receivable = (await getBalance(env.stack.services.ledger, tenantId, billingAccountId('billing_receivable', 'EUR'), null)).balance;
    expect(receivable.postedDebitsMinor - receivableBefore).toBe(600n);
    const payment = (await owner.payments.getPayment({ paymentId: updated.invoice!.paymentId })).payment!;
    expect(payment).toMatchObject({ amountCapturedMinor: 600n, currency: 'EUR' });
    expect((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!.lines.map((l) => l.amountMinor)).toEqual([2_000n]);
  });

  it('none: just switches; per-day granularity when the tenant chooses it (a quantity change 1 -> 3 with 15 of 30 days left)', async () => {
    const a = await subscribed();
    await a.advance(HALFWAY);
    // An unchanged price and quantity makes no credit and charge that cancel out.
    expect((await a.owner.billing.previewUpcomingInvoice({ subscriptionId: a.sub.id, change: { quantity: 1n } })).invoice!.lines.map((l) => l.amountMinor)).toEqual([1_000n]);
    await a.owner.billing.updateSubscription({ subscriptionId: a.sub.id, change: { priceId: a.pro.id, prorationBehavior: 'none' }, idempotencyKey: key() });
    expect((await a.owner.billing.previewUpcomingInvoice({ subscriptionId: a.sub.id })).invoice!.lines.map((l) => l.amountMinor)).toEqual([2_000n]);

    const b = await subscribed({ granularity: 'day' });
    // 12:00 on the 16th: per day, the day of the change is charged at the new amount (15 of 30 days).
    await b.advance('2026-04-16T12:00:00Z');
    const preview = (await b.owner.billing.previewUpcomingInvoice({ subscriptionId: b.sub.id, change: { quantity: 3n } })).invoice!;
    expect(preview.lines.map((l) => l.amountMinor)).toEqual([3_000n, -500n, 1_500n]);
    expect(preview.lines[1]?.description).toContain('15 of 30 days');
  });

  it('CLI: tally billing subscription update SUB --quantity 2 --proration-behavior always_invoice invoices the prorations now', async () => {
    const { owner, sub, advance, apiKey } = await subscribed();
    await advance(HALFWAY);
    const result = await runCli(['--api-url', env.stack.url, '--api-key', apiKey, 'billing', 'subscription', 'update', sub.id, '--quantity', '2', '--proration-behavior', 'always_invoice', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { subscription: { items: { quantity: string }[] }; invoice: { totalMinor: string; status: string } };
    expect(out.subscription.items[0]?.quantity).toBe('2');
    expect(out.invoice).toMatchObject({ totalMinor: '600', status: 'INVOICE_STATUS_PAID' });
    expect((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!.lines.map((l) => l.amountMinor)).toEqual([2_000n]);
  });

  it('pending proration lines are bounded: the 51st change of a period is refused with LIMIT_EXCEEDED and writes nothing', async () => {
    const { owner, sub, advance } = await subscribed();
    await advance(HALFWAY);
    for (let n = 0; n < 50; n++) {
      await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { quantity: n % 2 === 0 ? 2n : 1n }, idempotencyKey: key() });
    }
    const before = (await owner.billing.getSubscription({ subscriptionId: sub.id })).subscription;
    expect(await rpcError(owner.billing.updateSubscription({ subscriptionId: sub.id, change: { quantity: 3n }, idempotencyKey: key() }))).toMatchObject({ reason: 'LIMIT_EXCEEDED' });
    expect((await owner.billing.getSubscription({ subscriptionId: sub.id })).subscription).toEqual(before);
    // `none` adds no lines: still allowed.
    await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { quantity: 3n, prorationBehavior: 'none' }, idempotencyKey: key() });
    expect((await owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!.lines).toHaveLength(101);
  });

  it('refuses an unknown price, a currency mismatch, a quantity below 1, a proration date outside the period, a bad behaviour: typed, nothing written', async () => {
    const { tenantId, owner, sub, advance, monthly, pro } = await subscribed();
    await advance(HALFWAY);
    const usd = await monthly(2_000n, 'USD');
    const before = (await owner.billing.getSubscription({ subscriptionId: sub.id })).subscription;
    const events = await outboxCount(tenantId);
    const cases: [Record<string, unknown>, Code, string, string][] = [
      [{ priceId: 'price_unknown00000000000000' }, Code.NotFound, 'NOT_FOUND', 'change.price_id'],
      [{ priceId: usd.id }, Code.FailedPrecondition, 'CURRENCY_MISMATCH', ''],
      [{ quantity: -1n }, Code.InvalidArgument, 'FIELD_INVALID', 'change.quantity'],
      [{ priceId: pro.id, prorationDate: at('2026-05-01T00:00:00Z') }, Code.InvalidArgument, 'FIELD_INVALID', 'change.proration_date'],
      [{ priceId: pro.id, prorationDate: at('2026-03-31T23:59:59Z') }, Code.InvalidArgument, 'FIELD_INVALID', 'change.proration_date'],
      [{ priceId: pro.id, prorationBehavior: 'sometimes' }, Code.InvalidArgument, 'FIELD_INVALID', 'change.proration_behavior'],
    ];
    for (const [change, code, reason, field] of cases) {
      for (const call of [
        () => owner.billing.updateSubscription({ subscriptionId: sub.id, change, idempotencyKey: key() }),
        () => owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id, change }),
      ]) {
        const error = await rpcError(call());
        expect({ reason: error.reason, ...(field !== '' && { field: error.metadata.field }) }, JSON.stringify(change, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).toEqual({ reason, ...(field !== '' && { field }) });
        if (reason !== 'CURRENCY_MISMATCH') expect(error.code).toBe(code);
      }
    }
    expect((await owner.billing.getSubscription({ subscriptionId: sub.id })).subscription).toEqual(before);
    expect(await outboxCount(tenantId)).toBe(events);
    expect((await owner.billing.listInvoices({ subscriptionId: sub.id })).invoices).toHaveLength(1);
  });
});
