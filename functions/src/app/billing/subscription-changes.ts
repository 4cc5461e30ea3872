/**
 * Mid-period changes of a subscription item's price or quantity (issue 14 item 3, ADR 0032):
 * prorated by the domain (`prorateItemChange`, per second or per day as the tenant's settings say),
 * then, by `proration_behavior`: `create_prorations` keeps the lines for the next renewal invoice,
 * `always_invoice` finalizes an invoice of them now (numbered, posted) and charges it through the
 * same path as renewals, `none` just switches. Every check runs before any write.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { schemeFor, validateQuantity } from '../../domain/billing/catalog.js';
import { formatInvoiceNumber, type InvoiceLineInput } from '../../domain/billing/invoice.js';
import { prorateItemChange, prorationBehaviors, type ProrationBehavior, type ProrationResult } from '../../domain/billing/proration.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Invoice, Subscription } from '../../ports/billing-store.js';
import type { PlannedEntry } from '../ledger/ledger-use-cases.js';
import type { BillingDeps } from './billing-deps.js';
import { chargeInvoice } from './billing-run.js';
import {
  billingEvent, draftInvoice, ensureBillingAccounts, finalizeWithCredit, invoicePayload, loadDraftContext, newCreditBook, periodOf, recordChargeOutcomes, renewalLines,
  settingsOf, subscriptionPayload, writeCredits,
} from './invoicing.js';
import { customerNowMs, getSubscription } from './subscriptions.js';

/** Most proration lines one period keeps for its renewal (two per change: 50 changes a period). */
export const PENDING_PRORATION_LINES_MAX = 100;

export interface ItemChange {
  /** '' : the only licensed item. */
  itemId: string;
  /** '' : unchanged. */
  priceId: string;
  /** 0n : unchanged. */
  quantity: bigint;
  /** '' : create_prorations. */
  prorationBehavior: string;
  /** null: the customer's now. */
  prorationDateMs: number | null;
}

/** A checked change: the subscription after it and the proration lines it makes. */
export interface PlannedChange {
  sub: Subscription;
  next: Subscription;
  behavior: ProrationBehavior;
  proration: ProrationResult;
  lines: InvoiceLineInput[];
  changeAtMs: number;
  nowMs: number;
}

/** Checks the change against the subscription and catalog and prorates it; writes nothing. */
export async function planItemChange(deps: BillingDeps, tenantId: string, subscriptionId: string, change: ItemChange, changeId: string): Promise<PlannedChange> {
  const behavior = (change.prorationBehavior === '' ? 'create_prorations' : change.prorationBehavior) as ProrationBehavior;
  if (!prorationBehaviors.includes(behavior)) throw invalidField('change.proration_behavior', `one of ${prorationBehaviors.join(', ')}`);
  const sub = await getSubscription(deps, tenantId, subscriptionId);
  if (sub.status === 'canceled') throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} is canceled`, { field: 'subscription_id', from: sub.status });
  if (sub.periodIndex < 0) throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} has no billed period yet (trialing): nothing to prorate`, { field: 'subscription_id', from: sub.status });
  const ctx = await loadDraftContext(deps, tenantId, sub);
  const licensed = sub.items.filter((i) => ctx.prices.get(i.priceId)!.price.recurring?.usage.type !== 'metered');
  const item = change.itemId === '' ? (licensed.length === 1 ? licensed[0] : undefined) : sub.items.find((i) => i.id === change.itemId);
  if (!item) {
    if (change.itemId === '') throw invalidField('change.item_id', 'required: the subscription has several licensed items', 'FIELD_REQUIRED');
    throw new TallyError('NOT_FOUND', `item ${change.itemId} not found on ${sub.id}`, { field: 'change.item_id' });
  }
  const from = ctx.prices.get(item.priceId)!.price;
  let to = from;
  if (change.priceId !== '' && change.priceId !== from.id) {
    const stored = await deps.store.getPrice(tenantId, change.priceId);
    if (!stored) throw new TallyError('NOT_FOUND', `price ${change.priceId} not found`, { field: 'change.price_id' });
    to = stored.price;
    if (to.recurring !== null && sub.items.some((i) => i !== item && i.priceId === to.id)) throw invalidField('change.price_id', 'another item of the subscription has this price');
  }
  if (change.quantity < 0n) throw invalidField('change.quantity', 'at least 1 (0: unchanged)');
  const quantity = change.quantity === 0n ? item.quantity : change.quantity;
  const scheme = schemeFor(to, sub.currency); // CURRENCY_MISMATCH
  validateQuantity(scheme, quantity, false, 'change.quantity');
  const nowMs = await customerNowMs(deps, tenantId, sub.testClockId);
  const changeAtMs = change.prorationDateMs ?? nowMs;
  if (changeAtMs < sub.currentPeriodStartMs || changeAtMs >= sub.currentPeriodEndMs) throw invalidField('change.proration_date', 'must lie within the current period');
  const settings = await settingsOf(deps, tenantId);
  const proration = prorateItemChange({
    period: { startMs: sub.currentPeriodStartMs, endMs: sub.currentPeriodEndMs }, changeAtMs, currency: sub.currency,
    // Nothing changes (same price and quantity): no credit and charge that cancel out (as Stripe).
    from: { price: from, quantity: item.quantity }, to: { price: to, quantity }, behavior: to === from && quantity === item.quantity ? 'none' : behavior,
    granularity: settings.prorationGranularity,
  });
  const taxCategoryOf = async (priceId: string) => {
    const known = ctx.prices.get(priceId);
    if (known) return known.taxCategory;
    const product = await deps.store.getProduct(tenantId, to.productId);
    return to.taxCategory ?? product?.product.taxCategory ?? 'standard';
  };
  const lines: InvoiceLineInput[] = [];
  for (const [n, line] of proration.lines.entries()) {
    const price = line.priceId === from.id ? from : to;
    lines.push({
      // Unique across changes: the change's id names its lines.
      id: `il_p_${changeId.slice(-12)}_${n}`, kind: line.kind, description: line.description, priceId: price.id, productId: price.productId,
      quantity: line.quantity, amount: line.amount, periodStartMs: line.periodStartMs, periodEndMs: line.periodEndMs,
      taxBehavior: price.taxBehavior, taxCategory: await taxCategoryOf(price.id), discountable: line.kind !== 'proration_credit',
    });
  }
  const pending = (sub.pendingProrations?.length ?? 0) + lines.length;
  if (behavior !== 'none' && pending > PENDING_PRORATION_LINES_MAX) {
    // Bounded: the renewal invoice must stay within its line limit; refused loudly, never dropped.
    throw new TallyError('LIMIT_EXCEEDED', `more than ${PENDING_PRORATION_LINES_MAX} proration lines wait for the next renewal of ${sub.id}`, { limit: String(PENDING_PRORATION_LINES_MAX), field: 'change' });
  }
  const next: Subscription = {
    ...sub, items: sub.items.map((i) => (i === item ? { ...i, priceId: to.id, quantity } : i)),
    pendingProrations: behavior === 'create_prorations' ? [...(sub.pendingProrations ?? []), ...lines] : (sub.pendingProrations ?? []),
    lastChangeId: changeId, updatedAtMs: deps.clock.nowMs(),
  };
  return { sub, next, behavior, proration, lines, changeAtMs, nowMs };
}

/** Whether `always_invoice` invoices now: a net credit (a downgrade) instead waits for the next renewal, as a credit line. */
const invoicesNow = (plan: PlannedChange) => plan.behavior === 'always_invoice' && plan.proration.net.amountMinor > 0n;

/** The proration invoice a change with `always_invoice` makes (draft), or undefined. */
export async function prorationInvoiceDraft(deps: BillingDeps, tenantId: string, plan: PlannedChange, invoiceId: string): Promise<Invoice | undefined> {
  if (!invoicesNow(plan)) return undefined;
  const ctx = await loadDraftContext(deps, tenantId, plan.next);
  // No coupon on a proration invoice: coupons count per renewal.
  return draftInvoice(deps, tenantId, { ...plan.next, couponId: '' }, { ...ctx, coupon: undefined }, plan.lines, { startMs: plan.changeAtMs, endMs: plan.sub.currentPeriodEndMs }, invoiceId, plan.nowMs);
}

/**
 * Applies a planned change in ONE transaction (the subscription unchanged since it was read, else
 * CONTENTION); with `always_invoice` (net charge) the proration invoice is finalized in it under
 * the tenant's next number and posted, then charged like a renewal. A rerun of an applied change
 * (same `changeId`) returns the state as it is.
 */
export async function applyItemChange(deps: BillingDeps, tenantId: string, plan: PlannedChange, invoiceId: string, trace: TraceIds): Promise<{ subscription: Subscription; invoice: Invoice | undefined }> {
  const changeId = plan.next.lastChangeId!;
  let next = plan.next;
  if (plan.behavior === 'always_invoice' && !invoicesNow(plan)) next = { ...next, pendingProrations: [...(plan.sub.pendingProrations ?? []), ...plan.lines] };
  const draft = await prorationInvoiceDraft(deps, tenantId, plan, invoiceId);
  const settings = await settingsOf(deps, tenantId);
  if (draft) await ensureBillingAccounts(deps, tenantId, draft.currency);
  const ledger = deps.payments.ledger;
  const invoice = await ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const [current, counter] = await Promise.all([tx.getSubscriptions([plan.sub.id]), draft ? tx.getInvoiceCounter() : Promise.resolve(0)]);
    const sub = current.get(plan.sub.id);
    if (!sub) throw new TallyError('NOT_FOUND', `subscription ${plan.sub.id} not found`, { field: 'subscription_id' });
    if (sub.lastChangeId === changeId) return undefined;
    if (sub.updatedAtMs !== plan.sub.updatedAtMs) throw new TallyError('CONTENTION', `subscription ${sub.id} changed meanwhile; retry`, { field: 'subscription_id' });
    let open: Invoice | undefined;
    let plans: PlannedEntry[] = [];
    const credits = newCreditBook();
    if (draft) {
      ({ invoice: open, plans } = await finalizeWithCredit(deps, tx, lane, tenantId, draft, formatInvoiceNumber(settings.invoicePrefix, counter + 1), plan.nowMs, sub.status !== 'unpaid', trace, credits));
      next = { ...next, latestInvoiceId: open.id };
    }
    for (const p of plans) p.commit();
    writeCredits(tx, credits);
    if (open) {
      tx.setInvoice(open, trace);
      tx.setInvoiceCounter(counter + 1);
      tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.finalized', open.id, 'finalized', invoicePayload(open, plan.nowMs), trace));
    }
    tx.setSubscription(next, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.updated', sub.id, `change:${changeId}`, subscriptionPayload(next, plan.nowMs), trace));
    return open;
  }));
  if (invoice && invoice.status === 'open' && invoice.nextAttemptAtMs !== null) {
    // Charged now through billing's path (PaymentsService, idempotent per invoice and attempt).
    const attempt = await chargeInvoice(deps, tenantId, invoice.id, plan.nowMs, trace);
    if (attempt) await recordChargeOutcomes(deps, tenantId, [attempt], settings, plan.nowMs, trace);
  }
  const subscription = (await deps.store.getSubscription(tenantId, plan.sub.id))!;
  const made = draft ? await deps.store.getInvoice(tenantId, invoiceId) : undefined;
  return { subscription, invoice: made };
}

/**
 * PreviewUpcomingInvoice with a proposed change: the same plan as UpdateSubscription, nothing
 * written. `always_invoice` (net charge): the proration invoice the change would charge now;
 * otherwise the next renewal invoice with the change applied (and its proration lines, if kept).
 */
export async function previewChange(deps: BillingDeps, tenantId: string, subscriptionId: string, change: ItemChange): Promise<Invoice> {
  const plan = await planItemChange(deps, tenantId, subscriptionId, change, 'preview_change');
  const now = await prorationInvoiceDraft(deps, tenantId, plan, '');
  if (now) return now;
  const sub: Subscription = plan.behavior === 'always_invoice' ? { ...plan.next, pendingProrations: [...(plan.sub.pendingProrations ?? []), ...plan.lines] } : plan.next;
  if (sub.nextActionAtMs === null || sub.cancelAtPeriodEnd) {
    throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} has no upcoming invoice`, { field: 'subscription_id', from: sub.status });
  }
  const period = periodOf(sub, sub.periodIndex + 1);
  const ctx = await loadDraftContext(deps, tenantId, sub);
  const lines = await renewalLines(deps, tenantId, sub, ctx, period, { startMs: sub.currentPeriodStartMs, endMs: sub.currentPeriodEndMs });
  return draftInvoice(deps, tenantId, sub, ctx, lines, period, '', sub.nextActionAtMs);
}
