/**
 * `tally billing ...` as users run it (issue 14 items 7, 8): `node bin/tally.mjs` in a subprocess
 * against the real API over HTTP and the sandbox PSP. A test tenant (`tenant create --test-mode`)
 * walks two renewals with `tally billing clock advance CLOCK --to ISO`; a live tenant is refused a
 * clock. The catalog and the customer are set up through the API (each CLI run is a process start).
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

describe('tally billing CLI', () => {
  it('a test tenant subscribes a customer on a test clock and walks two renewals with clock advance', async () => {
    const created = await json<{ ownerApiKey: { secret: string } }>(tally(payments.stack.adminKey, 'tenant', 'create', '--name', 'CLI billing', '--test-mode'));
    const key = created.ownerApiKey.secret;
    const api = createTallyClient(payments.stack.url, key);
    await api.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: randomUUID() });
    await api.billing.updateBillingSettings({ settings: { originCountry: 'DE' }, idempotencyKey: randomUUID() });
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
});
