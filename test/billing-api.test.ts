/**
 * Billing end to end (issue 14 items 2, 4, 6, 7, 8): the real API over HTTP, the Firestore emulator,
 * the sandbox PSP through PaymentsService's use cases, the ledger. A test tenant walks renewals,
 * tax, numbering, payment and dunning on a test clock.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBalance } from '../functions/src/app/ledger/ledger-use-cases.js';
import { runBilling } from '../functions/src/app/billing/billing-run.js';
import { billingAccountId, type BillingAccountCode } from '../functions/src/domain/billing/invoice-postings.js';
import { Interval, InvoiceStatus, PriceModel, SubscriptionStatus, UsageAggregation } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { rpcError } from './support/connect-error.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const at = (iso: string) => timestampFromDate(new Date(iso));
const iso = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : '');

async function testTenant(testMode = true): Promise<{ tenantId: string; owner: TallyClient }> {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Billing shop', testMode, idempotencyKey: key() });
  const owner = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  return { tenantId: res.tenant!.id, owner };
}

/** A tenant selling from DE, a FR customer on a test clock, a monthly EUR 10.00 price (tax exclusive). */
async function shop(options: { token?: string; clockStart?: string; testMode?: boolean } = {}) {
  const { tenantId, owner } = await testTenant(options.testMode ?? true);
  await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV' }, idempotencyKey: key() });
  const clock = (await owner.billing.createTestClock({ name: 'walk', frozenTime: at(options.clockStart ?? '2026-01-31T10:00:00Z'), idempotencyKey: key() })).testClock!;
  const customer = (await owner.payments.createCustomer({ email: 'a@example.com', name: 'A', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: options.token ?? 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR', testClockId: clock.id }, idempotencyKey: key() });
  const product = (await owner.billing.createProduct({ name: 'Pro plan', idempotencyKey: key() })).product!;
  const price = (await owner.billing.createPrice({
    price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.MONTH, intervalCount: 1 },
    idempotencyKey: key(),
  })).price!;
  return { tenantId, owner, clock, customer, pm, product, price };
}

async function balance(tenantId: string, code: BillingAccountCode) {
  return (await getBalance(env.stack.services.ledger, tenantId, billingAccountId(code, 'EUR'), null)).balance;
}

describe('billing', () => {
  it('a subscription is invoiced with FR VAT, numbered, charged through the sandbox PSP, posted, and renews on Feb 28 from a Jan 31 anchor', async () => {
    const { tenantId, owner, clock, customer, price } = await shop();
    const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 2n }], idempotencyKey: key() });
    expect(created.subscription).toMatchObject({ status: SubscriptionStatus.ACTIVE });
    expect(created.invoice).toMatchObject({ number: 'INV-000001', status: InvoiceStatus.PAID, subtotalMinor: 2_000n, taxMinor: 400n, totalMinor: 2_400n, amountPaidMinor: 2_400n, attemptCount: 1 });
    expect(iso(created.subscription?.currentPeriodEnd)).toBe('2026-02-28T10:00:00.000Z');
    const payment = (await owner.payments.getPayment({ paymentId: created.invoice!.paymentId })).payment!;
    expect(payment).toMatchObject({ amountCapturedMinor: 2_400n, currency: 'EUR', customerId: customer.id });
    // Receivable debited 2,400 at finalization and credited 2,400 by the payment; revenue and tax as invoiced.
    expect(await balance(tenantId, 'billing_receivable')).toMatchObject({ postedDebitsMinor: 2_400n, postedCreditsMinor: 2_400n });
    expect((await balance(tenantId, 'billing_revenue')).postedCreditsMinor).toBe(2_000n);
    expect((await balance(tenantId, 'billing_tax_payable')).postedCreditsMinor).toBe(400n);
    expect((await balance(tenantId, 'billing_collected')).postedDebitsMinor).toBe(2_400n);

    const advanced = await owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-04-01T00:00:00Z'), idempotencyKey: key() });
    expect(advanced).toMatchObject({ invoicesFinalized: 2, chargeAttempts: 2 });
    const { invoices } = await owner.billing.listInvoices({ subscriptionId: created.subscription!.id });
    expect(invoices.map((i) => [i.number, iso(i.periodStart), iso(i.periodEnd), i.status])).toEqual([
      ['INV-000003', '2026-03-31T10:00:00.000Z', '2026-04-30T10:00:00.000Z', InvoiceStatus.PAID],
      ['INV-000002', '2026-02-28T10:00:00.000Z', '2026-03-31T10:00:00.000Z', InvoiceStatus.PAID],
      ['INV-000001', '2026-01-31T10:00:00.000Z', '2026-02-28T10:00:00.000Z', InvoiceStatus.PAID],
    ]);
    expect((await balance(tenantId, 'billing_collected')).postedDebitsMinor).toBe(7_200n);
    // Every step announced through the outbox, in the same transactions.
    const types = (await env.stack.services.db.collection(`tenants/${tenantId}/outbox`).get()).docs
      .flatMap((d) => ((d.get('events') as { type: string }[] | undefined) ?? [{ type: d.get('type') as string }]).map((e) => e.type));
    expect(types.filter((t) => t === 'billing.invoice.finalized')).toHaveLength(3);
    expect(types.filter((t) => t === 'billing.invoice.paid')).toHaveLength(3);
    expect(types).toContain('billing.subscription.created');
    expect(types.filter((t) => t === 'billing.subscription.renewed')).toHaveLength(3);
  });

  it('a declined renewal goes past_due, is retried 1, 3, 5 and 7 days later, then the subscription is unpaid and the invoice uncollectible', async () => {
    const { owner, clock, customer, price } = await shop({ token: 'pm_card_chargeDeclinedInsufficientFunds' });
    const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }], idempotencyKey: key() });
    expect(created.subscription?.status).toBe(SubscriptionStatus.PAST_DUE);
    expect(created.invoice).toMatchObject({ status: InvoiceStatus.OPEN, attemptCount: 1 });
    expect(iso(created.invoice?.nextPaymentAttempt)).toBe('2026-02-01T10:00:00.000Z');
    await owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-02-06T10:00:00Z'), idempotencyKey: key() });
    const midway = (await owner.billing.getInvoice({ invoiceId: created.invoice!.id })).invoice!;
    expect(midway).toMatchObject({ attemptCount: 4, status: InvoiceStatus.OPEN });
    expect(iso(midway.nextPaymentAttempt)).toBe('2026-02-07T10:00:00.000Z');
    expect((await owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.PAST_DUE);
    await owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-02-08T00:00:00Z'), idempotencyKey: key() });
    const last = (await owner.billing.getInvoice({ invoiceId: created.invoice!.id })).invoice!;
    // Dunning's end (ADR 0035): the invoice is given up on, as Stripe marks it uncollectible.
    expect(last).toMatchObject({ attemptCount: 5, status: InvoiceStatus.UNCOLLECTIBLE });
    expect(last.nextPaymentAttempt).toBeUndefined();
    expect((await owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.status).toBe(SubscriptionStatus.UNPAID);
  });

  it('billingRun twice at the same instant bills once; after an outage it catches up period by period with gapless numbers', async () => {
    const { tenantId, owner, clock, customer, price } = await shop();
    const subs = await Promise.all([1n, 2n, 3n].map((q) => owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: q }], idempotencyKey: key() })));
    // Three months pass with nothing running; then two runs at once, then one more.
    const scope = { kind: 'clock' as const, tenantId, testClockId: clock.id, nowMs: Date.parse('2026-05-01T00:00:00Z') };
    const billing = env.stack.services.billing;
    const [a, b] = await Promise.all([runBilling(billing, scope, { traceId: '', spanId: '' }), runBilling(billing, scope, { traceId: '', spanId: '' })]);
    const again = await runBilling(billing, scope, { traceId: '', spanId: '' });
    expect(a.finalized + b.finalized).toBe(9);
    expect(again).toMatchObject({ finalized: 0, chargeAttempts: 0 });
    const numbers: string[] = [];
    for (const s of subs) {
      const { invoices } = await owner.billing.listInvoices({ subscriptionId: s.subscription!.id });
      // The three catch-up invoices were made at one clock instant: compared by period.
      expect(invoices.map((i) => iso(i.periodStart)).sort()).toEqual(['2026-01-31T10:00:00.000Z', '2026-02-28T10:00:00.000Z', '2026-03-31T10:00:00.000Z', '2026-04-30T10:00:00.000Z']);
      numbers.push(...invoices.map((i) => i.number));
    }
    expect(numbers.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `INV-${String(i + 1).padStart(6, '0')}`));
  });

  it('a credit note reverses its share of revenue and tax; on a paid invoice it is the customer\'s credit, drawn on by the renewal; the PDF renders', async () => {
    const { tenantId, owner, clock, customer, price } = await shop();
    const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 3n }], idempotencyKey: key() });
    const invoiceId = created.invoice!.id; // 3,000 + 600 VAT, paid
    const noteKey = key();
    const note = await owner.billing.createCreditNote({ invoiceId, amountMinor: 1_200n, reason: 'goodwill', idempotencyKey: noteKey });
    expect(note.creditNote).toMatchObject({ amountMinor: 1_200n, taxMinor: 200n });
    expect((await balance(tenantId, 'billing_revenue')).postedDebitsMinor).toBe(1_000n);
    expect((await balance(tenantId, 'billing_tax_payable')).postedDebitsMinor).toBe(200n);
    expect((await balance(tenantId, 'billing_customer_credit')).postedCreditsMinor).toBe(1_200n);
    // Credit on a paid invoice is the customer's: the balance shows it, and a retried call adds nothing.
    expect((await owner.billing.createCreditNote({ invoiceId, amountMinor: 1_200n, reason: 'goodwill', idempotencyKey: noteKey })).creditNote).toMatchObject({ id: note.creditNote!.id });
    expect((await owner.billing.getCustomerCreditBalance({ customerId: customer.id })).balances).toEqual([expect.objectContaining({ currency: 'EUR', amountMinor: 1_200n })]);
    expect(await rpcError(owner.billing.createCreditNote({ invoiceId, amountMinor: 2_401n, reason: '', idempotencyKey: key() }))).toMatchObject({ reason: 'FIELD_INVALID' });
    const { pdf } = await owner.billing.getInvoicePdf({ invoiceId });
    expect(Buffer.from(pdf.subarray(0, 5)).toString()).toBe('%PDF-');
    // The renewal draws on it: 3,600 due, 1,200 of it from the credit, 2,400 charged; the balance is spent.
    await owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-02-28T10:00:00Z'), idempotencyKey: key() });
    const { invoices } = await owner.billing.listInvoices({ subscriptionId: created.subscription!.id, pageSize: 10 });
    expect(invoices[0]).toMatchObject({ status: InvoiceStatus.PAID, totalMinor: 3_600n, creditAppliedMinor: 1_200n, amountPaidMinor: 2_400n });
    expect((await owner.billing.getCustomerCreditBalance({ customerId: customer.id })).balances).toEqual([]);
  });

  it('bad input gets a typed error and writes nothing; a live tenant cannot use test clocks', async () => {
    const { tenantId, owner, customer, price, pm } = await shop();
    const count = async () => (await env.stack.services.db.collection(`tenants/${tenantId}/subscriptions`).count().get()).data().count;
    const before = await count();
    const unknownPrice = `price_${'x'.repeat(22)}`;
    expect(await rpcError(owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: unknownPrice, quantity: 1n }], idempotencyKey: key() }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect(await rpcError(owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 0n }], idempotencyKey: key() }))).toMatchObject({ reason: 'FIELD_INVALID' });
    expect(await rpcError(owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }], currency: 'USD', idempotencyKey: key() }))).toMatchObject({ reason: 'CURRENCY_MISMATCH' });
    expect(await rpcError(owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'XX' }, idempotencyKey: key() })))
      .toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'customer.country' } });
    expect(await count()).toBe(before);
    const live = await shop({ testMode: false }).catch((e: unknown) => e);
    expect(await rpcError(Promise.reject(live as Error))).toMatchObject({ reason: 'PERMISSION_DENIED' });
  });

  it('a renewal the tax hook fails (fallback fail) stops the test clock with TAX_UNAVAILABLE, finalizes nothing and numbers nothing', async () => {
    const hook = createServer((_req, res) => { res.writeHead(503).end(); });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    try {
      const { tenantId, owner, clock, customer, price } = await shop();
      const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }], trialDays: 3, idempotencyKey: key() });
      expect(created.invoice).toBeUndefined();
      await owner.billing.updateBillingSettings({ settings: {
        originCountry: 'DE', externalTaxUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/tax`, externalTaxTimeoutMs: 1_000, externalTaxFallback: 'fail',
      }, idempotencyKey: key() });
      expect(await rpcError(owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-02-10T00:00:00Z'), idempotencyKey: key() })))
        .toMatchObject({ reason: 'TAX_UNAVAILABLE', metadata: { testClockId: clock.id } });
      expect(iso((await owner.billing.getSubscription({ subscriptionId: created.subscription!.id })).subscription?.currentPeriodEnd)).toBe('2026-02-03T10:00:00.000Z');
      expect((await owner.billing.listInvoices({})).invoices).toEqual([]);
      expect((await env.stack.services.db.doc(`tenants/${tenantId}/billingCounters/invoices`).get()).exists).toBe(false);
    } finally {
      hook.close();
    }
  });

  it('metered usage is billed in arrears, a retried report counts once, and the preview shows the renewal before it happens', async () => {
    const { owner, clock, customer, product, price } = await shop();
    const metered = (await owner.billing.createPrice({
      price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 5n }, interval: Interval.MONTH, intervalCount: 1, usageAggregation: UsageAggregation.SUM },
      idempotencyKey: key(),
    })).price!;
    const created = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }, { priceId: metered.id, quantity: 1n }], idempotencyKey: key() });
    // The first invoice bills the licensed item only (no usage yet): 10.00 + 20 % FR VAT.
    expect(created.invoice).toMatchObject({ totalMinor: 1_200n });
    const subscriptionId = created.subscription!.id;
    const retried = key();
    for (const [quantity, k, time] of [[100n, key(), '2026-02-05T00:00:00Z'], [40n, retried, '2026-02-10T00:00:00Z'], [40n, retried, '2026-02-10T00:00:00Z'], [60n, key(), '2026-02-20T00:00:00Z']] as const) {
      await owner.billing.recordUsage({ subscriptionId, priceId: metered.id, quantity, time: at(time), idempotencyKey: k });
    }
    const preview = (await owner.billing.previewUpcomingInvoice({ subscriptionId })).invoice!;
    // 10.00 licensed + 200 units x 0.05 = 10.00 usage; 20 % VAT: 24.00.
    expect(preview).toMatchObject({ number: '', subtotalMinor: 2_000n, taxMinor: 400n, totalMinor: 2_400n });
    expect(preview.lines.map((l) => [l.priceId, l.quantity, l.amountMinor])).toEqual([[price.id, 1n, 1_000n], [metered.id, 200n, 1_000n]]);
    await owner.billing.advanceTestClock({ testClockId: clock.id, frozenTime: at('2026-03-01T00:00:00Z'), idempotencyKey: key() });
    const renewed = (await owner.billing.listInvoices({ subscriptionId })).invoices.find((i) => i.number === 'INV-000002')!;
    expect(renewed).toMatchObject({ status: InvoiceStatus.PAID, subtotalMinor: preview.subtotalMinor, taxMinor: preview.taxMinor, totalMinor: preview.totalMinor });
    expect(renewed.lines.map((l) => [l.priceId, l.quantity, l.amountMinor, iso(l.periodStart)])).toEqual([
      [price.id, 1n, 1_000n, '2026-02-28T10:00:00.000Z'], [metered.id, 200n, 1_000n, '2026-01-31T10:00:00.000Z'],
    ]);
  });
});
