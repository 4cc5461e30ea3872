/**
 * Billing attacked as a careless client or another tenant would (issue 14 items 2, 4, 6, 7, 8): the
 * real API over HTTP on the emulators, the sandbox PSP behind PaymentsService, the real ledger.
 * - another tenant's ids of every billing resource answer NOT_FOUND and change nothing;
 * - a live tenant cannot use test clocks;
 * - bad input gets a typed ErrorInfo reason and writes nothing (every document of the tenant counted);
 * - idempotency keys: a replay answers the same, the same key with another body is refused;
 * - concurrent finalization numbers invoices without gaps or duplicates, concurrent clock advances
 *   bill and charge each period once;
 * - money: invoice totals are the sums of their lines, the invoice's ledger entries balance and equal
 *   its totals;
 * - a year on a test clock with a failing card follows the documented dunning schedule.
 */
import { randomUUID } from 'node:crypto';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBalance, getEntry } from '../functions/src/app/ledger/ledger-use-cases.js';
import { runBilling } from '../functions/src/app/billing/billing-run.js';
import { billingAccountId, type BillingAccountCode } from '../functions/src/domain/billing/invoice-postings.js';
import { Interval, InvoiceStatus, PriceModel, SubscriptionStatus, type Invoice } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { Code, expectConnectError, rpcErrorOf } from './support/connect-error.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const at = (iso: string) => timestampFromDate(new Date(iso));
const iso = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : '');

async function tenant(testMode: boolean): Promise<{ tenantId: string; owner: TallyClient }> {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Billing attack shop', testMode, idempotencyKey: key() });
  const owner = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV', dunningRetryDays: [1, 3, 5, 7], dunningFinalAction: 'unpaid' }, idempotencyKey: key() });
  return { tenantId: res.tenant!.id, owner };
}

/** A customer with a card (`token` chooses how the sandbox answers) and a billing profile in `country`. */
async function customerOf(owner: TallyClient, options: { token?: string; clockId?: string; country?: string } = {}) {
  const customer = (await owner.payments.createCustomer({ email: 'a@example.com', name: 'A', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({
    customerId: customer.id, pspTokens: { stripe: options.token ?? 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key(),
  })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: options.country ?? 'FR', testClockId: options.clockId ?? '' }, idempotencyKey: key() });
  return { customer, pm };
}

async function monthlyPrice(owner: TallyClient, amountMinor = 1_000n, extra: { usageAggregation?: number; model?: PriceModel } = {}) {
  const product = (await owner.billing.createProduct({ name: 'Pro plan', idempotencyKey: key() })).product!;
  const price = (await owner.billing.createPrice({
    price: { productId: product.id, currency: 'EUR', scheme: { model: extra.model ?? PriceModel.PER_UNIT, amountMinor }, interval: Interval.MONTH, intervalCount: 1, usageAggregation: extra.usageAggregation ?? 0 },
    idempotencyKey: key(),
  })).price!;
  return { product, price };
}

/** A test tenant, a clock, a customer on it, a monthly EUR price. */
async function shop(options: { token?: string; clockStart?: string } = {}) {
  const { tenantId, owner } = await tenant(true);
  const clock = (await owner.billing.createTestClock({ name: 'attack', frozenTime: at(options.clockStart ?? '2026-01-31T10:00:00Z'), idempotencyKey: key() })).testClock!;
  const { customer, pm } = await customerOf(owner, { clockId: clock.id, ...(options.token && { token: options.token }) });
  const { product, price } = await monthlyPrice(owner);
  return { tenantId, owner, clock, customer, pm, product, price };
}

/** Documents of every collection under `tenants/{tenantId}` (billing's, payments', ledger's, outbox, idempotency...). */
async function documentsOf(tenantId: string): Promise<Record<string, number>> {
  const collections = await env.stack.services.db.doc(`tenants/${tenantId}`).listCollections();
  const counts = await Promise.all(collections.map(async (c) => [c.id, Number((await c.count().get()).data().count)] as const));
  return Object.fromEntries(counts);
}

/** Every document's content under the tenant's billing collections, to prove nothing changed. */
async function billingSnapshot(tenantId: string): Promise<Record<string, unknown>> {
  const names = ['products', 'prices', 'coupons', 'billingCustomers', 'subscriptions', 'invoices', 'creditNotes', 'usageRecords', 'testClocks', 'settings', 'billingCounters'];
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const snap = await env.stack.services.db.collection(`tenants/${tenantId}/${name}`).get();
    for (const d of snap.docs) out[`${name}/${d.id}`] = d.get('state') ?? d.data();
  }
  return out;
}

/** The invoice's totals are its lines' sums, and its ledger entries balance and equal those totals. */
async function expectInvoiceAddsUp(tenantId: string, invoice: Invoice): Promise<void> {
  const sum = (f: (l: Invoice['lines'][number]) => bigint) => invoice.lines.reduce((a, l) => a + f(l), 0n);
  expect(invoice.subtotalMinor).toBe(sum((l) => l.amountMinor));
  expect(invoice.discountMinor).toBe(sum((l) => l.discountMinor));
  expect(invoice.taxMinor).toBe(sum((l) => l.taxMinor));
  expect(invoice.totalMinor).toBe(invoice.subtotalMinor - invoice.discountMinor + invoice.taxMinor);
  if (invoice.totalMinor === 0n) return;
  const { record } = await getEntry(env.stack.services.ledger, tenantId, `je_binv_${invoice.id}`);
  if (record.kind !== 'entry') throw new Error('not an entry');
  const posted = (code: Parameters<typeof billingAccountId>[0], direction: 'debit' | 'credit') =>
    record.postings.filter((p) => p.accountId === billingAccountId(code, invoice.currency) && p.direction === direction).reduce((a, p) => a + p.amountMinor, 0n);
  const debits = record.postings.filter((p) => p.direction === 'debit').reduce((a, p) => a + p.amountMinor, 0n);
  const credits = record.postings.filter((p) => p.direction === 'credit').reduce((a, p) => a + p.amountMinor, 0n);
  expect(debits).toBe(credits);
  expect(posted('billing_receivable', 'debit')).toBe(invoice.totalMinor);
  expect(posted('billing_revenue', 'credit')).toBe(invoice.subtotalMinor - invoice.discountMinor);
  expect(posted('billing_tax_payable', 'credit')).toBe(invoice.taxMinor);
  if (invoice.status === InvoiceStatus.PAID) {
    const paid = (await getEntry(env.stack.services.ledger, tenantId, `je_bpay_${invoice.id}`)).record;
    if (paid.kind !== 'entry') throw new Error('not an entry');
    expect(paid.postings).toEqual(expect.arrayContaining([
      expect.objectContaining({ accountId: billingAccountId('billing_receivable', invoice.currency), direction: 'credit', amountMinor: invoice.amountPaidMinor }),
      expect.objectContaining({ accountId: billingAccountId('billing_collected', invoice.currency), direction: 'debit', amountMinor: invoice.amountPaidMinor }),
    ]));
  }
}

const unknownId = (prefix: string) => `${prefix}_${'Z'.repeat(22)}`;

/** Posted debits and credits of a tenant's billing account in EUR. */
async function posted(tenantId: string, code: BillingAccountCode): Promise<{ debits: bigint; credits: bigint }> {
  const { balance } = await getBalance(env.stack.services.ledger, tenantId, billingAccountId(code, 'EUR'), null);
  return { debits: balance.postedDebitsMinor, credits: balance.postedCreditsMinor };
}

describe('billing under attack', () => {
  it("another tenant's ids of every billing resource answer NOT_FOUND and change nothing on either side", async () => {
    const victim = await shop();
    const sub = await victim.owner.billing.createSubscription({ customerId: victim.customer.id, items: [{ priceId: victim.price.id, quantity: 2n }], idempotencyKey: key() });
    const invoiceId = sub.invoice!.id;
    const coupon = (await victim.owner.billing.createCoupon({ coupon: { name: 'ten', percentOffBps: 1_000, duration: 'forever' }, idempotencyKey: key() })).coupon!;
    const note = await victim.owner.billing.createCreditNote({ invoiceId, amountMinor: 100n, reason: 'x', idempotencyKey: key() });
    expect(note.creditNote?.id).toMatch(/^cn_/);
    const attacker = await shop();
    const [victimBefore, victimDocsBefore, attackerDocsBefore] = await Promise.all([billingSnapshot(victim.tenantId), documentsOf(victim.tenantId), documentsOf(attacker.tenantId)]);
    const a = attacker.owner.billing;
    const notFound = (p: Promise<unknown>) => expectConnectError(p, Code.NotFound, 'NOT_FOUND');

    await notFound(a.getSubscription({ subscriptionId: sub.subscription!.id }));
    await notFound(a.cancelSubscription({ subscriptionId: sub.subscription!.id, atPeriodEnd: false, idempotencyKey: key() }));
    await notFound(a.previewUpcomingInvoice({ subscriptionId: sub.subscription!.id }));
    await notFound(a.recordUsage({ subscriptionId: sub.subscription!.id, priceId: victim.price.id, quantity: 1n, idempotencyKey: key() }));
    await notFound(a.getInvoice({ invoiceId }));
    await notFound(a.getInvoicePdf({ invoiceId }));
    await notFound(a.voidInvoice({ invoiceId, idempotencyKey: key() }));
    await notFound(a.createCreditNote({ invoiceId, amountMinor: 1n, reason: '', idempotencyKey: key() }));
    expect((await a.listInvoices({ subscriptionId: sub.subscription!.id })).invoices).toEqual([]);
    // Catalog: the victim's product, price and coupon.
    await notFound(a.createPrice({ price: { productId: victim.product.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 1n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() }));
    await notFound(a.createSubscription({ customerId: attacker.customer.id, items: [{ priceId: victim.price.id, quantity: 1n }], idempotencyKey: key() }));
    await notFound(a.createSubscription({ customerId: attacker.customer.id, items: [{ priceId: attacker.price.id, quantity: 1n }], couponId: coupon.id, idempotencyKey: key() }));
    // Customers, payment methods and clocks.
    await notFound(a.createSubscription({ customerId: victim.customer.id, items: [{ priceId: attacker.price.id, quantity: 1n }], idempotencyKey: key() }));
    await notFound(a.updateBillingCustomer({ customer: { customerId: victim.customer.id, defaultPaymentMethodId: victim.pm.id, country: 'FR' }, idempotencyKey: key() }));
    await notFound(a.updateBillingCustomer({ customer: { customerId: attacker.customer.id, defaultPaymentMethodId: victim.pm.id, country: 'FR', testClockId: attacker.clock.id }, idempotencyKey: key() }));
    await notFound(a.updateBillingCustomer({ customer: { customerId: attacker.customer.id, defaultPaymentMethodId: attacker.pm.id, country: 'FR', testClockId: victim.clock.id }, idempotencyKey: key() }));
    await notFound(a.advanceTestClock({ testClockId: victim.clock.id, frozenTime: at('2026-06-01T00:00:00Z'), idempotencyKey: key() }));

    expect(await billingSnapshot(victim.tenantId)).toEqual(victimBefore);
    expect(await documentsOf(victim.tenantId)).toEqual(victimDocsBefore);
    expect(await documentsOf(attacker.tenantId)).toEqual(attackerDocsBefore);
  });

  it('a live tenant cannot create, advance or attach test clocks (PERMISSION_DENIED) and nothing is written', async () => {
    const { tenantId, owner } = await tenant(false);
    const { customer, pm } = await customerOf(owner);
    const before = await documentsOf(tenantId);
    await expectConnectError(owner.billing.createTestClock({ name: 'x', frozenTime: at('2026-01-01T00:00:00Z'), idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    await expectConnectError(owner.billing.advanceTestClock({ testClockId: unknownId('clock'), frozenTime: at('2026-02-01T00:00:00Z'), idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    await expectConnectError(owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR', testClockId: unknownId('clock') }, idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    expect(await documentsOf(tenantId)).toEqual(before);
  });

  it('bad input from the issue gets a typed reason naming the field and writes nothing', async () => {
    const s = await shop();
    const b = s.owner.billing;
    const { price: metered } = await monthlyPrice(s.owner, 5n, { usageAggregation: 1 });
    const usd = (await b.createPrice({ price: { productId: s.product.id, currency: 'USD', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() })).price!;
    const yearly = (await b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.YEAR, intervalCount: 1 }, idempotencyKey: key() })).price!;
    const oneOff = (await b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 500n } }, idempotencyKey: key() })).price!;
    const flat = (await b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 500n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() })).price!;
    const usdCoupon = (await b.createCoupon({ coupon: { name: 'five off', amountOffMinor: 500n, currency: 'USD', duration: 'once' }, idempotencyKey: key() })).coupon!;
    const live = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }, { priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = live.subscription!.id;
    const before = await documentsOf(s.tenantId);
    const snapshot = await billingSnapshot(s.tenantId);
    const invalid = (p: Promise<unknown>, field: string) => expectConnectError(p, Code.InvalidArgument, 'FIELD_INVALID', { field });
    const items = (priceId: string, quantity = 1n) => [{ priceId, quantity }];

    // Unknown price, currency mismatch, quantity below 1, mixed intervals, one-off price on a subscription.
    await expectConnectError(b.createSubscription({ customerId: s.customer.id, items: items(unknownId('price')), idempotencyKey: key() }), Code.NotFound, 'NOT_FOUND', { field: 'items[0].price_id' });
    await expectConnectError(b.createSubscription({ customerId: s.customer.id, items: items(s.price.id), currency: 'USD', idempotencyKey: key() }), Code.InvalidArgument, 'CURRENCY_MISMATCH');
    await expectConnectError(b.createSubscription({ customerId: s.customer.id, items: [...items(s.price.id), ...items(usd.id)], idempotencyKey: key() }), Code.InvalidArgument, 'CURRENCY_MISMATCH');
    await expectConnectError(b.createSubscription({ customerId: s.customer.id, items: items(s.price.id), couponId: usdCoupon.id, idempotencyKey: key() }), Code.InvalidArgument, 'CURRENCY_MISMATCH');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: items(s.price.id, 0n), idempotencyKey: key() }), 'items[0].quantity');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: items(s.price.id, -3n), idempotencyKey: key() }), 'items[0].quantity');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: items(flat.id, 2n), idempotencyKey: key() }), 'items[0].quantity');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: [...items(s.price.id), ...items(yearly.id)], idempotencyKey: key() }), 'items[1].price_id');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: items(oneOff.id), idempotencyKey: key() }), 'items[0].price_id');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: [...items(s.price.id), ...items(s.price.id)], idempotencyKey: key() }), 'items');
    await expectConnectError(b.createSubscription({ customerId: s.customer.id, items: [], idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_REQUIRED');
    await invalid(b.createSubscription({ customerId: s.customer.id, items: items(s.price.id), trialDays: -1, idempotencyKey: key() }), 'trial_days');
    // An unknown country (profile and settings), a malformed VAT id.
    await invalid(b.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: s.pm.id, country: 'XX', testClockId: s.clock.id }, idempotencyKey: key() }), 'customer.country');
    await invalid(b.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: s.pm.id, country: 'fr', testClockId: s.clock.id }, idempotencyKey: key() }), 'customer.country');
    await invalid(b.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: s.pm.id, country: 'FR', vatId: 'FR1', testClockId: s.clock.id }, idempotencyKey: key() }), 'customer.vat_id');
    await invalid(b.updateBillingSettings({ settings: { originCountry: 'XX' }, idempotencyKey: key() }), 'settings.origin_country');
    await invalid(b.updateBillingSettings({ settings: { originCountry: 'DE', dunningRetryDays: [3, 1] }, idempotencyKey: key() }), 'settings.dunning_retry_days');
    // Prices: negative amount, bad interval count, tiers out of order.
    await expectConnectError(b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: -1n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1n }, interval: Interval.MONTH, intervalCount: 0 }, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.TIERED, tiers: [{ upTo: 10n, unitAmountMinor: 1n }, { upTo: 5n, unitAmountMinor: 1n }] }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(b.createPrice({ price: { productId: s.product.id, currency: 'ZZZ', scheme: { model: PriceModel.FLAT, amountMinor: 1n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key() }), Code.InvalidArgument, 'UNKNOWN_CURRENCY');
    // Usage: a non-metered price, a negative quantity, a time outside the current period.
    await invalid(b.recordUsage({ subscriptionId, priceId: s.price.id, quantity: 1n, idempotencyKey: key() }), 'price_id');
    await invalid(b.recordUsage({ subscriptionId, priceId: metered.id, quantity: -1n, idempotencyKey: key() }), 'quantity');
    await invalid(b.recordUsage({ subscriptionId, priceId: metered.id, quantity: 1n, time: at('2025-01-01T00:00:00Z'), idempotencyKey: key() }), 'time');
    await invalid(b.recordUsage({ subscriptionId, priceId: metered.id, quantity: 1n, time: at('2027-01-01T00:00:00Z'), idempotencyKey: key() }), 'time');
    // Credit notes: zero, more than the invoice, a void invoice state.
    await invalid(b.createCreditNote({ invoiceId: live.invoice!.id, amountMinor: 0n, reason: '', idempotencyKey: key() }), 'amount_minor');
    await invalid(b.createCreditNote({ invoiceId: live.invoice!.id, amountMinor: live.invoice!.totalMinor + 1n, reason: '', idempotencyKey: key() }), 'amount_minor');
    await expectConnectError(b.voidInvoice({ invoiceId: live.invoice!.id, idempotencyKey: key() }), Code.FailedPrecondition, 'INVALID_STATE_TRANSITION');
    // Test clocks: backwards, more than two years.
    await invalid(b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2025-01-01T00:00:00Z'), idempotencyKey: key() }), 'frozen_time');
    await invalid(b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2029-01-01T00:00:00Z'), idempotencyKey: key() }), 'frozen_time');

    expect(await documentsOf(s.tenantId)).toEqual(before);
    expect(await billingSnapshot(s.tenantId)).toEqual(snapshot);
  });

  it('a quantity whose amount overflows is refused at creation, not left as a subscription that never bills', async () => {
    const s = await shop();
    const big = (await s.owner.billing.createPrice({
      price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 100_000_000n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: key(),
    })).price!;
    const before = await documentsOf(s.tenantId);
    await expectConnectError(
      s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: big.id, quantity: 1_000_000_000_000_000n }], idempotencyKey: key() }),
      Code.InvalidArgument, 'AMOUNT_OUT_OF_RANGE', { field: 'items[0].quantity' },
    );
    // Within int64 but more than any payment can carry: refused too.
    await expectConnectError(
      s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: big.id, quantity: 10_000_000_000n }], idempotencyKey: key() }),
      Code.InvalidArgument, 'AMOUNT_OUT_OF_RANGE', { field: 'items' },
    );
    expect(await documentsOf(s.tenantId)).toEqual(before);
  });

  it('one subscription whose renewal cannot be drafted does not hold back the others of its tenant', async () => {
    const s = await shop();
    const { price: metered } = await monthlyPrice(s.owner, 100_000_000n, { usageAggregation: 1 });
    const poisoned = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    const healthy = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    // 10^12 units at 1,000,000.00 EUR each: the period's amount is beyond int64 minor units.
    await s.owner.billing.recordUsage({ subscriptionId: poisoned.subscription!.id, priceId: metered.id, quantity: 1_000_000_000_000n, idempotencyKey: key() });
    const report = await runBilling(env.stack.services.billing, { kind: 'clock', tenantId: s.tenantId, testClockId: s.clock.id, nowMs: Date.parse('2026-03-01T00:00:00Z') }, { traceId: '', spanId: '' });
    expect(report.errors).toBeGreaterThan(0);
    expect((await s.owner.billing.listInvoices({ subscriptionId: healthy.subscription!.id })).invoices.map((i) => iso(i.periodStart)).sort())
      .toEqual(['2026-01-31T10:00:00.000Z', '2026-02-28T10:00:00.000Z']);
    expect((await s.owner.billing.getSubscription({ subscriptionId: poisoned.subscription!.id })).subscription?.currentPeriodStart).toEqual(poisoned.subscription?.currentPeriodStart);
  });

  it('idempotency: a replay answers the same and bills once; the same key with another body is IDEMPOTENCY_KEY_REUSED', async () => {
    const s = await shop();
    const b = s.owner.billing;
    const k = key();
    const request = { customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 2n }], idempotencyKey: k };
    // Two at once and one after: one subscription, one invoice, one payment.
    const [first, second] = await Promise.allSettled([b.createSubscription(request), b.createSubscription(request)]);
    const answers = [first, second].filter((r) => r.status === 'fulfilled').map((r) => r.value);
    expect(answers.length).toBeGreaterThan(0);
    const third = await b.createSubscription(request);
    for (const answer of answers) expect(answer).toEqual(third);
    await expectConnectError(b.createSubscription({ ...request, items: [{ priceId: s.price.id, quantity: 3n }] }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    const counts = await documentsOf(s.tenantId);
    expect(counts).toMatchObject({ subscriptions: 1, invoices: 1, payments: 1 });

    // A credit note replayed credits once.
    const noteKey = key();
    const note = await b.createCreditNote({ invoiceId: third.invoice!.id, amountMinor: 300n, reason: 'sorry', idempotencyKey: noteKey });
    expect(await b.createCreditNote({ invoiceId: third.invoice!.id, amountMinor: 300n, reason: 'sorry', idempotencyKey: noteKey })).toEqual(note);
    await expectConnectError(b.createCreditNote({ invoiceId: third.invoice!.id, amountMinor: 301n, reason: 'sorry', idempotencyKey: noteKey }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    expect((await b.getInvoice({ invoiceId: third.invoice!.id })).invoice?.amountCreditedMinor).toBe(300n);

    // Usage: the key dedupes; another quantity under the same key is refused.
    const { price: metered } = await monthlyPrice(s.owner, 5n, { usageAggregation: 1 });
    const usageSub = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    const usageKey = key();
    const usage = { subscriptionId: usageSub.subscription!.id, priceId: metered.id, quantity: 7n, idempotencyKey: usageKey };
    const r1 = await b.recordUsage(usage);
    expect(await b.recordUsage(usage)).toEqual(r1);
    await expectConnectError(b.recordUsage({ ...usage, quantity: 8n }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    expect((await documentsOf(s.tenantId)).usageRecords).toBe(1);

    // A clock advance replayed moves nothing more.
    const advanceKey = key();
    const advanced = await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: advanceKey });
    expect(await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: advanceKey })).toEqual(advanced);
    await expectConnectError(b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-02T00:00:00Z'), idempotencyKey: advanceKey }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    // The metered subscription's renewal billed the usage once: 7 units x 0.05.
    const usageInvoices = (await b.listInvoices({ subscriptionId: usageSub.subscription!.id })).invoices;
    expect(usageInvoices.map((i) => i.subtotalMinor).sort()).toEqual([0n, 35n]);
  });

  it('a retry with the same key replays the first answer even after the state moved on (void, full credit note, usage after renewal, clock advanced further)', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const b = s.owner.billing;
    const { price: metered } = await monthlyPrice(s.owner, 5n, { usageAggregation: 1 });
    const created = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }, { priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id;
    const usage = { subscriptionId: created.subscription!.id, priceId: metered.id, quantity: 3n, time: at('2026-01-31T12:00:00Z'), idempotencyKey: key() };
    const recorded = await b.recordUsage(usage);
    const advance = { testClockId: s.clock.id, frozenTime: at('2026-02-01T00:00:00Z'), idempotencyKey: key() };
    const advanced = await b.advanceTestClock(advance);
    const fullCredit = { invoiceId, amountMinor: created.invoice!.totalMinor, reason: 'waived', idempotencyKey: key() };
    const credited = await b.createCreditNote(fullCredit);
    expect(credited.invoice?.status).toBe(InvoiceStatus.PAID);
    // The period renews and the clock moves on.
    await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-05T00:00:00Z'), idempotencyKey: key() });
    expect(await b.recordUsage(usage)).toEqual(recorded);
    expect(await b.advanceTestClock(advance)).toEqual(advanced);
    expect(await b.createCreditNote(fullCredit)).toEqual(credited);
    // And a void: the second subscription's open invoice.
    const other = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 2n }], idempotencyKey: key() });
    const voidRequest = { invoiceId: other.invoice!.id, idempotencyKey: key() };
    const voided = await b.voidInvoice(voidRequest);
    expect(await b.voidInvoice(voidRequest)).toEqual(voided);
    expect((await documentsOf(s.tenantId)).creditNotes).toBe(1);
  });

  it('deep fuzz behind real ids: hostile prices, items, usage, credit notes and clock moves answer typed errors, never internal', async () => {
    const s = await shop();
    const b = s.owner.billing;
    const { price: metered } = await monthlyPrice(s.owner, 5n, { usageAggregation: 3 });
    const sub = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }, { priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    const big = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n), 10n ** 15n, 10n ** 15n + 1n));
    const small = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 11, 2 ** 31 - 1, -(2 ** 31)));
    // Nanos the client can encode (the wire allows 0..999,999,999); the server sees the rest as given.
    const nanos = fc.integer({ min: 0, max: 999_999_999 });
    const tier = fc.record({ upTo: big, unitAmountMinor: big, flatAmountMinor: big });
    const calls: fc.Arbitrary<() => Promise<unknown>>[] = [
      fc.record({ model: fc.integer({ min: 0, max: 5 }), amountMinor: big, unitAmountScale: small, tiers: fc.array(tier, { maxLength: 4 }), interval: fc.integer({ min: 0, max: 5 }), intervalCount: small, usageAggregation: fc.integer({ min: 0, max: 4 }), currency: fc.constantFrom('EUR', 'JPY', 'BHD', 'eur', '', 'XXX') })
        .map((p) => () => b.createPrice({ price: { productId: s.product.id, currency: p.currency, scheme: { model: p.model, amountMinor: p.amountMinor, unitAmountScale: p.unitAmountScale, tiers: p.tiers }, interval: p.interval, intervalCount: p.intervalCount, usageAggregation: p.usageAggregation }, idempotencyKey: key() })),
      fc.record({ quantity: big, trialDays: small, currency: fc.constantFrom('', 'EUR', 'USD', 'eur') })
        .map((r) => () => b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: r.quantity }], trialDays: r.trialDays, currency: r.currency, idempotencyKey: key() })),
      fc.record({ quantity: big, seconds: fc.oneof(fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }), fc.constantFrom(0n, 1_769_853_600n)), nanos })
        .map((r) => () => b.recordUsage({ subscriptionId: sub.subscription!.id, priceId: metered.id, quantity: r.quantity, time: { seconds: r.seconds, nanos: r.nanos }, idempotencyKey: key() })),
      big.map((amountMinor) => () => b.createCreditNote({ invoiceId: sub.invoice!.id, amountMinor, reason: '', idempotencyKey: key() })),
      fc.record({ seconds: fc.oneof(fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }), fc.constantFrom(253_402_300_799n, -62_135_596_800n)), nanos })
        .map((t) => () => b.advanceTestClock({ testClockId: s.clock.id, frozenTime: { seconds: t.seconds, nanos: t.nanos }, idempotencyKey: key() })),
      fc.record({ percentOffBps: small, amountOffMinor: big, duration: fc.constantFrom('once', 'repeating', 'forever', ''), durationInMonths: small, currency: fc.constantFrom('EUR', '', 'XXX') })
        .map((c) => () => b.createCoupon({ coupon: c, idempotencyKey: key() })),
    ];
    const requests = fc.sample(fc.oneof(...calls), { seed: 20_261_206, numRuns: 60 });
    const answers: string[] = [];
    for (const call of requests) {
      try {
        await call();
        answers.push('ok');
      } catch (error) {
        const e = rpcErrorOf(error);
        expect(e.code, e.message).not.toBe(Code.Internal);
        expect(e.code, e.message).not.toBe(Code.Unknown);
        expect(e.reason, e.message).not.toBe('');
        answers.push(e.reason);
      }
    }
    expect(answers.filter((a) => a !== 'ok').length).toBeGreaterThan(10);
  });

  it('PreviewUpcomingInvoice shows exactly the invoice the renewal then makes (seats, metered usage, coupon, tax), and writes nothing', async () => {
    const s = await shop();
    const b = s.owner.billing;
    const { price: metered } = await monthlyPrice(s.owner, 7n, { usageAggregation: 2 });
    const coupon = (await b.createCoupon({ coupon: { name: 'x', amountOffMinor: 123n, currency: 'EUR', duration: 'forever' }, idempotencyKey: key() })).coupon!;
    const sub = (await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 3n }, { priceId: metered.id, quantity: 1n }], couponId: coupon.id, idempotencyKey: key() })).subscription!;
    for (const quantity of [5n, 40n, 12n]) await b.recordUsage({ subscriptionId: sub.id, priceId: metered.id, quantity, idempotencyKey: key() });
    const before = await documentsOf(s.tenantId);
    const preview = (await b.previewUpcomingInvoice({ subscriptionId: sub.id })).invoice!;
    expect(await documentsOf(s.tenantId)).toEqual(before);
    await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: key() });
    const actual = (await b.listInvoices({ subscriptionId: sub.id })).invoices.find((i) => iso(i.periodStart) === iso(preview.periodStart))!;
    const view = (i: Invoice) => ({ lines: i.lines, subtotal: i.subtotalMinor, discount: i.discountMinor, tax: i.taxMinor, total: i.totalMinor, start: iso(i.periodStart), end: iso(i.periodEnd) });
    expect(view(actual)).toEqual(view(preview));
    // max(5, 40, 12) = 40 units x 0.07 = 2.80 of usage in arrears.
    expect(actual.lines.some((l) => l.priceId === metered.id && l.quantity === 40n && l.amountMinor === 280n)).toBe(true);
  });

  it('a subscription canceled at period end has no upcoming invoice to preview', async () => {
    const s = await shop();
    const sub = (await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() })).subscription!;
    await s.owner.billing.cancelSubscription({ subscriptionId: sub.id, atPeriodEnd: true, idempotencyKey: key() });
    await expectConnectError(s.owner.billing.previewUpcomingInvoice({ subscriptionId: sub.id }), Code.FailedPrecondition, 'INVALID_STATE_TRANSITION');
  });

  it('billingRun on real time (every tenant, the deployed path): two runs at once and one after bill each due period once, gapless, charged once', async () => {
    const { tenantId, owner } = await tenant(true);
    const { price } = await monthlyPrice(owner, 1_500n);
    const customers = await Promise.all([0, 1, 2].map(() => customerOf(owner)));
    const subs = await Promise.all(customers.map((c) => owner.billing.createSubscription({ customerId: c.customer.id, items: [{ priceId: price.id, quantity: 1n }], idempotencyKey: key() })));
    // Two months and a bit later (the scope's instant; nothing else runs on real time in this stack).
    const scope = { kind: 'real' as const, nowMs: Date.now() + 65 * 86_400_000 };
    const billing = env.stack.services.billing;
    const trace = { traceId: '', spanId: '' };
    const [a, b] = await Promise.all([runBilling(billing, scope, trace), runBilling(billing, scope, trace)]);
    const again = await runBilling(billing, scope, trace);
    expect(a.finalized + b.finalized).toBe(6);
    expect(again).toMatchObject({ finalized: 0, chargeAttempts: 0 });
    const invoices = (await owner.billing.listInvoices({ pageSize: 100 })).invoices;
    expect(invoices.map((i) => i.number).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `INV-${String(i + 1).padStart(6, '0')}`));
    for (const sub of subs) expect(invoices.filter((i) => i.subscriptionId === sub.subscription!.id)).toHaveLength(3);
    expect(invoices.every((i) => i.status === InvoiceStatus.PAID && i.attemptCount === 1)).toBe(true);
    expect((await documentsOf(tenantId)).payments).toBe(9);
  });

  it('concurrent finalization: subscriptions created at once and two clocks advanced at once number invoices 1..N without gaps or duplicates; every invoice adds up and posts its totals', async () => {
    const { tenantId, owner } = await tenant(true);
    const { price } = await monthlyPrice(owner, 999n);
    const clocks = await Promise.all([0, 1].map(async () => (await owner.billing.createTestClock({ name: 'c', frozenTime: at('2026-01-31T10:00:00Z'), idempotencyKey: key() })).testClock!));
    const customers = await Promise.all(Array.from({ length: 4 }, (_, i) => customerOf(owner, { clockId: clocks[i % 2]!.id, country: ['FR', 'DE', 'FI', 'HU'][i]! })));
    const created = await Promise.all(customers.map((c, i) => owner.billing.createSubscription({ customerId: c.customer.id, items: [{ priceId: price.id, quantity: BigInt(i + 1) }], idempotencyKey: key() })));
    expect(created.map((c) => c.invoice?.status)).toEqual(Array(4).fill(InvoiceStatus.PAID));
    // Both clocks two months on, each advanced twice at once (different keys).
    const advances = await Promise.allSettled(clocks.flatMap((c) => [0, 1].map(() => owner.billing.advanceTestClock({ testClockId: c.id, frozenTime: at('2026-03-15T00:00:00Z'), idempotencyKey: key() }))));
    for (const c of clocks) await owner.billing.advanceTestClock({ testClockId: c.id, frozenTime: at('2026-03-15T00:00:00Z'), idempotencyKey: key() });
    expect(advances.filter((a) => a.status === 'fulfilled').length).toBeGreaterThan(0);
    const invoices = (await owner.billing.listInvoices({ pageSize: 100 })).invoices;
    expect(invoices).toHaveLength(4 * 2);
    expect(invoices.map((i) => i.number).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `INV-${String(i + 1).padStart(6, '0')}`));
    expect(invoices.every((i) => i.status === InvoiceStatus.PAID && i.attemptCount === 1)).toBe(true);
    // One payment per invoice: no period charged twice.
    expect((await documentsOf(tenantId)).payments).toBe(8);
    for (const invoice of invoices) await expectInvoiceAddsUp(tenantId, invoice);
  });

  it('a trialing subscription canceled at period end ends with its trial: no invoice, no charge', async () => {
    const s = await shop();
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], trialDays: 14, idempotencyKey: key() });
    expect(created.subscription?.status).toBe(SubscriptionStatus.TRIALING);
    await s.owner.billing.cancelSubscription({ subscriptionId: created.subscription!.id, atPeriodEnd: true, idempotencyKey: key() });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-03-31T00:00:00Z'), idempotencyKey: key() });
    const after = (await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription!;
    expect(after.status).toBe(SubscriptionStatus.CANCELED);
    expect(iso(after.cancelTime)).toBe('2026-02-14T10:00:00.000Z');
    expect((await s.owner.billing.listInvoices({ subscriptionId: created.subscription!.id })).invoices).toEqual([]);
    expect((await documentsOf(s.tenantId)).payments).toBeUndefined();
  });

  it('a credit note for all of an open invoice settles it: no charge of nothing, no dunning', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const invoice = created.invoice!;
    expect(invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 1 });
    await s.owner.billing.createCreditNote({ invoiceId: invoice.id, amountMinor: invoice.totalMinor, reason: 'waived', idempotencyKey: key() });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-10T00:00:00Z'), idempotencyKey: key() });
    const after = (await s.owner.billing.getInvoice({ invoiceId: invoice.id })).invoice!;
    expect(after.attemptCount).toBe(1);
    expect(after.nextPaymentAttempt).toBeUndefined();
    expect(after.status).not.toBe(InvoiceStatus.OPEN);
    const sub = (await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription!;
    expect(sub.status).not.toBe(SubscriptionStatus.UNPAID);
  });

  it('a year on a test clock with a failing card: past_due, retries 1, 3, 5, 7 days after the first failure, then unpaid; later renewals are invoiced, not charged', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const subscriptionId = created.subscription!.id;
    expect(created.subscription?.status).toBe(SubscriptionStatus.PAST_DUE);
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2027-01-31T10:00:00Z'), idempotencyKey: key() });
    const sub = (await s.owner.billing.getSubscription({ subscriptionId })).subscription!;
    expect(sub.status).toBe(SubscriptionStatus.UNPAID);
    const invoices = (await s.owner.billing.listInvoices({ subscriptionId, pageSize: 100 })).invoices;
    // Jan 31 2026 .. Jan 31 2027: 13 periods started (the last at the clock's final instant).
    expect(invoices).toHaveLength(13);
    const first = invoices.find((i) => iso(i.periodStart) === '2026-01-31T10:00:00.000Z')!;
    expect(first).toMatchObject({ attemptCount: 5, status: InvoiceStatus.UNCOLLECTIBLE });
    expect(invoices.filter((i) => i.id !== first.id).every((i) => i.attemptCount === 0 && i.nextPaymentAttempt === undefined)).toBe(true);
    for (const invoice of invoices) await expectInvoiceAddsUp(s.tenantId, invoice);
    // Five charge attempts in all, on the documented days.
    const payments = await env.stack.services.db.collection(`tenants/${s.tenantId}/payments`).get();
    expect(payments.size).toBe(5);
    // The outbox tells the story: five failures, the moves to past_due and unpaid.
    const events = (await env.stack.services.db.collection(`tenants/${s.tenantId}/outbox`).get()).docs
      .flatMap((d) => ((d.get('events') as { type: string; payload: Record<string, unknown> }[] | undefined) ?? [{ type: d.get('type') as string, payload: d.get('payload') as Record<string, unknown> }]));
    const failures = events.filter((e) => e.type === 'billing.invoice.payment_failed').map((e) => new Date(Number(e.payload.atMs)).toISOString()).sort();
    expect(failures).toEqual(['2026-01-31T10:00:00.000Z', '2026-02-01T10:00:00.000Z', '2026-02-03T10:00:00.000Z', '2026-02-05T10:00:00.000Z', '2026-02-07T10:00:00.000Z']);
    const statuses = events.filter((e) => e.type === 'billing.subscription.updated').map((e) => e.payload.status);
    expect(statuses).toEqual(expect.arrayContaining(['past_due', 'unpaid']));
    expect(events.filter((e) => e.type === 'billing.invoice.finalized')).toHaveLength(13);
  });

  it('dunning with final action cancel: canceled after the last retry, nothing invoiced after', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    await s.owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV', dunningRetryDays: [2, 4], dunningFinalAction: 'cancel' }, idempotencyKey: key() });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-07-01T00:00:00Z'), idempotencyKey: key() });
    const sub = (await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription!;
    expect(sub.status).toBe(SubscriptionStatus.CANCELED);
    expect(iso(sub.cancelTime)).toBe('2026-02-04T10:00:00.000Z');
    const invoices = (await s.owner.billing.listInvoices({ subscriptionId: created.subscription!.id })).invoices;
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ attemptCount: 3 });
  });

  it('a fixed card during dunning: the next retry charges the new default payment method and the subscription is active again', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], idempotencyKey: key() });
    const good = (await s.owner.payments.createPaymentMethod({ customerId: s.customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    await s.owner.billing.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: good.id, country: 'FR', testClockId: s.clock.id }, idempotencyKey: key() });
    await s.owner.billing.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-02T00:00:00Z'), idempotencyKey: key() });
    const invoice = (await s.owner.billing.getInvoice({ invoiceId: created.invoice!.id })).invoice!;
    expect(invoice).toMatchObject({ status: InvoiceStatus.PAID, attemptCount: 2, amountPaidMinor: invoice.totalMinor });
    expect((await s.owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.ACTIVE);
    await expectInvoiceAddsUp(s.tenantId, invoice);
  });

  it('money: a discounted invoice of exclusive seats and an inclusive flat price adds up; a partial credit then the payment settle the receivable to zero', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const b = s.owner.billing;
    const inclusive = (await b.createPrice({ price: { productId: s.product.id, currency: 'EUR', scheme: { model: PriceModel.FLAT, amountMinor: 1_199n }, interval: Interval.MONTH, intervalCount: 1, taxInclusive: true }, idempotencyKey: key() })).price!;
    const coupon = (await b.createCoupon({ coupon: { name: 'a third', percentOffBps: 3_333, duration: 'forever' }, idempotencyKey: key() })).coupon!;
    const created = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 3n }, { priceId: inclusive.id, quantity: 1n }], couponId: coupon.id, idempotencyKey: key() });
    const invoice = created.invoice!;
    expect(invoice.status).toBe(InvoiceStatus.OPEN);
    expect(invoice.discountMinor).toBeGreaterThan(0n);
    await expectInvoiceAddsUp(s.tenantId, invoice);
    const note = (await b.createCreditNote({ invoiceId: invoice.id, amountMinor: 500n, reason: 'partial', idempotencyKey: key() })).creditNote!;
    // The card is fixed; the next retry charges what is left.
    const good = (await s.owner.payments.createPaymentMethod({ customerId: s.customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    await b.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: good.id, country: 'FR', testClockId: s.clock.id }, idempotencyKey: key() });
    await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-02T00:00:00Z'), idempotencyKey: key() });
    const paid = (await b.getInvoice({ invoiceId: invoice.id })).invoice!;
    expect(paid).toMatchObject({ status: InvoiceStatus.PAID, amountPaidMinor: invoice.totalMinor - 500n, amountCreditedMinor: 500n });
    expect((await s.owner.payments.getPayment({ paymentId: paid.paymentId })).payment?.amountCapturedMinor).toBe(invoice.totalMinor - 500n);
    const receivable = await posted(s.tenantId, 'billing_receivable');
    expect(receivable).toEqual({ debits: invoice.totalMinor, credits: invoice.totalMinor });
    const revenue = await posted(s.tenantId, 'billing_revenue');
    const tax = await posted(s.tenantId, 'billing_tax_payable');
    expect(revenue.credits - revenue.debits + tax.credits - tax.debits).toBe(invoice.totalMinor - 500n);
    expect(tax.debits).toBe(note.taxMinor);
  });

  it('money: voiding an open invoice reverses what credit notes left of its entry, and it is never charged again', async () => {
    const s = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const b = s.owner.billing;
    const created = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 7n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id;
    await b.createCreditNote({ invoiceId, amountMinor: 333n, reason: 'x', idempotencyKey: key() });
    const voidKey = key();
    const voided = await b.voidInvoice({ invoiceId, idempotencyKey: voidKey });
    expect(voided.invoice?.status).toBe(InvoiceStatus.VOID);
    expect(await b.voidInvoice({ invoiceId, idempotencyKey: voidKey })).toEqual(voided);
    await expectConnectError(b.voidInvoice({ invoiceId, idempotencyKey: key() }), Code.FailedPrecondition, 'INVALID_STATE_TRANSITION');
    await expectConnectError(b.createCreditNote({ invoiceId, amountMinor: 1n, reason: '', idempotencyKey: key() }), Code.FailedPrecondition, 'INVALID_STATE_TRANSITION');
    for (const code of ['billing_receivable', 'billing_revenue', 'billing_tax_payable'] as const) {
      const p = await posted(s.tenantId, code);
      expect(p.debits, code).toBe(p.credits);
    }
    await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-02-10T00:00:00Z'), idempotencyKey: key() });
    expect((await b.getInvoice({ invoiceId })).invoice).toMatchObject({ status: InvoiceStatus.VOID, attemptCount: 1 });
    expect((await documentsOf(s.tenantId)).payments).toBe(1);
  });

  it('tax through the API: a business customer with another member state\'s VAT id is reverse charged; the calculation is stored on the invoice', async () => {
    const s = await shop();
    await s.owner.billing.updateBillingCustomer({ customer: { customerId: s.customer.id, defaultPaymentMethodId: s.pm.id, country: 'FR', vatId: 'FRXX123456789', testClockId: s.clock.id }, idempotencyKey: key() });
    const created = await s.owner.billing.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 2n }], idempotencyKey: key() });
    expect(created.invoice).toMatchObject({ subtotalMinor: 2_000n, taxMinor: 0n, totalMinor: 2_000n, status: InvoiceStatus.PAID });
    expect(JSON.parse(created.invoice!.taxCalculationJson)).toMatchObject({ reverseCharge: true, engine: 'builtin_eu_vat' });
    await expectInvoiceAddsUp(s.tenantId, created.invoice!);
  });

  it('coupons: `repeating` for 2 discounts exactly the first two invoices; an amount coupon larger than the invoice makes it zero and paid without a charge', async () => {
    const s = await shop();
    const b = s.owner.billing;
    const twice = (await b.createCoupon({ coupon: { name: 'two months', percentOffBps: 5_000, duration: 'repeating', durationInMonths: 2 }, idempotencyKey: key() })).coupon!;
    const sub = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], couponId: twice.id, idempotencyKey: key() });
    await b.advanceTestClock({ testClockId: s.clock.id, frozenTime: at('2026-04-01T00:00:00Z'), idempotencyKey: key() });
    const invoices = (await b.listInvoices({ subscriptionId: sub.subscription!.id })).invoices.sort((x, y) => x.number.localeCompare(y.number));
    expect(invoices.map((i) => i.discountMinor)).toEqual([500n, 500n, 0n]);
    const huge = (await b.createCoupon({ coupon: { name: 'all of it', amountOffMinor: 1_000_000n, currency: 'EUR', duration: 'once' }, idempotencyKey: key() })).coupon!;
    const free = await b.createSubscription({ customerId: s.customer.id, items: [{ priceId: s.price.id, quantity: 1n }], couponId: huge.id, idempotencyKey: key() });
    expect(free.invoice).toMatchObject({ totalMinor: 0n, discountMinor: 1_000n, taxMinor: 0n, status: InvoiceStatus.PAID, paymentId: '' });
    for (const invoice of [...invoices, free.invoice!]) await expectInvoiceAddsUp(s.tenantId, invoice);
  });
});
