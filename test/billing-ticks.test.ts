/**
 * `npm start` ticks billingRun as Cloud Scheduler does deployed (issue 14, ADR 0035): ticks
 * published to `ticks-billing` on the Pub/Sub emulator reach the deployed `billingRun` handler
 * through the `billing-run` subscription, and a subscription due on real time is renewed by itself.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBillingTicks } from '../emulators/billing-ticks.js';
import { Interval, PriceModel } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { createTallyClient } from '../functions/src/cli/client.js';
import { eventually } from './support/eventually.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

describe('local billing ticks', () => {
  it('a subscription due on real time is renewed and charged by the ticks alone, once per period', async () => {
    const res = await env.stack.admin.tenancy.createTenant({ name: 'Ticks shop', idempotencyKey: key() });
    const tenantId = res.tenant!.id;
    const owner = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE' }, idempotencyKey: key() });
    const customer = (await owner.payments.createCustomer({ email: 'a@example.com', name: 'A', idempotencyKey: key() })).customer!;
    const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR' }, idempotencyKey: key() });
    const product = (await owner.billing.createProduct({ name: 'Daily', idempotencyKey: key() })).product!;
    const price = (await owner.billing.createPrice({
      price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 100n }, interval: Interval.DAY, intervalCount: 1 }, idempotencyKey: key(),
    })).price!;
    const sub = (await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }], idempotencyKey: key() })).subscription!;
    // Its period ends tomorrow: made due now, as if the day had passed (no test clock: the real-time path).
    const billing = env.stack.services.billing;
    await billing.store.transaction(tenantId, async (tx) => {
      const stored = (await tx.getSubscriptions([sub.id])).get(sub.id)!;
      tx.setSubscription({ ...stored, nextActionAtMs: Date.now() - 1_000 }, { traceId: '', spanId: '' });
    });

    const ticks = await startBillingTicks({ services: env.stack.services, intervalMs: 200, retryBackoff: { minimumMs: 100, maximumMs: 1_000 } });
    try {
      const invoices = await eventually(async () => {
        const { invoices: found } = await owner.billing.listInvoices({ subscriptionId: sub.id });
        expect(found).toHaveLength(2);
        expect(found.every((i) => i.amountDueMinor === 0n && i.amountPaidMinor === 120n)).toBe(true);
        return found;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      expect(invoices.map((i) => i.number).sort()).toEqual(['INV-000001', 'INV-000002']);
      // Later ticks find nothing due: still two invoices.
      const after = ticks.handled();
      await eventually(() => expect(ticks.handled()).toBeGreaterThan(after + 1), { timeoutMs: 20_000, intervalMs: 100 });
      expect((await owner.billing.listInvoices({ subscriptionId: sub.id })).invoices).toHaveLength(2);
    } finally {
      await ticks.stop();
    }
  });
});
