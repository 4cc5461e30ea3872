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
import { getBalance, getEntry } from '../functions/src/app/ledger/ledger-use-cases.js';
import { billingAccountId, type BillingAccountCode } from '../functions/src/domain/billing/invoice-postings.js';
import { Interval, InvoiceStatus, PriceModel, SubscriptionStatus, type Invoice } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
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

/** Net posted of a tenant's billing account in EUR (debits - credits). */
async function netPosted(tenantId: string, code: BillingAccountCode): Promise<bigint> {
  const { balance } = await getBalance(env.stack.services.ledger, tenantId, billingAccountId(code, 'EUR'), null);
  return balance.postedDebitsMinor - balance.postedCreditsMinor;
}

/** The customer's credit balance in EUR as billing stores it beside the profile. */
async function creditBalance(tenantId: string, customerId: string): Promise<bigint> {
  const balances = (await env.stack.services.db.doc(`tenants/${tenantId}/billingCustomers/${customerId}`).get()).get('creditBalances') as Record<string, string> | undefined;
  return BigInt(balances?.EUR ?? '0');
}

/** Postings of a billing ledger entry, debits = credits asserted: `code:direction` -> amount. */
async function postingsOf(tenantId: string, entryId: string): Promise<Record<string, bigint>> {
  const { record } = await getEntry(env.stack.services.ledger, tenantId, entryId);
  if (record.kind !== 'entry') throw new Error(`${entryId} is not an entry`);
  const side = (d: string) => record.postings.filter((p) => p.direction === d).reduce((a, p) => a + p.amountMinor, 0n);
  expect(side('debit')).toBe(side('credit'));
  return Object.fromEntries(record.postings.map((p) => [`${p.accountId.replace(/^acc_bil_|_EUR$/g, '')}:${p.direction}`, p.amountMinor]));
}

const iso = (t: { seconds: bigint; nanos: number } | undefined) => (t ? new Date(Number(t.seconds) * 1000).toISOString() : '');
const sumOfLines = (i: Invoice) => i.lines.reduce((a, l) => a + l.amountMinor - l.discountMinor + l.taxMinor, 0n);

describe('a downgrade whose credit exceeds the next renewal (customer credit balance, as Stripe)', () => {
  // QA's finding (issue 14): 20.00 -> 1.00 halfway made the renewal total -10.20, finalized open,
  // "charged" (payments refuse a negative amount: 5 failed attempts), subscription unpaid, nothing posted.
  it('a downgrade whose credit exceeds the next renewal never makes a negative invoice that is charged or dunned', async () => {
    const { tenantId, owner, customer, pro, sub, advance, monthly } = await subscribed();
    const one = await monthly(100n);
    await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { priceId: pro.id, prorationBehavior: 'none' }, idempotencyKey: key() });
    // Halfway from 20.00 to 1.00: credit -10.00, charge +0.50; the May renewal is 1.00 - 9.50 (+ FR VAT 20 %).
    await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { priceId: one.id, prorationBehavior: 'create_prorations', prorationDate: at(HALFWAY) }, idempotencyKey: key() });
    await advance('2026-05-10T00:00:00Z');
    const invoices = (await owner.billing.listInvoices({ subscriptionId: sub.id })).invoices;
    const renewal = invoices.find((i) => iso(i.periodStart) === '2026-05-01T00:00:00.000Z')!;
    // The total stays the sum of its lines (negative); nothing is due, it is paid at once, never charged.
    expect(renewal).toMatchObject({ subtotalMinor: -850n, taxMinor: -170n, totalMinor: -1_020n, amountDueMinor: 0n, creditAppliedMinor: -1_020n, amountPaidMinor: 0n, attemptCount: 0, status: InvoiceStatus.PAID, paymentId: '' });
    expect(sumOfLines(renewal)).toBe(renewal.totalMinor);
    expect((await owner.billing.getSubscription({ subscriptionId: sub.id })).subscription?.status).toBe(SubscriptionStatus.ACTIVE);
    // Posted: revenue and tax reversed against the receivable, the receivable moved to the customer's credit.
    expect(await postingsOf(tenantId, `je_binv_${renewal.id}`)).toEqual({ 'revenue:debit': 850n, 'tax_payable:debit': 170n, 'receivable:credit': 1_020n });
    expect(await postingsOf(tenantId, `je_bcred_${renewal.id}`)).toEqual({ 'receivable:debit': 1_020n, 'customer_credit:credit': 1_020n });
    expect(await creditBalance(tenantId, customer.id)).toBe(1_020n);
    // The same balance through the API (ADR 0035).
    expect((await owner.billing.getCustomerCreditBalance({ customerId: customer.id })).balances.map((b) => [b.currency, b.amountMinor])).toEqual([['EUR', 1_020n]]);
    expect(await netPosted(tenantId, 'billing_receivable')).toBe(0n);
    expect(await netPosted(tenantId, 'billing_customer_credit')).toBe(-1_020n);
    // A rerun of the period changes nothing (the credit is not carried twice).
    await advance('2026-05-20T00:00:00Z');
    expect(await creditBalance(tenantId, customer.id)).toBe(1_020n);
  });

  it('the credit pays the following renewals before any charge: amount due reduced exactly, the receivable and the credit end at 0', async () => {
    const { tenantId, owner, customer, sub, advance, monthly } = await subscribed();
    const cheap = await monthly(150n);
    // 10.00 -> 1.50 halfway: May = 1.50 - 5.00 + 0.75 = -2.75 net, -0.55 VAT: -3.30 carried to the credit.
    await advance(HALFWAY);
    await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { priceId: cheap.id, prorationBehavior: 'create_prorations' }, idempotencyKey: key() });
    await advance('2026-07-01T00:00:01Z');
    const invoices = (await owner.billing.listInvoices({ subscriptionId: sub.id })).invoices;
    const byStart = (d: string) => invoices.find((i) => iso(i.periodStart) === `${d}T00:00:00.000Z`)!;
    const [may, june, july] = [byStart('2026-05-01'), byStart('2026-06-01'), byStart('2026-07-01')];
    expect(may).toMatchObject({ totalMinor: -330n, creditAppliedMinor: -330n, amountDueMinor: 0n, status: InvoiceStatus.PAID, attemptCount: 0 });
    // June 1.80: all from the credit (3.30 -> 1.50), nothing charged.
    expect(june).toMatchObject({ totalMinor: 180n, creditAppliedMinor: 180n, amountDueMinor: 0n, amountPaidMinor: 0n, status: InvoiceStatus.PAID, attemptCount: 0, paymentId: '' });
    // July 1.80: 1.50 of credit left, 0.30 charged to the card.
    expect(july).toMatchObject({ totalMinor: 180n, creditAppliedMinor: 150n, amountDueMinor: 0n, amountPaidMinor: 30n, status: InvoiceStatus.PAID, attemptCount: 1 });
    expect((await owner.payments.getPayment({ paymentId: july.paymentId })).payment).toMatchObject({ amountCapturedMinor: 30n, currency: 'EUR' });
    for (const i of [may, june, july]) expect(sumOfLines(i)).toBe(i.totalMinor);
    expect(await postingsOf(tenantId, `je_bcred_${june.id}`)).toEqual({ 'customer_credit:debit': 180n, 'receivable:credit': 180n });
    expect(await postingsOf(tenantId, `je_bcred_${july.id}`)).toEqual({ 'customer_credit:debit': 150n, 'receivable:credit': 150n });
    expect(await postingsOf(tenantId, `je_bpay_${july.id}`)).toEqual({ 'collected:debit': 30n, 'receivable:credit': 30n });
    expect(await creditBalance(tenantId, customer.id)).toBe(0n);
    // Everything is paid: nothing receivable, no credit owed; collected = revenue + tax of all four invoices.
    expect(await netPosted(tenantId, 'billing_receivable')).toBe(0n);
    expect(await netPosted(tenantId, 'billing_customer_credit')).toBe(0n);
    const all = [byStart('2026-04-01'), may, june, july];
    const revenue = -(await netPosted(tenantId, 'billing_revenue'));
    const tax = -(await netPosted(tenantId, 'billing_tax_payable'));
    expect(revenue).toBe(all.reduce((a, i) => a + i.subtotalMinor - i.discountMinor, 0n));
    expect(tax).toBe(all.reduce((a, i) => a + i.taxMinor, 0n));
    expect(await netPosted(tenantId, 'billing_collected')).toBe(revenue + tax);
    expect(await netPosted(tenantId, 'billing_collected')).toBe(1_200n + 30n);
  });
});

describe('customer credit on a void', () => {
  it('voiding an invoice the credit partly paid gives that credit back: balance restored, receivable 0', async () => {
    const { tenantId, owner, customer, clock, sub, advance, monthly } = await subscribed();
    const cheap = await monthly(150n);
    await advance(HALFWAY);
    await owner.billing.updateSubscription({ subscriptionId: sub.id, change: { priceId: cheap.id, prorationBehavior: 'create_prorations' }, idempotencyKey: key() });
    // From June on, the card declines: July's 0.30 left after the credit fails.
    const declining = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_chargeDeclinedInsufficientFunds' }, brand: 'visa', country: 'FR', last4: '9995', idempotencyKey: key() })).paymentMethod!;
    await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: declining.id, country: 'FR', testClockId: clock.id }, idempotencyKey: key() });
    expect(await creditBalance(tenantId, customer.id)).toBe(0n); // the profile update kept the (empty) balance
    await advance('2026-07-01T00:00:01Z');
    const invoices = (await owner.billing.listInvoices({ subscriptionId: sub.id })).invoices;
    const july = invoices.find((i) => iso(i.periodStart) === '2026-07-01T00:00:00.000Z')!;
    expect(july).toMatchObject({ totalMinor: 180n, creditAppliedMinor: 150n, amountDueMinor: 30n, status: InvoiceStatus.OPEN, attemptCount: 1 });
    expect(await creditBalance(tenantId, customer.id)).toBe(0n);
    await owner.billing.voidInvoice({ invoiceId: july.id, idempotencyKey: key() });
    expect(await creditBalance(tenantId, customer.id)).toBe(150n);
    expect(await postingsOf(tenantId, `je_bcred_${july.id}_void`)).toEqual({ 'receivable:debit': 150n, 'customer_credit:credit': 150n });
    expect(await netPosted(tenantId, 'billing_receivable')).toBe(0n);
    expect(await netPosted(tenantId, 'billing_customer_credit')).toBe(-150n);
  });
});

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
