/**
 * One-off invoice items (issue 14 item 1's one-off charges, ADR 0035): a one-off price (no
 * interval) billed on a subscription, either with its next renewal invoice (a pending item, as
 * Stripe's `add_invoice_items` / pending invoice items) or at once on an invoice of its own,
 * finalized, numbered, posted and charged through billingRun's path. Every check runs before any
 * write; the item's id derives from the request's idempotency key.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { schemeFor, validateQuantity } from '../../domain/billing/catalog.js';
import { formatInvoiceNumber, type InvoiceLineInput } from '../../domain/billing/invoice.js';
import { priceAmount } from '../../domain/billing/pricing.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Invoice, Subscription } from '../../ports/billing-store.js';
import type { BillingDeps } from './billing-deps.js';
import { chargeInvoice } from './billing-run.js';
import {
  billingEvent, draftInvoice, ensureBillingAccounts, finalizeWithCredit, invoicePayload, loadDraftContext, newCreditBook, recordChargeOutcomes, settingsOf,
  subscriptionPayload, writeCredits,
} from './invoicing.js';
import { PENDING_PRORATION_LINES_MAX } from './subscription-changes.js';
import { customerNowMs, getSubscription } from './subscriptions.js';

export interface NewInvoiceItem {
  subscriptionId: string;
  priceId: string;
  quantity: bigint;
  /** '' : "<quantity> x <price>". At most 500 characters (checked at the edge). */
  description: string;
  invoiceNow: boolean;
}

/** A checked item: the subscription as read and the invoice line the item makes. */
export interface PlannedInvoiceItem { sub: Subscription; line: InvoiceLineInput; invoiceNow: boolean; nowMs: number }

/** Checks the item against the subscription and catalog (one-off price, currency, quantity, bounds); writes nothing. */
export async function planInvoiceItem(deps: BillingDeps, tenantId: string, input: NewInvoiceItem, itemId: string): Promise<PlannedInvoiceItem> {
  const sub = await getSubscription(deps, tenantId, input.subscriptionId);
  if (sub.status === 'canceled') throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} is canceled`, { field: 'subscription_id', from: sub.status });
  const stored = await deps.store.getPrice(tenantId, input.priceId);
  if (!stored) throw new TallyError('NOT_FOUND', `price ${input.priceId} not found`, { field: 'price_id' });
  const price = stored.price;
  if (price.recurring !== null) throw invalidField('price_id', 'an invoice item needs a one-off price (no interval); recurring prices are subscription items');
  const scheme = schemeFor(price, sub.currency); // CURRENCY_MISMATCH
  validateQuantity(scheme, input.quantity, false, 'quantity');
  const amount = priceAmount(price, sub.currency, input.quantity).amount; // AMOUNT_OUT_OF_RANGE
  const product = await deps.store.getProduct(tenantId, price.productId);
  if (!input.invoiceNow && (sub.pendingProrations?.length ?? 0) + 1 > PENDING_PRORATION_LINES_MAX) {
    // Bounded: the renewal invoice must stay within its line limit; refused loudly, never dropped.
    throw new TallyError('LIMIT_EXCEEDED', `more than ${PENDING_PRORATION_LINES_MAX} pending lines wait for the next renewal of ${sub.id}`, { limit: String(PENDING_PRORATION_LINES_MAX), field: 'subscription_id' });
  }
  const line: InvoiceLineInput = {
    id: `il_o_${itemId.slice(-12)}`, kind: 'one_off', description: input.description !== '' ? input.description : `${input.quantity} x ${price.id}`,
    priceId: price.id, productId: price.productId, quantity: input.quantity, amount, periodStartMs: null, periodEndMs: null,
    taxBehavior: price.taxBehavior, taxCategory: price.taxCategory ?? product?.product.taxCategory ?? 'standard', discountable: true,
  };
  return { sub, line, invoiceNow: input.invoiceNow, nowMs: await customerNowMs(deps, tenantId, sub.testClockId) };
}

/**
 * Applies a planned item: pending, it joins the subscription's lines for the next renewal (the
 * renewal clears them in the transaction that invoices them, so each is billed once); at once, an
 * invoice of it is finalized under the tenant's next number in ONE transaction and charged like a
 * renewal (dunning applies). A rerun with the same `itemId` finds it done.
 */
export async function addInvoiceItem(deps: BillingDeps, tenantId: string, plan: PlannedInvoiceItem, itemId: string, invoiceId: string, trace: TraceIds): Promise<{ subscription: Subscription; invoice: Invoice | undefined }> {
  const { sub: before, line, nowMs } = plan;
  if (!plan.invoiceNow) {
    await deps.store.transaction(tenantId, async (tx) => {
      const sub = (await tx.getSubscriptions([before.id])).get(before.id);
      if (!sub) throw new TallyError('NOT_FOUND', `subscription ${before.id} not found`, { field: 'subscription_id' });
      if (sub.lastChangeId === itemId) return;
      if (sub.updatedAtMs !== before.updatedAtMs) throw new TallyError('CONTENTION', `subscription ${sub.id} changed meanwhile; retry`, { field: 'subscription_id' });
      const next: Subscription = { ...sub, pendingProrations: [...(sub.pendingProrations ?? []), line], lastChangeId: itemId, updatedAtMs: deps.clock.nowMs() };
      tx.setSubscription(next, trace);
      tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.updated', sub.id, `item:${itemId}`, { ...subscriptionPayload(next, nowMs), invoiceItemPriceId: line.priceId, invoiceItemAmountMinor: line.amount.amountMinor.toString() }, trace));
    });
    return { subscription: (await deps.store.getSubscription(tenantId, before.id))!, invoice: undefined };
  }
  const [ctx, settings] = await Promise.all([loadDraftContext(deps, tenantId, before), settingsOf(deps, tenantId)]);
  // No coupon: coupons count per renewal (as on proration invoices).
  const draft = await draftInvoice(deps, tenantId, { ...before, couponId: '' }, { ...ctx, settings, coupon: undefined }, [line], { startMs: nowMs, endMs: nowMs }, invoiceId, nowMs);
  await ensureBillingAccounts(deps, tenantId, draft.currency);
  const ledger = deps.payments.ledger;
  const invoice = await ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const [existing, counter] = await Promise.all([tx.getInvoices([invoiceId]), tx.getInvoiceCounter()]);
    const found = existing.get(invoiceId);
    if (found) return found;
    const credits = newCreditBook();
    const { invoice: open, plans } = await finalizeWithCredit(deps, tx, lane, tenantId, draft, formatInvoiceNumber(settings.invoicePrefix, counter + 1), nowMs, before.status !== 'unpaid', trace, credits);
    for (const p of plans) p.commit();
    writeCredits(tx, credits);
    tx.setInvoice(open, trace);
    tx.setInvoiceCounter(counter + 1);
    tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.finalized', open.id, 'finalized', invoicePayload(open, nowMs), trace));
    if (open.status === 'paid') tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.paid', open.id, 'paid', invoicePayload(open, nowMs), trace));
    return open;
  }));
  if (invoice.status === 'open' && invoice.nextAttemptAtMs !== null && invoice.attemptCount === 0) {
    const attempt = await chargeInvoice(deps, tenantId, invoice.id, nowMs, trace);
    if (attempt) await recordChargeOutcomes(deps, tenantId, [attempt], settings, nowMs, trace);
  }
  return { subscription: (await deps.store.getSubscription(tenantId, before.id))!, invoice: await deps.store.getInvoice(tenantId, invoiceId) };
}
