/**
 * `tally billing ...` as users run it (issue 14 items 7, 8): `node bin/tally.mjs` in a subprocess
 * against the real API over HTTP and the sandbox PSP. A test tenant (`tenant create --test-mode`)
 * walks two renewals with `tally billing clock advance CLOCK --to ISO`; a live tenant is refused a
 * clock. The catalog and the customer are set up through the API (each CLI run is a process start).
 * The second test walks every other BillingService call the CLI has: settings, catalog and coupons
 * (with paging), subscription list, preview, pause and resume, usage, invoice items, paying,
 * voiding and crediting invoices, and the customer's credit balance; bad input is refused before
 * any call.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Interval, PriceModel } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient } from '../functions/src/cli/client.js';
import { runCli, type CliResult } from './support/cli-runner.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

let payments: PaymentsStack;
beforeAll(async () => { payments = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await payments?.close(); });

const tally = (key: string, ...args: string[]): Promise<CliResult> => runCli(['--api-url', payments.stack.url, '--api-key', key, ...args, '--json']);
async function json<T>(result: Promise<CliResult>): Promise<T> {
  const r = await result;
  expect(r.code, `${r.stdout} ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** A test tenant made with the CLI, routing to the sandbox's stripe, selling from DE. */
async function testTenantSellingFromDe(name: string) {
  const created = await json<{ ownerApiKey: { secret: string } }>(tally(payments.stack.adminKey, 'tenant', 'create', '--name', name, '--test-mode'));
  const key = created.ownerApiKey.secret;
  const api = createTallyClient(payments.stack.url, key);
  await api.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: randomUUID() });
  await api.billing.updateBillingSettings({ settings: { originCountry: 'DE' }, idempotencyKey: randomUUID() });
  return { key, api };
}

describe('tally billing CLI', () => {
  it('a test tenant subscribes a customer on a test clock and walks two renewals with clock advance', async () => {
    const { key, api } = await testTenantSellingFromDe('CLI billing');
    const customer = (await api.payments.createCustomer({ email: 'c@example.com', name: 'C', idempotencyKey: randomUUID() })).customer!;
    const pm = (await api.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', idempotencyKey: randomUUID() })).paymentMethod!;
    const product = (await api.billing.createProduct({ name: 'Team', idempotencyKey: randomUUID() })).product!;
    const price = (await api.billing.createPrice({ price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_999n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: randomUUID() })).price!;

    const clock = await json<{ id: string }>(tally(key, 'billing', 'clock', 'create', '--time', '2026-01-31T12:00:00Z'));
    await api.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'NL', testClockId: clock.id }, idempotencyKey: randomUUID() });
    const subscribed = await json<{ subscription: { id: string }; invoice: { number: string; totalMinor: string; taxMinor: string; status: string } }>(
      tally(key, 'billing', 'subscription', 'create', '--customer', customer.id, '--price', price.id, '--quantity', '2'));
    // 2 x 19.99 = 39.98 net; NL 21 % = 8.3958, 8.40 rounded per line: 48.38.
    expect(subscribed.invoice).toMatchObject({ number: 'INV-000001', totalMinor: '4838', taxMinor: '840', status: 'INVOICE_STATUS_PAID' });
    const advanced = await json<{ invoicesFinalized: number; chargeAttempts: number; testClock: { frozenTime: string } }>(tally(key, 'billing', 'clock', 'advance', clock.id, '--to', '2026-03-31T12:00:00Z'));
    expect(advanced).toMatchObject({ invoicesFinalized: 2, chargeAttempts: 2, testClock: { frozenTime: '2026-03-31T12:00:00Z' } });
    const invoices = await json<{ number: string; periodStart: string; status: string }[]>(tally(key, 'billing', 'invoice', 'list', '--subscription', subscribed.subscription.id));
    expect(invoices.map((i) => [i.number, i.periodStart, i.status])).toEqual([
      ['INV-000003', '2026-03-31T12:00:00Z', 'INVOICE_STATUS_PAID'],
      ['INV-000002', '2026-02-28T12:00:00Z', 'INVOICE_STATUS_PAID'],
      ['INV-000001', '2026-01-31T12:00:00Z', 'INVOICE_STATUS_PAID'],
    ]);
  }, 120_000);

  it('a live tenant is refused a test clock (exit 1, PERMISSION_DENIED)', async () => {
    const { ownerKey } = await payments.stack.newTenant('CLI live');
    const result = await tally(ownerKey, 'billing', 'clock', 'create');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { reason: 'PERMISSION_DENIED' } });
  });

  it('the rest of BillingService from the shell: catalog and coupons with paging, list, preview, pause and resume, usage, invoice items, pay, void, credit notes, balance', async () => {
    const { key, api } = await testTenantSellingFromDe('CLI billing 2');
    const customer = (await api.payments.createCustomer({ email: 'd@example.com', name: 'D', idempotencyKey: randomUUID() })).customer!;
    const visa = (await api.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', idempotencyKey: randomUUID() })).paymentMethod!;
    const declining = (await api.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_chargeDeclinedInsufficientFunds' }, brand: 'visa', idempotencyKey: randomUUID() })).paymentMethod!;
    await api.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: visa.id, country: 'DE' }, idempotencyKey: randomUUID() });

    expect(await json<{ originCountry: string }>(tally(key, 'billing', 'settings', 'get'))).toMatchObject({ originCountry: 'DE' });
    const product = await json<{ id: string }>(tally(key, 'billing', 'product', 'create', '--name', 'Seats'));
    expect(await json<{ name: string }>(tally(key, 'billing', 'product', 'get', product.id))).toMatchObject({ name: 'Seats' });
    expect((await json<{ id: string }[]>(tally(key, 'billing', 'product', 'list'))).map((p) => p.id)).toEqual([product.id]);
    const monthly = await json<{ id: string }>(tally(key, 'billing', 'price', 'create', '--product', product.id, '--amount', '10.00', '--currency', 'EUR'));
    const setup = await json<{ id: string }>(tally(key, 'billing', 'price', 'create', '--product', product.id, '--amount', '25.00', '--currency', 'EUR', '--one-off'));
    const metered = await json<{ id: string; usageAggregation: string }>(tally(key, 'billing', 'price', 'create', '--product', product.id, '--amount', '0.05', '--currency', 'EUR', '--metered', 'sum'));
    expect(metered.usageAggregation).toBe('USAGE_AGGREGATION_SUM');
    expect((await json<{ id: string }[]>(tally(key, 'billing', 'price', 'list', '--product', product.id))).map((p) => p.id).sort()).toEqual([monthly.id, setup.id, metered.id].sort());
    expect(await json<{ id: string; interval: string }>(tally(key, 'billing', 'price', 'get', setup.id))).toMatchObject({ id: setup.id });

    // Coupons: percent (exact basis points), amount; paging says when more remain.
    const percent = await json<{ id: string; percentOffBps: number; durationInMonths: number }>(
      tally(key, 'billing', 'coupon', 'create', '--name', 'Launch', '--percent-off', '12.5', '--duration', 'repeating', '--months', '3'));
    expect(percent).toMatchObject({ percentOffBps: 1250, durationInMonths: 3 });
    const amount = await json<{ id: string; amountOffMinor: string }>(tally(key, 'billing', 'coupon', 'create', '--name', 'Five', '--amount-off', '5.00', '--currency', 'EUR'));
    expect(amount.amountOffMinor).toBe('500');
    const first = await tally(key, 'billing', 'coupon', 'list', '--limit', '1');
    expect(first.code).toBe(0);
    const page = JSON.parse(first.stdout) as { items: { id: string }[]; nextPageToken: string };
    expect(page.items).toHaveLength(1);
    expect(first.stderr).toContain(`--page-token ${page.nextPageToken}`);
    const rest = await json<{ id: string }[]>(tally(key, 'billing', 'coupon', 'list', '--page-token', page.nextPageToken));
    expect([...page.items, ...rest].map((c) => c.id).sort()).toEqual([percent.id, amount.id].sort());
    expect(await json<{ name: string }>(tally(key, 'billing', 'coupon', 'get', amount.id))).toMatchObject({ name: 'Five' });
    // Bad input: refused by the CLI before any call, nothing created.
    for (const bad of [['--percent-off', '12.345'], ['--percent-off', '0'], ['--percent-off', '5', '--amount-off', '1.00', '--currency', 'EUR'], ['--amount-off', '1.00'], ['--percent-off', '5', '--months', '2']]) {
      const refused = await tally(key, 'billing', 'coupon', 'create', '--name', 'Bad', ...bad);
      expect(refused.code, bad.join(' ')).toBe(1);
    }
    expect(await json<unknown[]>(tally(key, 'billing', 'coupon', 'list'))).toHaveLength(2);

    // A subscription with the percent coupon: 10.00 - 12.5 % = 8.75 net, DE 19 % = 1.66 (1.6625 half-up): 10.41.
    const subscribed = await json<{ subscription: { id: string }; invoice: { id: string; totalMinor: string; status: string } }>(
      tally(key, 'billing', 'subscription', 'create', '--customer', customer.id, '--price', monthly.id, '--coupon', percent.id));
    expect(subscribed.invoice).toMatchObject({ totalMinor: '1041', status: 'INVOICE_STATUS_PAID' });
    const sub = subscribed.subscription.id;
    expect((await json<{ id: string }[]>(tally(key, 'billing', 'subscription', 'list', '--customer', customer.id))).map((x) => x.id)).toEqual([sub]);
    const preview = await json<{ lines: { priceId: string; quantity: string }[] }>(tally(key, 'billing', 'subscription', 'preview', sub, '--quantity', '3'));
    expect(preview.lines.some((l) => l.priceId === monthly.id && l.quantity === '3')).toBe(true);
    expect(await json<{ status: string }>(tally(key, 'billing', 'subscription', 'pause', sub))).toMatchObject({ status: 'SUBSCRIPTION_STATUS_PAUSED' });
    expect(await json<{ status: string }>(tally(key, 'billing', 'subscription', 'resume', sub, '--anchor', 'unchanged'))).toMatchObject({ status: 'SUBSCRIPTION_STATUS_ACTIVE' });

    // A one-off item invoiced at once (25.00 + 19 %), paid.
    const item = await json<{ invoice: { id: string; totalMinor: string; status: string } }>(
      tally(key, 'billing', 'invoice-item', 'create', '--subscription', sub, '--price', setup.id, '--invoice-now'));
    expect(item.invoice).toMatchObject({ totalMinor: '2975', status: 'INVOICE_STATUS_PAID' });
    // Credit 1.19 of it: 1.00 net + 0.19 tax, credited to the customer.
    const credited = await json<{ creditNote: { amountMinor: string; taxMinor: string } }>(tally(key, 'billing', 'invoice', 'credit-note', item.invoice.id, '--amount', '1.19', '--reason', 'goodwill'));
    expect(credited.creditNote).toMatchObject({ amountMinor: '119', taxMinor: '19' });
    expect(await json<unknown>(tally(key, 'billing', 'customer', 'balance', customer.id))).toEqual([{ currency: 'EUR', amountMinor: '119' }]);
    // A paid invoice cannot be voided: a typed error, exit 1.
    const voidPaid = await tally(key, 'billing', 'invoice', 'void', item.invoice.id, '--json');
    expect(voidPaid.code).toBe(1);
    expect(JSON.parse(voidPaid.stdout)).toMatchObject({ error: { reason: 'INVALID_STATE_TRANSITION' } });

    // An invoice left open by a declining card: paying it again with the same card says why (exit 1);
    // with another card it is paid. Another one is voided.
    await api.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: declining.id, country: 'DE' }, idempotencyKey: randomUUID() });
    const open = await json<{ invoice: { id: string; status: string } }>(tally(key, 'billing', 'invoice-item', 'create', '--subscription', sub, '--price', setup.id, '--invoice-now'));
    expect(open.invoice.status).toBe('INVOICE_STATUS_OPEN');
    const declined = await tally(key, 'billing', 'invoice', 'pay', open.invoice.id, '--json');
    expect(declined.code).toBe(1);
    expect((JSON.parse(declined.stdout) as { declineReason: string }).declineReason).not.toBe('');
    const paid = await json<{ invoice: { status: string }; declineReason: string }>(tally(key, 'billing', 'invoice', 'pay', open.invoice.id, '--payment-method', visa.id));
    expect(paid).toMatchObject({ invoice: { status: 'INVOICE_STATUS_PAID' }, declineReason: '' });
    const another = await json<{ invoice: { id: string } }>(tally(key, 'billing', 'invoice-item', 'create', '--subscription', sub, '--price', setup.id, '--invoice-now'));
    expect(await json<{ status: string }>(tally(key, 'billing', 'invoice', 'void', another.invoice.id))).toMatchObject({ status: 'INVOICE_STATUS_VOID' });
    expect((await json<{ id: string }[]>(tally(key, 'billing', 'invoice', 'list', '--customer', customer.id))).length).toBeGreaterThanOrEqual(4);

    // Usage of a metered price on a subscription that has it.
    await api.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: visa.id, country: 'DE' }, idempotencyKey: randomUUID() });
    const meteredSub = (await api.billing.createSubscription({ customerId: customer.id, items: [{ priceId: monthly.id, quantity: 1n }, { priceId: metered.id, quantity: 1n }], idempotencyKey: randomUUID() })).subscription!;
    const usage = await json<{ usageRecordId: string }>(tally(key, 'billing', 'usage', 'record', '--subscription', meteredSub.id, '--price', metered.id, '--quantity', '40'));
    expect(usage.usageRecordId).not.toBe('');
    const upcoming = await json<{ lines: { priceId: string; quantity: string; amountMinor: string }[] }>(tally(key, 'billing', 'subscription', 'preview', meteredSub.id));
    expect(upcoming.lines.find((l) => l.priceId === metered.id)).toMatchObject({ quantity: '40', amountMinor: '200' });
  }, 180_000);
});
