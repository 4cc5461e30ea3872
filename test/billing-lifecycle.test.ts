/**
 * Billing's lifecycle gaps of issue 14 (ADR 0035), end to end through the real API over HTTP, the
 * Firestore emulator, the sandbox PSP and the ledger: dunning's end state (uncollectible, written
 * off to bad debt), pause and resume, catalog reads, PayInvoice and the customer credit balance,
 * one-off invoice items.
 */
import { randomUUID } from 'node:crypto';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBalance, getEntry } from '../functions/src/app/ledger/ledger-use-cases.js';
import { chargeInvoice } from '../functions/src/app/billing/billing-run.js';
import { billingAccountId, type BillingAccountCode } from '../functions/src/domain/billing/invoice-postings.js';
import { Interval, InvoiceStatus, PriceModel, SubscriptionStatus } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { rpcError } from './support/connect-error.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const at = (iso: string) => timestampFromDate(new Date(iso));
const iso = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : '');

/** A test tenant selling from DE (dunning 1, 3 days then `finalAction`), a FR customer on a clock, a monthly EUR 10.00 price. */
async function shop(options: { token?: string; finalAction?: 'unpaid' | 'cancel' } = {}) {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Lifecycle shop', testMode: true, idempotencyKey: key() });
  const tenantId = res.tenant!.id;
  const owner: TallyClient = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  await owner.billing.updateBillingSettings({
    settings: { originCountry: 'DE', invoicePrefix: 'INV', dunningRetryDays: [1, 3], dunningFinalAction: options.finalAction ?? 'unpaid' }, idempotencyKey: key(),
  });
  const clock = (await owner.billing.createTestClock({ name: 'walk', frozenTime: at('2026-01-31T10:00:00Z'), idempotencyKey: key() })).testClock!;
  const customer = (await owner.payments.createCustomer({ email: 'a@example.com', name: 'A', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({
    customerId: customer.id, pspTokens: { stripe: options.token ?? 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key(),
  })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR', testClockId: clock.id }, idempotencyKey: key() });
  const product = (await owner.billing.createProduct({ name: 'Pro plan', idempotencyKey: key() })).product!;
  const price = (await owner.billing.createPrice({
    price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.MONTH, intervalCount: 1 },
    idempotencyKey: key(),
  })).price!;
  return { tenantId, owner, clock, customer, pm, product, price };
}

/** Debits minus credits posted on a tenant's billing account in EUR. */
async function net(tenantId: string, code: BillingAccountCode): Promise<bigint> {
  const { balance } = await getBalance(env.stack.services.ledger, tenantId, billingAccountId(code, 'EUR'), null);
  return balance.postedDebitsMinor - balance.postedCreditsMinor;
}

async function outboxEvents(tenantId: string): Promise<{ type: string; payload: Record<string, unknown> }[]> {
  return (await env.stack.services.db.collection(`tenants/${tenantId}/outbox`).get()).docs
    .flatMap((d) => (d.get('events') as { type: string; payload: Record<string, unknown> }[] | undefined) ?? []);
}

describe('dunning end state', () => {
  it('when the retries are used up the subscription is unpaid and the invoice uncollectible, its amount due written off to bad debt, both announced', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id; // 1,000 + 200 VAT
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-03T11:00:00Z'), idempotencyKey: key() });
    const invoice = (await s.owner.billing.getInvoice({ invoiceId })).invoice!;
    expect(invoice).toMatchObject({ status: InvoiceStatus.UNCOLLECTIBLE, attemptCount: 3, amountDueMinor: 1_200n });
    expect(invoice.nextPaymentAttempt).toBeUndefined();
    expect((await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.UNPAID);
    // The receivable is written off: 1,200 to bad debt, the receivable back to 0.
    expect(await net(s.tenantId, 'billing_bad_debt')).toBe(1_200n);
    expect(await net(s.tenantId, 'billing_receivable')).toBe(0n);
    const { record } = await getEntry(env.stack.services.ledger, s.tenantId, `je_bunc_${invoiceId}`);
    expect(record.kind).toBe('entry');
    const events = await outboxEvents(s.tenantId);
    const uncollectible = events.filter((e) => e.type === 'billing.invoice.marked_uncollectible');
    expect(uncollectible).toHaveLength(1);
    expect(uncollectible[0]!.payload).toMatchObject({ invoiceId, status: 'uncollectible', amountWrittenOffMinor: '1200' });
    expect(events.filter((e) => e.type === 'billing.subscription.updated').map((e) => e.payload.status)).toEqual(expect.arrayContaining(['past_due', 'unpaid']));
    // Nothing more is attempted on it, however far the clock goes.
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-20T00:00:00Z'), idempotencyKey: key() });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.UNCOLLECTIBLE, attemptCount: 3 });
    // Voiding it after all reverses the write-off, then the invoice: every billing account back to 0.
    const voided = (await s.owner.billing.voidInvoice({ invoiceId, idempotencyKey: key() })).invoice!;
    expect(voided.status).toBe(InvoiceStatus.VOID);
    expect(await net(s.tenantId, 'billing_bad_debt')).toBe(0n);
    expect(await net(s.tenantId, 'billing_receivable')).toBe(0n);
    expect(await net(s.tenantId, 'billing_revenue')).toBe(0n);
    expect(await net(s.tenantId, 'billing_tax_payable')).toBe(0n);
  });

  it('with final action cancel the subscription is canceled and the invoice uncollectible, in the same transaction as the last failure', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds', finalAction: 'cancel' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 2n }], idempotencyKey: key() });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-15T00:00:00Z'), idempotencyKey: key() });
    const sub = (await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription!;
    expect(sub.status).toBe(SubscriptionStatus.CANCELED);
    expect(iso(sub.cancelTime)).toBe('2026-02-03T10:00:00.000Z');
    expect((await s.owner.billing.getInvoice({ invoiceId: created.invoice!.id })).invoice).toMatchObject({ status: InvoiceStatus.UNCOLLECTIBLE, attemptCount: 3 });
    expect(await net(s.tenantId, 'billing_bad_debt')).toBe(2_400n);
    const types = (await outboxEvents(s.tenantId)).map((e) => e.type);
    expect(types).toContain('billing.invoice.marked_uncollectible');
    expect(types).toContain('billing.subscription.canceled');
  });
});

describe('catalog reads', () => {
  it('products, prices and coupons: Get by id, List newest first in cursor pages, prices filtered by product; unknown and foreign ids NOT_FOUND', async () => {
    const s = await shop();
    const other = await shop();
    const products = [s.product];
    for (const name of ['Seats', 'Storage']) products.push((await s.owner.billing.createProduct({ name, idempotencyKey: key() })).product!);
    const extra = (await s.owner.billing.createPrice({
      price: { productId: products[2]!.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 500n } }, idempotencyKey: key(),
    })).price!;
    const coupon = (await s.owner.billing.createCoupon({ coupon: { name: 'Ten', percentOffBps: 1_000, duration: 'once' }, idempotencyKey: key() })).coupon!;

    expect((await s.owner.billing.getProduct({ productId: products[1]!.id })).product).toMatchObject({ id: products[1]!.id, name: 'Seats' });
    expect((await s.owner.billing.getPrice({ priceId: s.price.id })).price).toMatchObject({ id: s.price.id, productId: s.product.id, interval: Interval.MONTH });
    expect((await s.owner.billing.getCoupon({ couponId: coupon.id })).coupon).toMatchObject({ id: coupon.id, percentOffBps: 1_000 });

    // Pages of 2 over 3 products: newest first, each once, the last page without a token.
    const first = await s.owner.billing.listProducts({ pageSize: 2 });
    expect(first.products).toHaveLength(2);
    expect(first.nextPageToken).not.toBe('');
    const second = await s.owner.billing.listProducts({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.nextPageToken).toBe('');
    const listed = [...first.products, ...second.products];
    expect(listed.map((p) => p.id).sort()).toEqual(products.map((p) => p.id).sort());
    const times = listed.map((p) => timestampDate(p.createTime!).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));

    expect((await s.owner.billing.listPrices({})).prices.map((p) => p.id).sort()).toEqual([extra.id, s.price.id].sort());
    expect((await s.owner.billing.listPrices({ productId: products[2]!.id })).prices.map((p) => p.id)).toEqual([extra.id]);
    expect((await s.owner.billing.listPrices({ productId: products[1]!.id })).prices).toEqual([]);
    expect((await s.owner.billing.listCoupons({})).coupons.map((c) => c.id)).toEqual([coupon.id]);
    // Another tenant sees none of them.
    expect(await rpcError(other.owner.billing.getProduct({ productId: products[1]!.id }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect(await rpcError(other.owner.billing.getPrice({ priceId: extra.id }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect(await rpcError(other.owner.billing.getCoupon({ couponId: coupon.id }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect((await other.owner.billing.listProducts({})).products.map((p) => p.id)).toEqual([other.product.id]);
    expect(await rpcError(s.owner.billing.listProducts({ pageToken: 'not-a-token!' }))).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'page_token' } });
    expect(await rpcError(s.owner.billing.listCoupons({ pageSize: 101 }))).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'page_size' } });
  });
});

describe('pause and resume', () => {
  it('paused: no invoice however long; resume `now` re-anchors, invoices the new period at once with the paused part of the paid period credited; idempotent', async () => {
    const s = await shop();
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id; // paid Jan 31 10:00 .. Feb 28 10:00 (28 days)
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-14T10:00:00Z'), idempotencyKey: key() });
    const pauseKey = key();
    const paused = (await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: pauseKey })).subscription!;
    expect(paused.status).toBe(SubscriptionStatus.PAUSED);
    expect(iso(paused.pauseTime)).toBe('2026-02-14T10:00:00.000Z');
    // Idempotent: the same key replays, another key finds it paused and changes nothing.
    expect((await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: pauseKey })).subscription).toEqual(paused);
    expect((await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: key() })).subscription?.status).toBe(SubscriptionStatus.PAUSED);
    const advanced = await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-04-01T00:00:00Z'), idempotencyKey: key() });
    expect(advanced.invoicesFinalized).toBe(0);
    expect((await s.owner.billing.listInvoices({ subscriptionId })).invoices).toHaveLength(1);

    const resumeKey = key();
    const resumed = await s.owner.billing.resumeSubscription({ subscriptionId, idempotencyKey: resumeKey });
    expect(resumed.subscription).toMatchObject({ status: SubscriptionStatus.ACTIVE });
    expect(resumed.subscription?.pauseTime).toBeUndefined();
    expect(iso(resumed.subscription?.billingCycleAnchor)).toBe('2026-04-01T00:00:00.000Z');
    expect(iso(resumed.subscription?.currentPeriodEnd)).toBe('2026-05-01T00:00:00.000Z');
    // 10.00 for Apr 1 .. May 1, less the 14 paused days of the 28 paid (5.00); 20 % FR VAT on both.
    expect(resumed.invoice).toMatchObject({ status: InvoiceStatus.PAID, subtotalMinor: 500n, taxMinor: 100n, totalMinor: 600n, number: 'INV-000002' });
    expect(resumed.invoice!.lines.map((l) => l.amountMinor)).toEqual([1_000n, -500n]);
    expect(iso(resumed.invoice?.periodStart)).toBe('2026-04-01T00:00:00.000Z');
    // A retry of the resume replays it; resuming an active subscription is refused and writes nothing.
    expect((await s.owner.billing.resumeSubscription({ subscriptionId, idempotencyKey: resumeKey })).invoice?.id).toBe(resumed.invoice!.id);
    expect(await rpcError(s.owner.billing.resumeSubscription({ subscriptionId, idempotencyKey: key() }))).toMatchObject({ reason: 'INVALID_STATE_TRANSITION' });
    expect(await rpcError(s.owner.billing.resumeSubscription({ subscriptionId, billingCycleAnchor: 'later', idempotencyKey: key() })))
      .toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'billing_cycle_anchor' } });
    expect((await s.owner.billing.listInvoices({ subscriptionId })).invoices).toHaveLength(2);
    const types = (await outboxEvents(s.tenantId)).map((e) => e.type);
    expect(types.filter((t) => t === 'billing.subscription.paused')).toHaveLength(1);
    expect(types.filter((t) => t === 'billing.subscription.resumed')).toHaveLength(1);
    // Paused again then canceled "at period end": nothing would ever end its period, so it is canceled now. Canceled: no pause.
    await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: key() });
    const canceled = (await s.owner.billing.cancelSubscription({ subscriptionId, atPeriodEnd: true, idempotencyKey: key() })).subscription!;
    expect(canceled.status).toBe(SubscriptionStatus.CANCELED);
    expect(await rpcError(s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: key() }))).toMatchObject({ reason: 'INVALID_STATE_TRANSITION' });
  });

  it('resume `unchanged` keeps the cycle: inside the paid period the paused days are credited on the renewal; after it, missed periods are never invoiced and the rest of the current one is charged prorated', async () => {
    const s = await shop();
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id;
    const clockTo = (t: string) => s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at(t), idempotencyKey: key() });
    await clockTo('2026-02-14T10:00:00Z');
    await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: key() });
    await clockTo('2026-02-21T10:00:00Z');
    const back = (await s.owner.billing.resumeSubscription({ subscriptionId, billingCycleAnchor: 'unchanged', idempotencyKey: key() }));
    expect(back.invoice).toBeUndefined();
    expect(iso(back.subscription?.currentPeriodEnd)).toBe('2026-02-28T10:00:00.000Z');
    await clockTo('2026-03-01T00:00:00Z');
    const renewal = (await s.owner.billing.listInvoices({ subscriptionId })).invoices[0]!;
    // 7 of 28 days paused: 2.50 credited on the Feb 28 renewal.
    expect(renewal.lines.map((l) => l.amountMinor)).toEqual([1_000n, -250n]);
    expect(iso(renewal.periodStart)).toBe('2026-02-28T10:00:00.000Z');

    await clockTo('2026-03-10T10:00:00Z');
    await s.owner.billing.pauseSubscription({ subscriptionId, idempotencyKey: key() });
    await clockTo('2026-05-15T10:00:00Z');
    const later = await s.owner.billing.resumeSubscription({ subscriptionId, billingCycleAnchor: 'unchanged', idempotencyKey: key() });
    expect(iso(later.subscription?.currentPeriodStart)).toBe('2026-04-30T10:00:00.000Z');
    expect(iso(later.subscription?.currentPeriodEnd)).toBe('2026-05-31T10:00:00.000Z');
    await clockTo('2026-06-01T00:00:00Z');
    const invoices = (await s.owner.billing.listInvoices({ subscriptionId })).invoices;
    // Mar 31 and Apr 30 passed while paused: never invoiced.
    expect(invoices.map((i) => iso(i.periodStart))).toEqual(['2026-05-31T10:00:00.000Z', '2026-02-28T10:00:00.000Z', '2026-01-31T10:00:00.000Z']);
    // 10.00 for the new period, the 16 of 31 days after resuming (5.16), less 21 of 31 paused days of the paid March period (6.77).
    expect(invoices[0]!.lines.map((l) => l.amountMinor)).toEqual([1_000n, -677n, 516n]);
    expect(invoices[0]).toMatchObject({ subtotalMinor: 839n, status: InvoiceStatus.PAID });
  });
});

describe('PayInvoice and the credit balance', () => {
  it('an uncollectible invoice paid with a new card: the write-off is reversed, the invoice paid, the subscription active; a retry replays, a paid invoice is refused', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id;
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-03T11:00:00Z'), idempotencyKey: key() });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice?.status).toBe(InvoiceStatus.UNCOLLECTIBLE);
    const good = (await s.owner.payments.createPaymentMethod({ customerId: s.customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    // Another customer's card is refused before anything is charged.
    const stranger = (await s.owner.payments.createCustomer({ email: 'b@example.com', name: 'B', idempotencyKey: key() })).customer!;
    const strangers = (await s.owner.payments.createPaymentMethod({ customerId: stranger.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    expect(await rpcError(s.owner.billing.payInvoice({ invoiceId, paymentMethodId: strangers.id, idempotencyKey: key() }))).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'payment_method_id' } });

    const payKey = key();
    const paid = await s.owner.billing.payInvoice({ invoiceId, paymentMethodId: good.id, idempotencyKey: payKey });
    expect(paid).toMatchObject({ declineReason: '', invoice: { status: InvoiceStatus.PAID, amountPaidMinor: 1_200n, amountDueMinor: 0n, attemptCount: 4 } });
    const payment = (await s.owner.payments.getPayment({ paymentId: paid.invoice!.paymentId })).payment!;
    expect(payment).toMatchObject({ amountCapturedMinor: 1_200n, paymentMethodId: good.id });
    expect(await net(s.tenantId, 'billing_bad_debt')).toBe(0n);
    expect(await net(s.tenantId, 'billing_receivable')).toBe(0n);
    expect(await net(s.tenantId, 'billing_collected')).toBe(1_200n);
    expect((await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.ACTIVE);
    // Idempotent: the retry answers the same, one payment in all.
    expect((await s.owner.billing.payInvoice({ invoiceId, paymentMethodId: good.id, idempotencyKey: payKey })).invoice?.paymentId).toBe(paid.invoice!.paymentId);
    const captured = (await env.stack.services.db.collection(`tenants/${s.tenantId}/payments`).where('status', '==', 'succeeded').get()).size;
    expect(captured).toBe(1);
    expect(await rpcError(s.owner.billing.payInvoice({ invoiceId, idempotencyKey: key() }))).toMatchObject({ reason: 'INVALID_STATE_TRANSITION' });
  });

  it('a declined PayInvoice answers the reason, counts the attempt and leaves the dunning schedule and the subscription as they were', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id;
    const declined = await s.owner.billing.payInvoice({ invoiceId, idempotencyKey: key() });
    expect(declined.declineReason).not.toBe('');
    expect(declined.invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 2 });
    expect(iso(declined.invoice?.nextPaymentAttempt)).toBe('2026-02-01T10:00:00.000Z');
    expect((await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.PAST_DUE);
    // The schedule's two retries still happen (Feb 1, Feb 3), then the invoice is given up on.
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-02T00:00:00Z'), idempotencyKey: key() });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 3 });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-03T11:00:00Z'), idempotencyKey: key() });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.UNCOLLECTIBLE, attemptCount: 4 });
  });

  it('a PayInvoice with another card while the same attempt has an unrecorded payment (a run crashed after the PSP call) answers CONTENTION and records nothing; the run then finds its own payment', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id;
    // Attempt 2 charged by a run that stops before recording it.
    const unrecorded = await chargeInvoice(env.stack.services.billing, s.tenantId, invoiceId, Date.parse('2026-02-01T10:00:00Z'), { traceId: '', spanId: '' });
    expect(unrecorded).toMatchObject({ attempt: 2, outcome: { kind: 'failed' } });
    const good = (await s.owner.payments.createPaymentMethod({ customerId: s.customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    expect(await rpcError(s.owner.billing.payInvoice({ invoiceId, paymentMethodId: good.id, idempotencyKey: key() }))).toMatchObject({ reason: 'CONTENTION' });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 1 });
    // The run reruns attempt 2 under its key: the same payment, recorded once.
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-01T11:00:00Z'), idempotencyKey: key() });
    expect((await s.owner.billing.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 2 });
    expect((await env.stack.services.db.collection(`tenants/${s.tenantId}/payments`).get()).size).toBe(2);
  });

  it('GetCustomerCreditBalance: none for a customer without credit; NOT_FOUND without a billing profile or for another tenant', async () => {
    const s = await shop();
    const other = await shop();
    expect((await s.owner.billing.getCustomerCreditBalance({ customerId: s.customer.id })).balances).toEqual([]);
    const bare = (await s.owner.payments.createCustomer({ email: 'c@example.com', name: 'C', idempotencyKey: key() })).customer!;
    expect(await rpcError(s.owner.billing.getCustomerCreditBalance({ customerId: bare.id }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect(await rpcError(other.owner.billing.getCustomerCreditBalance({ customerId: s.customer.id }))).toMatchObject({ reason: 'NOT_FOUND' });
  });
});

describe('one-off invoice items', () => {
  it('a one-off price is billed with the next renewal (pending, previewed) or at once on its own invoice; recurring prices, other currencies and bad quantities are refused', async () => {
    const s = await shop();
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id;
    const setup = (await s.owner.billing.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 5_000n } }, idempotencyKey: key() })).price!;
    const hours = (await s.owner.billing.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 2_500n } }, idempotencyKey: key() })).price!;
    const usd = (await s.owner.billing.createPrice({ price: { productId: s.product.id, currency: 'USD', scheme: { model: PriceModel.FLAT, amountMinor: 100n } }, idempotencyKey: key() })).price!;

    // Pending: on the next renewal, exactly once.
    const itemKey = key();
    const pending = await s.owner.billing.createInvoiceItem({ subscriptionId, priceId: setup.id, quantity: 1n, description: 'Setup fee', idempotencyKey: itemKey });
    expect(pending.invoice).toBeUndefined();
    await s.owner.billing.createInvoiceItem({ subscriptionId, priceId: setup.id, quantity: 1n, description: 'Setup fee', idempotencyKey: itemKey }); // replay: nothing more
    const preview = (await s.owner.billing.previewUpcomingInvoice({ subscriptionId })).invoice!;
    expect(preview.lines.map((l) => [l.description, l.amountMinor])).toEqual([['1 x ' + s.price.id, 1_000n], ['Setup fee', 5_000n]]);
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-31T11:00:00Z'), idempotencyKey: key() });
    const invoices = (await s.owner.billing.listInvoices({ subscriptionId })).invoices;
    const feb = invoices.find((i) => iso(i.periodStart) === '2026-02-28T10:00:00.000Z')!;
    const mar = invoices.find((i) => iso(i.periodStart) === '2026-03-31T10:00:00.000Z')!;
    expect(feb).toMatchObject({ subtotalMinor: 6_000n, taxMinor: 1_200n, totalMinor: 7_200n, status: InvoiceStatus.PAID });
    expect(mar).toMatchObject({ subtotalMinor: 1_000n }); // billed once only

    // At once: its own invoice, numbered, posted and charged.
    const now = await s.owner.billing.createInvoiceItem({ subscriptionId, priceId: hours.id, quantity: 3n, invoiceNow: true, idempotencyKey: key() });
    expect(now.invoice).toMatchObject({ status: InvoiceStatus.PAID, subtotalMinor: 7_500n, taxMinor: 1_500n, totalMinor: 9_000n, amountPaidMinor: 9_000n, number: 'INV-000004', subscriptionId });
    expect(now.invoice!.lines.map((l) => [l.description, l.quantity])).toEqual([['3 x ' + hours.id, 3n]]);
    expect(Buffer.from((await s.owner.billing.getInvoicePdf({ invoiceId: now.invoice!.id })).pdf.subarray(0, 5)).toString()).toBe('%PDF-');
    expect(await net(s.tenantId, 'billing_receivable')).toBe(0n);
    expect(await net(s.tenantId, 'billing_collected')).toBe(1_200n + 7_200n + 1_200n + 9_000n);

    expect(await rpcError(s.owner.billing.createInvoiceItem({ subscriptionId, priceId: s.price.id, quantity: 1n, idempotencyKey: key() }))).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'price_id' } });
    expect(await rpcError(s.owner.billing.createInvoiceItem({ subscriptionId, priceId: usd.id, quantity: 1n, idempotencyKey: key() }))).toMatchObject({ reason: 'CURRENCY_MISMATCH' });
    expect(await rpcError(s.owner.billing.createInvoiceItem({ subscriptionId, priceId: hours.id, quantity: 0n, idempotencyKey: key() }))).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'quantity' } });
    expect((await s.owner.billing.getSubscription({ subscriptionId })).subscription?.latestInvoiceId).toBe(mar.id);
  });
});

describe('metered usage at scale', () => {
  /** A metered monthly price with `aggregation` (1 sum, 2 max, 3 last), EUR 0.10 per unit. */
  async function meteredPrice(s: Awaited<ReturnType<typeof shop>>, aggregation: number) {
    return (await s.owner.billing.createPrice({
      price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 10n }, interval: Interval.MONTH, intervalCount: 1, usageAggregation: aggregation },
      idempotencyKey: key(),
    })).price!;
  }

  it('usage reported concurrently (with retries) is aggregated as it is written: preview and renewal bill the exact sum and last', async () => {
    const s = await shop();
    const [sum, last] = [await meteredPrice(s, 1), await meteredPrice(s, 3)];
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }, { priceId: sum.id, quantity: 1n }, { priceId: last.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id;
    const reports = Array.from({ length: 12 }, (_, i) => ({ key: key(), quantity: BigInt(i + 1), time: at(`2026-02-0${1 + (i % 9)}T00:00:00Z`) }));
    // Every report twice at once (a client retrying): each counted once.
    await Promise.all([...reports, ...reports].map((r) => s.owner.billing.recordUsage({ subscriptionId, priceId: sum.id, quantity: r.quantity, time: r.time, idempotencyKey: r.key })));
    await Promise.all([5n, 9n, 2n].map((quantity, i) => s.owner.billing.recordUsage({ subscriptionId, priceId: last.id, quantity, time: at(`2026-02-1${i}T00:00:00Z`), idempotencyKey: key() })));
    const preview = (await s.owner.billing.previewUpcomingInvoice({ subscriptionId })).invoice!;
    expect(preview.lines.map((l) => [l.priceId, l.quantity, l.amountMinor])).toEqual([[s.price.id, 1n, 1_000n], [sum.id, 78n, 780n], [last.id, 2n, 20n]]);
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: key() });
    const renewal = (await s.owner.billing.listInvoices({ subscriptionId })).invoices[0]!;
    expect(renewal.lines.map((l) => [l.priceId, l.quantity])).toEqual([[s.price.id, 1n], [sum.id, 78n], [last.id, 2n]]);
  });

  it('a period with more than 10,000 usage records renews: the renewal reads its running aggregate, never the records', async () => {
    const s = await shop();
    const sum = await meteredPrice(s, 1);
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: sum.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id;
    await Promise.all([3n, 4n].map((quantity) => s.owner.billing.recordUsage({ subscriptionId, priceId: sum.id, quantity, idempotencyKey: key() })));
    // 10,001 more records of the period, written straight to the collection (the old renewal read
    // them all and refused the period beyond 10,000 with LIMIT_EXCEEDED).
    const db = env.stack.services.db;
    const records = db.collection(`tenants/${s.tenantId}/usageRecords`);
    const atTs = new Date('2026-02-10T00:00:00Z');
    for (let start = 0; start < 10_001; start += 2_000) {
      await Promise.all(Array.from({ length: 4 }, async (_, part) => {
        const batch = db.batch();
        for (let i = start + part * 500; i < Math.min(start + (part + 1) * 500, 10_001); i++) {
          batch.set(records.doc(`ur_bulk_${i}`), { subscriptionId, priceId: sum.id, at: atTs, createdAt: atTs, state: '{}' });
        }
        await batch.commit();
      }));
    }
    expect(Number((await records.where('subscriptionId', '==', subscriptionId).count().get()).data().count)).toBe(10_003);
    const advanced = await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: key() });
    expect(advanced.invoicesFinalized).toBe(1);
    const renewal = (await s.owner.billing.listInvoices({ subscriptionId })).invoices[0]!;
    expect(renewal.lines.map((l) => [l.priceId, l.quantity, l.amountMinor])).toEqual([[sum.id, 7n, 70n]]);
  });
});
