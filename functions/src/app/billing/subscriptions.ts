/**
 * Subscriptions (issue 14 item 2): creating one (its first invoice finalized and charged at once,
 * unless trialing), cancelling it now or at period end. The renewals are billingRun's.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { initialSchedule, type BillingInterval } from '../../domain/billing/calendar.js';
import { validateQuantity, schemeFor, type Price } from '../../domain/billing/catalog.js';
import { priceAmount } from '../../domain/billing/pricing.js';
import { transitionSubscription } from '../../domain/billing/subscription.js';
import { PAYMENT_AMOUNT_MINOR_MAX } from '../../domain/payments/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Invoice, Subscription } from '../../ports/billing-store.js';
import type { BillingDeps } from './billing-deps.js';
import { runBilling } from './billing-run.js';
import { billingEvent, subscriptionPayload } from './invoicing.js';
import { requirePaymentMethodOf } from './catalog.js';

/** Most items per subscription. */
export const SUBSCRIPTION_ITEMS_MAX = 20;

export interface NewSubscription {
  customerId: string;
  items: { priceId: string; quantity: bigint }[];
  trialDays: number;
  couponId: string;
  currency: string;
}

/** What the subscription will be, checked against the catalog: refuses bad input before any write. */
export async function checkNewSubscription(deps: BillingDeps, tenantId: string, input: NewSubscription): Promise<{ currency: string; interval: BillingInterval; prices: Price[]; testClockId: string }> {
  if (input.items.length < 1 || input.items.length > SUBSCRIPTION_ITEMS_MAX) throw invalidField('items', `1 to ${SUBSCRIPTION_ITEMS_MAX} items`, input.items.length === 0 ? 'FIELD_REQUIRED' : 'FIELD_INVALID');
  const customer = await deps.store.getBillingCustomer(tenantId, input.customerId);
  if (!customer) throw new TallyError('NOT_FOUND', `customer ${input.customerId} has no billing profile (UpdateBillingCustomer)`, { field: 'customer_id' });
  await requirePaymentMethodOf(deps, tenantId, customer);
  const prices: Price[] = [];
  for (const [i, item] of input.items.entries()) {
    const stored = await deps.store.getPrice(tenantId, item.priceId);
    if (!stored) throw new TallyError('NOT_FOUND', `price ${item.priceId} not found`, { field: `items[${i}].price_id` });
    if (stored.price.recurring === null) throw invalidField(`items[${i}].price_id`, 'a subscription needs recurring prices');
    prices.push(stored.price);
  }
  const currency = input.currency === '' ? prices[0]!.currency : input.currency;
  const interval = prices[0]!.recurring!.interval;
  let licensedMinor = 0n;
  for (const [i, price] of prices.entries()) {
    const scheme = schemeFor(price, currency); // CURRENCY_MISMATCH
    const recurring = price.recurring!;
    if (recurring.interval.unit !== interval.unit || recurring.interval.count !== interval.count) {
      throw invalidField(`items[${i}].price_id`, 'every price of a subscription must have the same interval');
    }
    if (recurring.usage.type === 'licensed') {
      validateQuantity(scheme, input.items[i]!.quantity, false, `items[${i}].quantity`);
      licensedMinor += priceAmountOrRefuse(price, currency, input.items[i]!.quantity, `items[${i}].quantity`);
    }
  }
  // A period whose amount no payment can carry would leave a subscription that never bills (its
  // draft fails every run): refused here, before anything is written.
  if (licensedMinor > PAYMENT_AMOUNT_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `a period of these items costs more than a payment can carry (${PAYMENT_AMOUNT_MINOR_MAX} minor units)`, { field: 'items' });
  }
  if (new Set(input.items.map((i) => i.priceId)).size !== input.items.length) throw invalidField('items', 'a price appears twice');
  if (input.couponId !== '') {
    const coupon = await deps.store.getCoupon(tenantId, input.couponId);
    if (!coupon) throw new TallyError('NOT_FOUND', `coupon ${input.couponId} not found`, { field: 'coupon_id' });
    if (coupon.discount.kind === 'amount' && coupon.discount.amountOffMinorByCurrency[currency] === undefined) {
      throw new TallyError('CURRENCY_MISMATCH', `coupon ${coupon.id} has no amount in ${currency}`, { field: 'coupon_id' });
    }
  }
  return { currency, interval, prices, testClockId: customer.testClockId };
}

/** A licensed item's amount for one period; an amount out of range is refused naming the item's quantity. */
function priceAmountOrRefuse(price: Price, currency: string, quantity: bigint, field: string): bigint {
  try {
    return priceAmount(price, currency, quantity).amount.amountMinor;
  } catch (error) {
    if (error instanceof TallyError && error.reason === 'AMOUNT_OUT_OF_RANGE') throw new TallyError('AMOUNT_OUT_OF_RANGE', error.message, { field });
    throw error;
  }
}

/** The time a customer's billing runs on: its test clock's, else now. */
export async function customerNowMs(deps: BillingDeps, tenantId: string, testClockId: string): Promise<number> {
  if (testClockId === '') return deps.clock.nowMs();
  const clock = await deps.store.getTestClock(tenantId, testClockId);
  if (!clock) throw new TallyError('NOT_FOUND', `test clock ${testClockId} not found`, { field: 'test_clock_id' });
  return clock.frozenTimeMs;
}

/**
 * Creates subscription `id` (derived from the request's idempotency key, so a rerun finds it) and,
 * unless it is trialing, finalizes and charges its first invoice right away, on the customer's time.
 */
export async function createSubscription(deps: BillingDeps, tenantId: string, id: string, input: NewSubscription, trace: TraceIds): Promise<{ subscription: Subscription; invoice: Invoice | undefined }> {
  const checked = await checkNewSubscription(deps, tenantId, input);
  const nowMs = await customerNowMs(deps, tenantId, checked.testClockId);
  const schedule = initialSchedule({ startMs: nowMs, interval: checked.interval, ...(input.trialDays > 0 ? { trialDays: input.trialDays } : {}) });
  const created: Subscription = {
    id, tenantId, customerId: input.customerId, currency: checked.currency, status: schedule.status, interval: checked.interval,
    items: input.items.map((item, i) => ({ id: `si_${i}`, priceId: item.priceId, quantity: checked.prices[i]!.recurring!.usage.type === 'metered' ? 0n : item.quantity })),
    anchorMs: schedule.anchorMs,
    // Period -1: before the first billed period (the trial, or the instant of creation).
    periodIndex: -1, currentPeriodStartMs: nowMs, currentPeriodEndMs: schedule.firstBillingMs,
    trialEndMs: schedule.trialEndMs, cancelAtPeriodEnd: false, canceledAtMs: null,
    prorationBehavior: 'create_prorations', prorationGranularity: 'second',
    couponId: input.couponId, couponUses: 0, latestInvoiceId: '', testClockId: checked.testClockId,
    nextActionAtMs: schedule.firstBillingMs, createdAtMs: deps.clock.nowMs(), updatedAtMs: deps.clock.nowMs(),
  };
  await deps.store.transaction(tenantId, async (tx) => {
    if ((await tx.getSubscriptions([id])).has(id)) return;
    tx.setSubscription(created, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.created', id, 'created', subscriptionPayload(created, nowMs), trace));
  });
  if (schedule.status !== 'trialing') {
    // Its first period is due now: the same path as every renewal (numbering, ledger, charge).
    await runBilling(deps, { kind: 'subscription', tenantId, subscriptionId: id, testClockId: checked.testClockId, nowMs }, trace);
  }
  const subscription = (await deps.store.getSubscription(tenantId, id))!;
  const invoice = subscription.latestInvoiceId === '' ? undefined : await deps.store.getInvoice(tenantId, subscription.latestInvoiceId);
  return { subscription, invoice };
}

export async function getSubscription(deps: BillingDeps, tenantId: string, id: string): Promise<Subscription> {
  const sub = await deps.store.getSubscription(tenantId, id);
  if (!sub) throw new TallyError('NOT_FOUND', `subscription ${id} not found`, { field: 'subscription_id' });
  return sub;
}

/** Cancels now (final) or at the end of the current period (billingRun cancels instead of renewing). */
export async function cancelSubscription(deps: BillingDeps, tenantId: string, id: string, atPeriodEnd: boolean, trace: TraceIds): Promise<Subscription> {
  const before = await getSubscription(deps, tenantId, id);
  const nowMs = await customerNowMs(deps, tenantId, before.testClockId);
  return deps.store.transaction(tenantId, async (tx) => {
    const sub = (await tx.getSubscriptions([id])).get(id);
    if (!sub) throw new TallyError('NOT_FOUND', `subscription ${id} not found`, { field: 'subscription_id' });
    if (sub.status === 'canceled') return sub;
    // A paused subscription has no running period to end (no renewal would ever cancel it): it is canceled now (ADR 0035).
    const atEnd = atPeriodEnd && sub.status !== 'paused';
    const next: Subscription = atEnd
      ? { ...sub, cancelAtPeriodEnd: true, updatedAtMs: deps.clock.nowMs() }
      : { ...sub, status: transitionSubscription(sub.status, 'canceled', id), canceledAtMs: nowMs, nextActionAtMs: null, updatedAtMs: deps.clock.nowMs() };
    tx.setSubscription(next, trace);
    tx.createOutboxEvent(billingEvent(deps, atEnd ? 'billing.subscription.updated' : 'billing.subscription.canceled', id, atEnd ? 'cancel_at_period_end' : 'canceled', subscriptionPayload(next, nowMs), trace));
    return next;
  });
}
