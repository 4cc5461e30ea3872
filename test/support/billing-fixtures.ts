/**
 * The catalog several suites sell from: a tenant billing from Germany (`INV` invoice numbers) with a
 * "Pro plan" product at EUR 10.00 per unit a month.
 */
import { randomUUID } from 'node:crypto';
import type { TallyClient } from '../../functions/src/cli/client.js';
import { Interval, PriceModel } from '../../functions/src/gen/tally/billing/v1/billing_pb.js';

export async function proPlanMonthlyEur(owner: TallyClient) {
  await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV' }, idempotencyKey: randomUUID() });
  const product = (await owner.billing.createProduct({ name: 'Pro plan', idempotencyKey: randomUUID() })).product!;
  const price = (await owner.billing.createPrice({
    price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 1_000n }, interval: Interval.MONTH, intervalCount: 1 },
    idempotencyKey: randomUUID(),
  })).price!;
  return { product, price };
}
