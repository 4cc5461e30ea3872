/**
 * Pausing and resuming a subscription (issue 14 item 2, ADR 0035). A paused subscription makes no
 * invoice: billingRun skips it (`nextActionAtMs` null). The time it spent paused inside a period it
 * had already paid for is credited on its next invoice, so a customer never pays for paused time.
 *
 * Resume re-anchors by default (`now`, Stripe's default `billing_cycle_anchor`): a new period starts
 * at the resume and is invoiced and charged at once, with the credit of the unused, paused part of
 * the period paid before. `unchanged` keeps the anchor: resumed inside the paid period, it just
 * goes on (the paused part credited on the next renewal); resumed after it, the periods that
 * passed while paused are never invoiced and the rest of the current one is charged prorated on
 * the next renewal (as Stripe's create_prorations). Metered usage recorded before the pause is
 * billed either way.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { periodAt } from '../../domain/billing/calendar.js';
import type { InvoiceLineInput } from '../../domain/billing/invoice.js';
import { priceAmount } from '../../domain/billing/pricing.js';
import { prorate } from '../../domain/billing/proration.js';
import { transitionSubscription } from '../../domain/billing/subscription.js';
import { money } from '../../domain/money/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Invoice, Subscription } from '../../ports/billing-store.js';
import type { BillingDeps } from './billing-deps.js';
import { runBilling } from './billing-run.js';
import { billingEvent, loadDraftContext, renewalLines, settingsOf, subscriptionPayload, type DraftContext } from './invoicing.js';
import { customerNowMs, getSubscription } from './subscriptions.js';

/** Where a resumed subscription's billing cycle is anchored. */
export const resumeAnchors = ['now', 'unchanged'] as const;
export type ResumeAnchor = (typeof resumeAnchors)[number];

/**
 * Pauses an active subscription at the customer's now (its test clock's time on a test clock).
 * Idempotent: pausing a paused subscription returns it unchanged. Open invoices keep their dunning
 * (they bill time already served). Refused (INVALID_STATE_TRANSITION) from any other status.
 */
export async function pauseSubscription(deps: BillingDeps, tenantId: string, id: string, trace: TraceIds): Promise<Subscription> {
  const before = await getSubscription(deps, tenantId, id);
  const nowMs = await customerNowMs(deps, tenantId, before.testClockId);
  return deps.store.transaction(tenantId, async (tx) => {
    const sub = (await tx.getSubscriptions([id])).get(id) ;
    if (!sub) throw new TallyError('NOT_FOUND', `subscription ${id} not found`, { field: 'subscription_id' });
    if (sub.status === 'paused') return sub;
    if (sub.status !== 'active') {
      throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${id} is ${sub.status}: only an active subscription is paused`, { field: 'subscription_id', from: sub.status, to: 'paused' });
    }
    const next = { ...sub, status: transitionSubscription(sub.status, 'paused', id), pausedAtMs: nowMs, nextActionAtMs: null, updatedAtMs: deps.clock.nowMs() };
    tx.setSubscription(next, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.paused', id, `paused:${nowMs}`, subscriptionPayload(next, nowMs), trace));
    return next;
  });
}

/**
 * Credit lines for the licensed items' time `[fromMs, toMs)` inside the subscription's current
 * (paid) period: the unused time at `fromMs` less the unused time at `toMs`, each rounded as every
 * proration (half-even per line, ADR 0031). Empty when the period was never paid (periodIndex < 0).
 */
function pausedCredit(sub: Subscription, ctx: DraftContext, fromMs: number, toMs: number, tag: string): InvoiceLineInput[] {
  const period = { startMs: sub.currentPeriodStartMs, endMs: sub.currentPeriodEndMs };
  if (sub.periodIndex < 0 || fromMs >= toMs || fromMs >= period.endMs) return [];
  const lines: InvoiceLineInput[] = [];
  for (const [i, item] of sub.items.entries()) {
    const { price, taxCategory } = ctx.prices.get(item.priceId)!;
    if (price.recurring?.usage.type === 'metered') continue;
    const amount = priceAmount(price, sub.currency, item.quantity).amount;
    const unusedAt = (atMs: number) => (atMs >= period.endMs ? 0n : -prorate({
      period, changeAtMs: atMs, from: { priceId: price.id, quantity: item.quantity, amount }, to: { priceId: price.id, quantity: item.quantity, amount: money(0n, sub.currency) },
      behavior: 'create_prorations', granularity: ctx.settings.prorationGranularity,
    }).credit.amountMinor);
    const creditMinor = unusedAt(fromMs) - unusedAt(Math.min(toMs, period.endMs));
    if (creditMinor === 0n) continue;
    lines.push({
      id: `il_pause_${tag}_${i}`, kind: 'proration_credit', description: `Paused time on ${price.id} x ${item.quantity}`, priceId: price.id, productId: price.productId,
      quantity: item.quantity, amount: money(-creditMinor, sub.currency), periodStartMs: fromMs, periodEndMs: Math.min(toMs, period.endMs),
      taxBehavior: price.taxBehavior, taxCategory, discountable: false,
    });
  }
  return lines;
}

/** The charge for the licensed items' remaining time `[atMs, period.endMs)` of `period` (resume with `unchanged` after the paid period). */
function remainderCharge(sub: Subscription, ctx: DraftContext, period: { startMs: number; endMs: number }, atMs: number, tag: string): InvoiceLineInput[] {
  const lines: InvoiceLineInput[] = [];
  for (const [i, item] of sub.items.entries()) {
    const { price, taxCategory } = ctx.prices.get(item.priceId)!;
    if (price.recurring?.usage.type === 'metered') continue;
    const amount = priceAmount(price, sub.currency, item.quantity).amount;
    const charge = prorate({
      period, changeAtMs: atMs, from: { priceId: price.id, quantity: item.quantity, amount: money(0n, sub.currency) }, to: { priceId: price.id, quantity: item.quantity, amount },
      behavior: 'create_prorations', granularity: ctx.settings.prorationGranularity,
    }).charge;
    if (charge.amountMinor === 0n) continue;
    lines.push({
      id: `il_resume_${tag}_${i}`, kind: 'proration_charge', description: `Remaining time on ${price.id} x ${item.quantity} after resuming`, priceId: price.id, productId: price.productId,
      quantity: item.quantity, amount: charge, periodStartMs: atMs, periodEndMs: period.endMs, taxBehavior: price.taxBehavior, taxCategory, discountable: true,
    });
  }
  return lines;
}

/**
 * Resumes a paused subscription at the customer's now, anchored as `anchor` says (module comment).
 * With `now` its new first period is invoiced and charged at once, through billingRun's path.
 * Refused (INVALID_STATE_TRANSITION) unless paused: the RPC checks under its idempotency key, so a
 * retry of a resume that went through replays its answer.
 */
export async function resumeSubscription(
  deps: BillingDeps, tenantId: string, id: string, anchor: ResumeAnchor, trace: TraceIds,
): Promise<{ subscription: Subscription; invoice: Invoice | undefined }> {
  if (!resumeAnchors.includes(anchor)) throw invalidField('billing_cycle_anchor', `one of ${resumeAnchors.join(', ')} (empty: now)`);
  const before = await getSubscription(deps, tenantId, id);
  if (before.status !== 'paused') {
    throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${id} is ${before.status}: only a paused subscription is resumed`, { field: 'subscription_id', from: before.status, to: 'active' });
  }
  const nowMs = await customerNowMs(deps, tenantId, before.testClockId);
  const ctx = { ...(await loadDraftContext(deps, tenantId, before)), settings: await settingsOf(deps, tenantId) };
  const pausedAtMs = before.pausedAtMs ?? nowMs;
  const tag = String(nowMs);
  // Usage recorded in the period paused in (before the pause): billed with the next invoice.
  const usage = (period: { startMs: number; endMs: number }) => renewalLines(deps, tenantId, { ...before, pendingProrations: [] }, ctx, period, period)
    .then((lines) => lines.filter((l) => l.kind === 'usage').map((l) => ({ ...l, id: `${l.id}_${tag}` })));
  const paid = { startMs: before.currentPeriodStartMs, endMs: before.currentPeriodEndMs };
  let next: Subscription;
  if (anchor === 'now') {
    const lines = [...pausedCredit(before, ctx, pausedAtMs, paid.endMs, tag), ...(before.periodIndex < 0 ? [] : await usage(paid))];
    // A new calendar from now: period 0 starts at the resume and is due at once (periodIndex -1: before it).
    next = {
      ...before, status: 'active', anchorMs: nowMs, periodIndex: -1, currentPeriodStartMs: nowMs, currentPeriodEndMs: nowMs, nextActionAtMs: nowMs,
      pendingProrations: [...(before.pendingProrations ?? []), ...lines], pausedAtMs: null, updatedAtMs: deps.clock.nowMs(),
    };
  } else if (nowMs < paid.endMs) {
    next = {
      ...before, status: 'active', nextActionAtMs: paid.endMs, pausedAtMs: null, updatedAtMs: deps.clock.nowMs(),
      pendingProrations: [...(before.pendingProrations ?? []), ...pausedCredit(before, ctx, pausedAtMs, nowMs, tag)],
    };
  } else {
    // The periods that ended while paused are never invoiced; the one the resume falls in is charged from the resume on.
    const current = periodAt(before.anchorMs, before.interval, nowMs);
    const lines = [...pausedCredit(before, ctx, pausedAtMs, paid.endMs, tag), ...(before.periodIndex < 0 ? [] : await usage(paid)), ...remainderCharge(before, ctx, current, nowMs, tag)];
    next = {
      ...before, status: 'active', periodIndex: current.index, currentPeriodStartMs: current.startMs, currentPeriodEndMs: current.endMs, nextActionAtMs: current.endMs,
      pendingProrations: [...(before.pendingProrations ?? []), ...lines], pausedAtMs: null, updatedAtMs: deps.clock.nowMs(),
    };
  }
  await deps.store.transaction(tenantId, async (tx) => {
    const sub = (await tx.getSubscriptions([id])).get(id);
    if (!sub) throw new TallyError('NOT_FOUND', `subscription ${id} not found`, { field: 'subscription_id' });
    // Planned from `before`: anything that changed it since (another resume, a cancel) wins; retry decides again.
    if (sub.updatedAtMs !== before.updatedAtMs) throw new TallyError('CONTENTION', `subscription ${id} changed meanwhile; retry`, { field: 'subscription_id' });
    transitionSubscription(sub.status, 'active', id);
    tx.setSubscription(next, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.resumed', id, `resumed:${nowMs}`, { ...subscriptionPayload(next, nowMs), billingCycleAnchor: anchor }, trace));
  });
  if (anchor === 'now') {
    // The new first period is due now: the same path as a creation (numbering, ledger, charge, dunning).
    await runBilling(deps, { kind: 'subscription', tenantId, subscriptionId: id, testClockId: before.testClockId, nowMs }, trace);
  }
  const subscription = (await deps.store.getSubscription(tenantId, id))!;
  const invoice = anchor === 'now' && subscription.latestInvoiceId !== '' && subscription.latestInvoiceId !== before.latestInvoiceId
    ? await deps.store.getInvoice(tenantId, subscription.latestInvoiceId) : undefined;
  return { subscription, invoice };
}
