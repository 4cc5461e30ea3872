/**
 * Invoices (issue 14 item 4, ADR 0032): drafting a subscription period's invoice with the domain's
 * pricing, coupons and tax; finalizing a chunk of renewals in ONE transaction that takes gapless
 * numbers from the tenant's counter and posts each invoice's ledger entry; recording a charge's
 * outcome (paid: the receivable settled; failed: dunning); credit notes and voids.
 *
 * Firestore transactions read before they write: every use case here reads (and plans its ledger
 * entries, which read) first, then writes.
 */
import { createHash } from 'node:crypto';
import { createAccount as createAccountDomain } from '../../domain/ledger/index.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { derivedId } from '../../domain/ids.js';
import { money } from '../../domain/money/index.js';
import { periodBoundaryMs } from '../../domain/billing/calendar.js';
import type { Price } from '../../domain/billing/catalog.js';
import { priceAmount } from '../../domain/billing/pricing.js';
import { usageQuantity } from '../../domain/billing/usage-aggregate.js';
import {
  discountInvoice, finalizeInvoice, formatInvoiceNumber, markInvoicePaid, markInvoiceUncollectible, priceInvoice, taxRequestFor, voidInvoice as voidInvoiceDomain,
  type InvoiceLineInput,
} from '../../domain/billing/invoice.js';
import { transitionSubscription, type SubscriptionStatus } from '../../domain/billing/subscription.js';
import {
  billingAccountId, billingAccounts, creditNoteEntry, customerCreditEntry, finalizationEntry, paymentEntry, uncollectibleEntry, voidEntry,
} from '../../domain/billing/invoice-postings.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { BillingCustomer, BillingSettings, BillingTx, Coupon, CreditNote, Invoice, Subscription } from '../../ports/billing-store.js';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import { planEntry, type PlannedEntry } from '../ledger/ledger-use-cases.js';
import type { BillingDeps } from './billing-deps.js';

/** Settings of a tenant that never set any. */
export const defaultBillingSettings: BillingSettings = Object.freeze({
  originCountry: '', vatId: '', invoicePrefix: 'INV', prorationGranularity: 'second',
  dunning: Object.freeze({ retryDelaysDays: Object.freeze([1, 3, 5, 7]), finalStatus: 'unpaid' }),
  externalTaxUrl: '', externalTaxTimeoutMs: 2_000, externalTaxFallback: 'builtin',
}) as BillingSettings;

export async function settingsOf(deps: BillingDeps, tenantId: string): Promise<BillingSettings> {
  return (await deps.store.getSettings(tenantId)) ?? defaultBillingSettings;
}

/** An outbox event of billing; its id derives from what it announces, so a rerun cannot duplicate it. */
export function billingEvent(deps: BillingDeps, type: string, aggregateId: string, key: string, payload: Record<string, unknown>, trace: TraceIds): OutboxEvent {
  return {
    id: derivedId('evt', [type, aggregateId, key]), type, aggregateId, payload,
    // Real time: the relay and its sweeper order and age events by it (a test clock's time is in the payload).
    createdAtMs: deps.clock.nowMs(), traceId: trace.traceId, spanId: trace.spanId,
  };
}

/** The payload every invoice event carries. */
export function invoicePayload(invoice: Invoice, atMs: number): Record<string, unknown> {
  return {
    invoiceId: invoice.id, number: invoice.number, status: invoice.status, customerId: invoice.customerId, subscriptionId: invoice.subscriptionId,
    currency: invoice.currency, totalMinor: invoice.totals.total.amountMinor.toString(), taxMinor: invoice.totals.taxTotal.amountMinor.toString(),
    amountPaidMinor: invoice.amountPaidMinor.toString(), attemptCount: invoice.attemptCount, atMs,
  };
}

export function subscriptionPayload(sub: Subscription, atMs: number): Record<string, unknown> {
  return {
    subscriptionId: sub.id, customerId: sub.customerId, status: sub.status, currentPeriodStartMs: sub.currentPeriodStartMs,
    currentPeriodEndMs: sub.currentPeriodEndMs, latestInvoiceId: sub.latestInvoiceId, atMs,
  };
}

// ---- ledger accounts -----------------------------------------------------------------------------

const accountsEnsured = new Set<string>();

/** Creates the tenant's billing accounts in `currency` (idempotent: fixed ids and codes); once per instance. */
export async function ensureBillingAccounts(deps: BillingDeps, tenantId: string, currency: string): Promise<void> {
  const key = `${tenantId}:${currency}`;
  if (accountsEnsured.has(key)) return;
  for (const { code, type } of billingAccounts) {
    const account = createAccountDomain(
      { code: `${code}:${currency}`, name: `${code} ${currency}`, currency, type, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: 8 },
      { id: billingAccountId(code, currency), tenantId, createdAtMs: deps.clock.nowMs() },
    );
    await deps.payments.ledger.store.createAccount(account);
  }
  // Bounded: at most one entry per tenant and currency this instance billed; cleared when large.
  if (accountsEnsured.size >= 10_000) accountsEnsured.clear();
  accountsEnsured.add(key);
}

// ---- drafting ---------------------------------------------------------------------------------

/** What drafting a subscription's invoices reads: prices, coupon, customer profile, settings. */
export interface DraftContext {
  prices: Map<string, { price: Price; taxCategory: 'standard' | 'reduced' }>;
  coupon: Coupon | undefined;
  customer: BillingCustomer;
  settings: BillingSettings;
}

/**
 * Reads of one billing run that do not change while it runs (prices and products never change;
 * profiles, settings and coupons as of the run's start), shared by its renewals. Bounded: a run
 * renews at most `runBatchMax * runRoundsMax` subscriptions, each adding a few keys.
 */
export type RunReads = Map<string, Promise<unknown>>;

export function memo<T>(reads: RunReads | undefined, key: string, read: () => Promise<T>): Promise<T> {
  if (!reads) return read();
  let found = reads.get(key) as Promise<T> | undefined;
  if (!found) reads.set(key, (found = read()));
  return found;
}

export async function loadDraftContext(deps: BillingDeps, tenantId: string, sub: Pick<Subscription, 'items' | 'couponId' | 'customerId'>, reads?: RunReads): Promise<DraftContext> {
  const [customer, settings, coupon, prices] = await Promise.all([
    memo(reads, `${tenantId}/c/${sub.customerId}`, () => deps.store.getBillingCustomer(tenantId, sub.customerId)),
    memo(reads, `${tenantId}/s`, () => settingsOf(deps, tenantId)),
    sub.couponId === '' ? undefined : memo(reads, `${tenantId}/k/${sub.couponId}`, () => deps.store.getCoupon(tenantId, sub.couponId)),
    Promise.all(sub.items.map(async (item) => {
      const stored = await memo(reads, `${tenantId}/p/${item.priceId}`, () => deps.store.getPrice(tenantId, item.priceId));
      if (!stored) throw new TallyError('NOT_FOUND', `price ${item.priceId} not found`, { field: 'items.price_id' });
      const product = await memo(reads, `${tenantId}/r/${stored.price.productId}`, () => deps.store.getProduct(tenantId, stored.price.productId));
      return [item.priceId, { price: stored.price, taxCategory: stored.price.taxCategory ?? product?.product.taxCategory ?? 'standard' }] as const;
    })),
  ]);
  if (!customer) throw new TallyError('NOT_FOUND', `customer ${sub.customerId} has no billing profile (UpdateBillingCustomer)`, { field: 'customer_id' });
  return { prices: new Map(prices), coupon, customer, settings };
}

/** Whether the subscription's coupon still applies to its next invoice. */
function couponApplies(sub: Subscription, coupon: Coupon | undefined): boolean {
  if (!coupon) return false;
  if (coupon.duration === 'forever') return true;
  if (coupon.duration === 'once') return sub.couponUses < 1;
  return sub.couponUses < (coupon.durationPeriods ?? 0);
}

/** The period `index` of a subscription: `[boundary(index), boundary(index + 1))`. */
export function periodOf(sub: Pick<Subscription, 'anchorMs' | 'interval'>, index: number): { startMs: number; endMs: number } {
  return { startMs: periodBoundaryMs(sub.anchorMs, sub.interval, index), endMs: periodBoundaryMs(sub.anchorMs, sub.interval, index + 1) };
}

/**
 * The lines of the invoice that opens `period`: licensed items in advance for it; metered items in
 * arrears for `usagePeriod` (the period that just ended; null at the first invoice).
 */
export async function renewalLines(
  deps: BillingDeps, tenantId: string, sub: Subscription, ctx: DraftContext,
  period: { startMs: number; endMs: number }, usagePeriod: { startMs: number; endMs: number } | null,
): Promise<InvoiceLineInput[]> {
  const lines: InvoiceLineInput[] = [];
  for (const [i, item] of sub.items.entries()) {
    const { price, taxCategory } = ctx.prices.get(item.priceId)!;
    const usage = price.recurring?.usage;
    const common = { priceId: price.id, productId: price.productId, taxBehavior: price.taxBehavior, taxCategory, discountable: true };
    if (usage?.type === 'metered') {
      if (usagePeriod === null) continue;
      // The period's running aggregate (ADR 0035): a few shard reads whatever the number of records.
      const quantity = usageQuantity(await deps.store.getUsageAggregate(tenantId, sub.id, price.id, usagePeriod.startMs), usage.aggregation);
      const priced = priceAmount(price, sub.currency, quantity);
      lines.push({ ...common, id: `il_${i}_usage`, kind: 'usage', description: `usage of ${price.id} (${quantity})`, quantity, amount: priced.amount, periodStartMs: usagePeriod.startMs, periodEndMs: usagePeriod.endMs });
      continue;
    }
    const priced = priceAmount(price, sub.currency, item.quantity);
    lines.push({ ...common, id: `il_${i}`, kind: 'subscription', description: `${item.quantity} x ${price.id}`, quantity: item.quantity, amount: priced.amount, periodStartMs: period.startMs, periodEndMs: period.endMs });
  }
  // Prorations of mid-period changes (create_prorations) go on the renewal that follows them.
  lines.push(...(sub.pendingProrations ?? []));
  return lines;
}

/** The UTC calendar date of an instant: the tax point. */
export const taxDateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A draft invoice of `lines` (discounted, taxed, totalled by the domain) for the subscription. */
export async function draftInvoice(
  deps: BillingDeps, tenantId: string, sub: Subscription, ctx: DraftContext, lines: readonly InvoiceLineInput[],
  period: { startMs: number; endMs: number }, id: string, nowMs: number,
): Promise<Invoice> {
  const coupons = couponApplies(sub, ctx.coupon) ? [ctx.coupon!] : [];
  const discounted = discountInvoice(sub.currency, lines, coupons);
  const calculation = await deps.tax(ctx.settings).calculate(taxRequestFor(discounted, {
    seller: { country: ctx.settings.originCountry, vatId: ctx.settings.vatId === '' ? null : ctx.settings.vatId },
    customer: { country: ctx.customer.country, postcode: ctx.customer.postcode === '' ? null : ctx.customer.postcode, vatId: ctx.customer.vatId === '' ? null : ctx.customer.vatId },
    date: taxDateOf(nowMs),
  }));
  const priced = priceInvoice(discounted, calculation);
  const zero = money(0n, sub.currency);
  return {
    id, number: null, status: 'draft', customerId: sub.customerId, subscriptionId: sub.id, currency: sub.currency,
    lines: priced.lines, discounts: discounted.discounts, totals: priced.totals, taxCalculation: calculation,
    periodStartMs: period.startMs, periodEndMs: period.endMs, createdAtMs: nowMs, finalizedAtMs: null, paidAtMs: null, voidedAtMs: null, markedUncollectibleAtMs: null,
    tenantId, amountPaidMinor: zero.amountMinor, amountCreditedMinor: 0n, netCreditedMinor: 0n, taxCreditedMinor: 0n,
    attemptCount: 0, firstFailedAtMs: null, nextAttemptAtMs: null, paymentId: '', testClockId: sub.testClockId, traceId: '',
  };
}

/** The renewal invoice's id: one per subscription and period start (the idempotency of billingRun). */
export function renewalInvoiceId(tenantId: string, subscriptionId: string, periodStartMs: number): string {
  return derivedId('inv', [tenantId, subscriptionId, 'period', String(periodStartMs)]);
}

// ---- finalization -----------------------------------------------------------------------------

/** A subscription's next step, decided from what was read before the transaction. */
export type RenewalStep =
  | { kind: 'cancel'; sub: Subscription }
  | { kind: 'renew'; sub: Subscription; invoice: Invoice; periodIndex: number; period: { startMs: number; endMs: number } };

/** What is left to collect on an invoice: total less customer credit applied, credit notes and payments. */
export function amountDueMinor(invoice: Invoice): bigint {
  const due = invoice.totals.total.amountMinor - (invoice.creditAppliedMinor ?? 0n) - invoice.amountCreditedMinor - invoice.amountPaidMinor;
  return due > 0n ? due : 0n;
}

/**
 * What finalizing `draft` under `number` at `nowMs` makes: the open invoice, or, when nothing is
 * due after `creditAppliedMinor` (customer credit used; negative: a negative total carried to the
 * customer's credit), the paid one: never charged, never dunned.
 */
export function finalized(draft: Invoice, number: string, nowMs: number, chargeable: boolean, trace: TraceIds, creditAppliedMinor = 0n): Invoice {
  const open = { ...finalizeInvoice(draft, number, nowMs), traceId: trace.traceId, ...(creditAppliedMinor !== 0n && { creditAppliedMinor }) } as Invoice;
  if (open.totals.total.amountMinor - creditAppliedMinor <= 0n) return { ...markInvoicePaid(open, nowMs), nextAttemptAtMs: null } as Invoice;
  return { ...open, nextAttemptAtMs: chargeable ? nowMs : null };
}

/** Customer credit balances read in one transaction (`customerId:currency` -> minor units), with the changed ones. */
export interface CreditBook { balances: Map<string, bigint>; changed: Set<string> }
export const newCreditBook = (): CreditBook => ({ balances: new Map(), changed: new Set() });

/**
 * Finalizes `draft` inside `tx` with the customer's credit balance (Stripe's customer balance):
 * a negative total is carried to the credit (amount due 0); a positive total uses what credit
 * there is first. Returns the invoice and its planned ledger entries (finalization, customer
 * credit); the caller commits them and then `writeCredits` (the balances read and written in the
 * same transaction as the invoice: a rerun finds the invoice and applies nothing twice).
 */
export async function finalizeWithCredit(
  deps: BillingDeps, tx: BillingTx, lane: number, tenantId: string, draft: Invoice, number: string, nowMs: number, chargeable: boolean, trace: TraceIds, book: CreditBook,
): Promise<{ invoice: Invoice; plans: PlannedEntry[] }> {
  const creditKey = `${draft.customerId}:${draft.currency}`;
  const total = draft.totals.total.amountMinor;
  let balance = book.balances.get(creditKey);
  if (balance === undefined && (total < 0n || total > 0n)) {
    balance = await tx.getCustomerCredit(draft.customerId, draft.currency);
    book.balances.set(creditKey, balance);
  }
  const applied = total < 0n ? total : total > 0n && balance! > 0n ? (balance! < total ? balance! : total) : 0n;
  const invoice = finalized(draft, number, nowMs, chargeable, trace, applied);
  const ref = { id: invoice.id, number: invoice.number!, currency: invoice.currency };
  const entries = [
    finalizationEntry({ ...ref, netMinor: invoice.totals.totalExcludingTax.amountMinor, taxMinor: invoice.totals.taxTotal.amountMinor }),
    customerCreditEntry(ref, applied),
  ];
  const plans: PlannedEntry[] = [];
  for (const entry of entries) if (entry !== null) plans.push(await planEntry(deps.payments.ledger, tx.ledger, lane, tenantId, entry, trace));
  if (applied !== 0n) {
    book.balances.set(creditKey, balance! - applied);
    book.changed.add(creditKey);
  }
  return { invoice, plans };
}

/** Writes the balances `book` changed. */
export function writeCredits(tx: BillingTx, book: CreditBook): void {
  for (const k of book.changed) {
    const at = k.lastIndexOf(':');
    tx.setCustomerCredit(k.slice(0, at), k.slice(at + 1), book.balances.get(k)!);
  }
}

/**
 * Applies `steps` (subscriptions of one tenant, each still due at `nowMs` and unchanged since it
 * was read) in ONE transaction: each renewal's invoice takes the next number of the tenant's
 * counter, is finalized, and posts its ledger entry; the subscription moves to its new period.
 * A subscription changed meanwhile, or whose invoice exists, is skipped (the next round decides
 * again): numbers are taken only by invoices committed with them, so there is never a gap.
 */
export async function applyRenewals(deps: BillingDeps, tenantId: string, steps: readonly RenewalStep[], settings: BillingSettings, nowMs: number, trace: TraceIds): Promise<{ finalized: Invoice[]; canceled: number }> {
  const ledger = deps.payments.ledger;
  await Promise.all([...new Set(steps.filter((s) => s.kind === 'renew').map((s) => s.sub.currency))].map((c) => ensureBillingAccounts(deps, tenantId, c)));
  return ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const [current, existing, counter] = await Promise.all([
      tx.getSubscriptions(steps.map((s) => s.sub.id)),
      tx.getInvoices(steps.flatMap((s) => (s.kind === 'renew' ? [s.invoice.id] : []))),
      tx.getInvoiceCounter(),
    ]);
    let last = counter;
    const credits = newCreditBook();
    const writes: (() => void)[] = [];
    const done: Invoice[] = [];
    let canceled = 0;
    for (const step of steps) {
      const sub = current.get(step.sub.id);
      if (!sub || sub.updatedAtMs !== step.sub.updatedAtMs || sub.nextActionAtMs === null || sub.nextActionAtMs > nowMs) continue;
      if (step.kind === 'cancel') {
        const next: Subscription = { ...sub, status: transitionSubscription(sub.status, 'canceled', sub.id), canceledAtMs: sub.currentPeriodEndMs, nextActionAtMs: null, updatedAtMs: deps.clock.nowMs() };
        writes.push(() => {
          tx.setSubscription(next, trace);
          tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.canceled', sub.id, String(sub.currentPeriodEndMs), subscriptionPayload(next, nowMs), trace));
        });
        canceled += 1;
        continue;
      }
      if (existing.has(step.invoice.id)) {
        // Unreachable while the invoice and the period move together; say so instead of billing twice.
        deps.logger.error('renewal invoice exists for a subscription still due: skipped', { tenantId, subscriptionId: sub.id, invoiceId: step.invoice.id });
        continue;
      }
      last += 1;
      const chargeable = sub.status !== 'unpaid';
      const { invoice, plans } = await finalizeWithCredit(deps, tx, lane, tenantId, step.invoice, formatInvoiceNumber(settings.invoicePrefix, last), nowMs, chargeable, trace, credits);
      const status: SubscriptionStatus = sub.status === 'trialing' ? transitionSubscription(sub.status, 'active', sub.id) : sub.status;
      const next: Subscription = {
        ...sub, status, periodIndex: step.periodIndex, currentPeriodStartMs: step.period.startMs, currentPeriodEndMs: step.period.endMs,
        latestInvoiceId: invoice.id, couponUses: sub.couponUses + (invoice.discounts.length > 0 ? 1 : 0), nextActionAtMs: step.period.endMs, updatedAtMs: deps.clock.nowMs(),
        pendingProrations: [], // now on this invoice (drafted from the copy compared by updatedAtMs)
      };
      done.push(invoice);
      writes.push(() => {
        for (const plan of plans) plan.commit();
        tx.setInvoice(invoice, trace);
        tx.setSubscription(next, trace);
        tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.finalized', invoice.id, 'finalized', invoicePayload(invoice, nowMs), trace));
        if (invoice.status === 'paid') tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.paid', invoice.id, 'paid', invoicePayload(invoice, nowMs), trace));
        tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.renewed', sub.id, String(step.period.startMs), subscriptionPayload(next, nowMs), trace));
      });
    }
    if (last !== counter) writes.push(() => tx.setInvoiceCounter(last));
    writes.push(() => writeCredits(tx, credits));
    for (const write of writes) write();
    return { finalized: done, canceled };
  }));
}

// ---- payment outcomes -------------------------------------------------------------------------

/** A charge attempt's outcome, as billing records it. */
export type ChargeOutcome =
  | { kind: 'paid'; paymentId: string }
  | { kind: 'failed'; paymentId: string; reason: string }
  /** The PSP's answer is not known yet (the janitor or a webhook settles the payment): look again later. */
  | { kind: 'pending'; paymentId: string; recheckAtMs: number };

/** One attempt to record: attempt number `attempt` of invoice `invoiceId` ended with `outcome`. */
export interface AttemptResult {
  invoiceId: string; attempt: number; outcome: ChargeOutcome;
  /** The invoice's currency: its billing accounts are ensured before recording (a write-off needs bad debt's). */
  currency?: string;
  /** An attempt asked for through PayInvoice: a failure is counted but moves neither the dunning schedule nor the subscription. */
  manual?: boolean;
}

/**
 * Records charge attempts of one tenant's invoices in ONE transaction (billingRun records a chunk
 * at a time): paid settles the receivable and makes the subscription active; failed schedules the
 * next dunning retry (past_due) or, retries exhausted, applies the tenant's final status. Idempotent:
 * an attempt already recorded (the invoice moved on) is left as it is.
 */
export async function recordChargeOutcomes(
  deps: BillingDeps, tenantId: string, results: readonly AttemptResult[], settings: BillingSettings, nowMs: number, trace: TraceIds,
): Promise<Map<string, Invoice>> {
  const ledger = deps.payments.ledger;
  // The write-off's bad debt account may be newer than the invoice's finalization (cached per instance: usually no read).
  await Promise.all([...new Set(results.flatMap((r) => (r.currency === undefined ? [] : [r.currency])))].map((c) => ensureBillingAccounts(deps, tenantId, c)));
  return ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const invoices = await tx.getInvoices(results.map((r) => r.invoiceId));
    const subs = await tx.getSubscriptions([...invoices.values()].flatMap((i) => (i.subscriptionId === null ? [] : [i.subscriptionId])));
    const writes: (() => void)[] = [];
    const after = new Map<string, Invoice>();
    for (const { invoiceId, attempt, outcome, manual } of results) {
      const invoice = invoices.get(invoiceId);
      // An uncollectible invoice takes only a payment asked for (PayInvoice); billingRun never charges it.
      const payable = invoice?.status === 'open' || (manual === true && invoice?.status === 'uncollectible');
      if (!invoice || !payable || invoice.attemptCount !== attempt - 1) continue;
      const sub = invoice.subscriptionId === null ? undefined : subs.get(invoice.subscriptionId);
      const decided = await decideOutcome(deps, tx, lane, tenantId, invoice, sub, attempt, outcome, settings, nowMs, trace, manual === true);
      after.set(invoiceId, decided.invoice);
      if (decided.sub) subs.set(decided.sub.id, decided.sub);
      writes.push(decided.write);
    }
    for (const write of writes) write();
    return after;
  }));
}

/** Attempt `attempt` of `invoice` (open, not recorded yet): the invoice and subscription after it, and its writes. */
async function decideOutcome(
  deps: BillingDeps, tx: BillingTx, lane: number, tenantId: string, invoice: Invoice, sub: Subscription | undefined, attempt: number,
  outcome: ChargeOutcome, settings: BillingSettings, nowMs: number, trace: TraceIds, manual = false,
): Promise<{ invoice: Invoice; sub?: Subscription; write: () => void }> {
  if (outcome.kind === 'pending') {
    // The attempt is not counted yet: the recheck looks at this payment under the same attempt number.
    // (An uncollectible invoice is off the charge queue: a PayInvoice whose outcome is unknown is asked again by the caller.)
    const next: Invoice = { ...invoice, paymentId: outcome.paymentId, nextAttemptAtMs: outcome.recheckAtMs };
    return { invoice: next, write: () => tx.setInvoice(next, trace) };
  }
  if (outcome.kind === 'paid') {
    const amountMinor = invoice.totals.total.amountMinor - (invoice.creditAppliedMinor ?? 0n) - invoice.amountCreditedMinor;
    const ref = { id: invoice.id, number: invoice.number!, currency: invoice.currency };
    // Paid after being written off: the write-off is reversed first, then the payment settles the receivable as usual.
    const writtenOff = invoice.status === 'uncollectible' ? invoice.amountWrittenOffMinor ?? 0n : 0n;
    const reversal = writtenOff > 0n ? uncollectibleEntry(ref, writtenOff, true) : null;
    const reversalPlan = reversal === null ? null : await planEntry(deps.payments.ledger, tx.ledger, lane, tenantId, reversal, trace);
    const entry = paymentEntry(ref, amountMinor, outcome.paymentId);
    const plan = entry === null ? null : await planEntry(deps.payments.ledger, tx.ledger, lane, tenantId, entry, trace);
    const paid: Invoice = { ...(markInvoicePaid(invoice, nowMs) as Invoice), amountPaidMinor: amountMinor, paymentId: outcome.paymentId, attemptCount: attempt, nextAttemptAtMs: null };
    const reactivate = sub && sub.status !== 'active' && sub.status !== 'canceled' && sub.status !== 'paused' && sub.latestInvoiceId === invoice.id;
    const active: Subscription | undefined = reactivate ? { ...sub, status: transitionSubscription(sub.status, 'active', sub.id), updatedAtMs: deps.clock.nowMs() } : undefined;
    return {
      invoice: paid, ...(active && { sub: active }),
      write: () => {
        reversalPlan?.commit();
        plan?.commit();
        tx.setInvoice(paid, trace);
        tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.paid', invoice.id, 'paid', invoicePayload(paid, nowMs), trace));
        if (active) {
          tx.setSubscription(active, trace);
          tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.updated', active.id, `active:${invoice.id}`, subscriptionPayload(active, nowMs), trace));
        }
      },
    };
  }
  if (manual) {
    // A payment asked for that failed: counted and announced; the schedule, the invoice's status and the subscription stay as they were.
    const failedNow: Invoice = { ...invoice, attemptCount: attempt, manualAttemptCount: (invoice.manualAttemptCount ?? 0) + 1, paymentId: outcome.paymentId };
    return {
      invoice: failedNow,
      write: () => {
        tx.setInvoice(failedNow, trace);
        tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.payment_failed', invoice.id, `attempt:${attempt}`, { ...invoicePayload(failedNow, nowMs), reason: outcome.reason, manual: true, nextAttemptAtMs: failedNow.nextAttemptAtMs }, trace));
      },
    };
  }
  const firstFailedAtMs = invoice.firstFailedAtMs ?? nowMs;
  // Attempts asked for through PayInvoice take no slot of the schedule.
  const delayDays = settings.dunning.retryDelaysDays[attempt - 1 - (invoice.manualAttemptCount ?? 0)];
  const retried: Invoice = {
    ...invoice, attemptCount: attempt, firstFailedAtMs, paymentId: outcome.paymentId,
    nextAttemptAtMs: delayDays === undefined ? null : firstFailedAtMs + delayDays * 86_400_000,
  };
  // The schedule used up: the invoice is given up on (Stripe's "mark the invoice as uncollectible"),
  // its amount due written off to bad debt in this transaction (ADR 0035).
  const exhausted = delayDays === undefined;
  const writtenOffMinor = exhausted ? amountDueMinor(invoice) : 0n;
  const failed: Invoice = exhausted ? { ...(markInvoiceUncollectible(retried, nowMs) as Invoice), amountWrittenOffMinor: writtenOffMinor } : retried;
  const writeOff = exhausted ? uncollectibleEntry({ id: invoice.id, number: invoice.number ?? '', currency: invoice.currency }, writtenOffMinor) : null;
  const writeOffPlan = writeOff === null ? null : await planEntry(deps.payments.ledger, tx.ledger, lane, tenantId, writeOff, trace);
  let next: Subscription | undefined;
  if (sub && sub.status !== 'canceled' && sub.status !== 'paused') {
    const target: SubscriptionStatus = delayDays !== undefined ? 'past_due' : settings.dunning.finalStatus;
    // trialing/active -> past_due first: the machine has no direct trialing -> unpaid.
    let status: SubscriptionStatus = sub.status;
    if (status !== target && status !== 'past_due' && target !== 'canceled') status = transitionSubscription(status, 'past_due', sub.id);
    if (status !== target) status = transitionSubscription(status, target, sub.id);
    if (status !== sub.status) {
      next = { ...sub, status, updatedAtMs: deps.clock.nowMs(), ...(status === 'canceled' ? { canceledAtMs: nowMs, nextActionAtMs: null } : {}) };
    }
  }
  return {
    invoice: failed, ...(next && { sub: next }),
    write: () => {
      writeOffPlan?.commit();
      tx.setInvoice(failed, trace);
      tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.payment_failed', invoice.id, `attempt:${attempt}`, { ...invoicePayload(failed, nowMs), reason: outcome.reason, nextAttemptAtMs: failed.nextAttemptAtMs }, trace));
      if (exhausted) {
        tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.marked_uncollectible', invoice.id, 'uncollectible', { ...invoicePayload(failed, nowMs), amountWrittenOffMinor: writtenOffMinor.toString() }, trace));
      }
      if (next) {
        tx.setSubscription(next, trace);
        tx.createOutboxEvent(billingEvent(deps, `billing.subscription.${next.status === 'canceled' ? 'canceled' : 'updated'}`, next.id, `${next.status}:${invoice.id}:${attempt}`, subscriptionPayload(next, nowMs), trace));
      }
    },
  };
}

// ---- credit notes and voids -------------------------------------------------------------------

/**
 * A credit note of `amountMinor` (tax included) against a finalized invoice: its tax share is the
 * invoice's tax in proportion, computed on running totals (round(tax * credited / total) minus what
 * was credited before), so credit notes adding up to the total reverse exactly the invoice's tax.
 */
export async function createCreditNote(
  deps: BillingDeps, tenantId: string, input: { invoiceId: string; amountMinor: bigint; reason: string; creditNoteId: string }, trace: TraceIds,
): Promise<{ note: CreditNote; invoice: Invoice }> {
  const ledger = deps.payments.ledger;
  return ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const existing = await tx.getCreditNote(input.creditNoteId);
    const invoice = (await tx.getInvoices([input.invoiceId])).get(input.invoiceId);
    if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${input.invoiceId} not found`, { field: 'invoice_id' });
    if (existing) return { note: existing, invoice };
    if (invoice.status !== 'open' && invoice.status !== 'paid') {
      throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoice.id} is ${invoice.status}: only open or paid invoices take credit notes`, { field: 'invoice_id', from: invoice.status });
    }
    const total = invoice.totals.total.amountMinor;
    const left = total - invoice.amountCreditedMinor;
    if (input.amountMinor < 1n || input.amountMinor > left) throw invalidField('amount_minor', `1..${left} (what is left to credit)`);
    const creditedAfter = invoice.amountCreditedMinor + input.amountMinor;
    // Running share, half-up on the cumulative amount: the last credit note takes exactly what is left.
    const taxAfter = creditedAfter === total ? invoice.totals.taxTotal.amountMinor : (invoice.totals.taxTotal.amountMinor * creditedAfter * 2n + total) / (2n * total);
    const taxMinor = taxAfter - invoice.taxCreditedMinor;
    const note: CreditNote = { id: input.creditNoteId, invoiceId: invoice.id, amountMinor: input.amountMinor, netMinor: input.amountMinor - taxMinor, taxMinor, reason: input.reason, createdAtMs: deps.clock.nowMs() };
    const entry = creditNoteEntry(note, { id: invoice.id, number: invoice.number ?? '', currency: invoice.currency }, invoice.status === 'paid');
    const plan = entry === null ? null : await planEntry(ledger, tx.ledger, lane, tenantId, entry, trace);
    // A paid invoice's credit is owed to the customer: the stored balance the next invoices draw on
    // grows with the ledger's customer-credit account (read here, before the first write).
    const creditBeforeMinor = invoice.status === 'paid' ? await tx.getCustomerCredit(invoice.customerId, invoice.currency) : undefined;
    const credited: Invoice = { ...invoice, amountCreditedMinor: creditedAfter, taxCreditedMinor: taxAfter, netCreditedMinor: invoice.netCreditedMinor + note.netMinor };
    // An open invoice credited in full owes nothing: it is settled (paid, as Stripe), so that no
    // charge of nothing is attempted and no dunning starts; its subscription is active again.
    const settled = invoice.status === 'open' && creditedAfter + invoice.amountPaidMinor + (invoice.creditAppliedMinor ?? 0n) >= total;
    const after: Invoice = settled ? { ...(markInvoicePaid(credited, note.createdAtMs) as Invoice), nextAttemptAtMs: null } : credited;
    const sub = settled && invoice.subscriptionId !== null ? (await tx.getSubscriptions([invoice.subscriptionId])).get(invoice.subscriptionId) : undefined;
    const reactivate = sub && (sub.status === 'past_due' || sub.status === 'unpaid') && sub.latestInvoiceId === invoice.id;
    const active: Subscription | undefined = reactivate ? { ...sub, status: transitionSubscription(sub.status, 'active', sub.id), updatedAtMs: deps.clock.nowMs() } : undefined;
    plan?.commit();
    if (creditBeforeMinor !== undefined) tx.setCustomerCredit(invoice.customerId, invoice.currency, creditBeforeMinor + note.amountMinor);
    tx.createCreditNote(note, trace);
    tx.setInvoice(after, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.credit_note.created', invoice.id, note.id, { ...invoicePayload(after, deps.clock.nowMs()), creditNoteId: note.id, amountMinor: note.amountMinor.toString(), taxMinor: note.taxMinor.toString() }, trace));
    if (settled) tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.paid', invoice.id, 'paid', invoicePayload(after, deps.clock.nowMs()), trace));
    if (active) {
      tx.setSubscription(active, trace);
      tx.createOutboxEvent(billingEvent(deps, 'billing.subscription.updated', active.id, `active:${invoice.id}`, subscriptionPayload(active, deps.clock.nowMs()), trace));
    }
    return { note, invoice: after };
  }));
}

/** Voids an open invoice nothing was paid on: what is left of its ledger entry is reversed. */
export async function voidInvoice(deps: BillingDeps, tenantId: string, invoiceId: string, trace: TraceIds): Promise<Invoice> {
  const ledger = deps.payments.ledger;
  return ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const invoice = (await tx.getInvoices([invoiceId])).get(invoiceId);
    if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${invoiceId} not found`, { field: 'invoice_id' });
    if (invoice.status === 'void') return invoice;
    const voided = { ...(voidInvoiceDomain(invoice, deps.clock.nowMs()) as Invoice), nextAttemptAtMs: null };
    const entry = voidEntry({ id: invoice.id, number: invoice.number ?? '', currency: invoice.currency },
      invoice.totals.totalExcludingTax.amountMinor - invoice.netCreditedMinor, invoice.totals.taxTotal.amountMinor - invoice.taxCreditedMinor);
    const plan = entry === null ? null : await planEntry(ledger, tx.ledger, lane, tenantId, entry, trace);
    // Customer credit applied to it goes back to the customer's balance (the void credits the whole receivable).
    const applied = invoice.creditAppliedMinor ?? 0n;
    const returned = applied > 0n ? customerCreditEntry({ id: invoice.id, number: invoice.number ?? '', currency: invoice.currency }, -applied, true) : null;
    const balance = returned === null ? 0n : await tx.getCustomerCredit(invoice.customerId, invoice.currency);
    const returnPlan = returned === null ? null : await planEntry(ledger, tx.ledger, lane, tenantId, returned, trace);
    // An uncollectible invoice's write-off is undone first: the void then reverses its entry as for an open one.
    const writtenOff = invoice.amountWrittenOffMinor ?? 0n;
    const reversal = writtenOff > 0n ? uncollectibleEntry({ id: invoice.id, number: invoice.number ?? '', currency: invoice.currency }, writtenOff, true) : null;
    const reversalPlan = reversal === null ? null : await planEntry(ledger, tx.ledger, lane, tenantId, reversal, trace);
    reversalPlan?.commit();
    plan?.commit();
    returnPlan?.commit();
    if (returned !== null) tx.setCustomerCredit(invoice.customerId, invoice.currency, balance + applied);
    tx.setInvoice(voided, trace);
    tx.createOutboxEvent(billingEvent(deps, 'billing.invoice.voided', invoice.id, 'void', invoicePayload(voided, deps.clock.nowMs()), trace));
    return voided;
  }));
}

/** A request's hash for keys billing makes itself (charges). */
export const hashOf = (parts: readonly string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex');

export type { BillingTx };
