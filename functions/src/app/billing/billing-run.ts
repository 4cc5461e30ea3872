/**
 * billingRun (issue 14 item 6, ADR 0032): renews due subscriptions and charges due invoices, in
 * bounded batches, on real time or on one test clock.
 *
 * Idempotent per subscription and period: a renewal's invoice id derives from (subscription,
 * period start), and the subscription moves to its next period in the very transaction that
 * finalizes that invoice; a second run finds the subscription no longer due. After an outage each
 * round renews every overdue subscription by one period, so rounds catch up period by period.
 * A charge's payment is keyed by (invoice, attempt number): a crash between the PSP call and the
 * recording transaction reruns under the same key and finds the same payment, never a second charge.
 */
import { TallyError } from '../../domain/errors.js';
import type { PaymentIntent } from '../../domain/payments/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { BillingSettings, DueRef, Invoice, Subscription } from '../../ports/billing-store.js';
import * as payments from '../payments/index.js';
import type { BillingDeps } from './billing-deps.js';
import {
  amountDueMinor, applyRenewals, draftInvoice, hashOf, loadDraftContext, periodOf, recordChargeOutcomes, renewalInvoiceId, renewalLines, settingsOf,
  memo, type AttemptResult, type ChargeOutcome, type RenewalStep, type RunReads,
} from './invoicing.js';

/** What one run did. `more`: it stopped at its round bound with work still due (the next tick goes on). */
export interface BillingRunReport {
  rounds: number; finalized: number; canceled: number; chargeAttempts: number; paid: number; failed: number; pending: number; errors: number; more: boolean;
  /** Time spent renewing (drafting, finalizing) and charging (PSP calls, recording), in ms. */
  renewMs: number; chargeMs: number;
  /** The first failure counted in `errors` (logged; a test clock's advance answers with it). */
  firstError?: unknown;
}

/** A report of nothing done yet. */
export const emptyReport = (): BillingRunReport => ({ rounds: 0, finalized: 0, canceled: 0, chargeAttempts: 0, paid: 0, failed: 0, pending: 0, errors: 0, more: false, renewMs: 0, chargeMs: 0 });

/**
 * Where a run looks: real time over every tenant, one tenant's test clock at its time, or one
 * subscription (its creation bills its first period through the same path).
 */
export type RunScope =
  | { kind: 'real'; nowMs: number }
  | { kind: 'clock'; tenantId: string; testClockId: string; nowMs: number }
  | { kind: 'subscription'; tenantId: string; subscriptionId: string; testClockId: string; nowMs: number };

async function dueOf(deps: BillingDeps, scope: RunScope, limit: number): Promise<[DueRef[], DueRef[]]> {
  if (scope.kind === 'subscription') {
    const sub = await deps.store.getSubscription(scope.tenantId, scope.subscriptionId);
    const invoice = sub && sub.latestInvoiceId !== '' ? await deps.store.getInvoice(scope.tenantId, sub.latestInvoiceId) : undefined;
    const due = (atMs: number | null | undefined) => atMs !== null && atMs !== undefined && atMs <= scope.nowMs;
    return [
      sub && due(sub.nextActionAtMs) ? [{ tenantId: scope.tenantId, id: sub.id, dueAtMs: sub.nextActionAtMs! }] : [],
      invoice && invoice.status === 'open' && due(invoice.nextAttemptAtMs) ? [{ tenantId: scope.tenantId, id: invoice.id, dueAtMs: invoice.nextAttemptAtMs! }] : [],
    ];
  }
  const clock = scope.kind === 'clock' ? { tenantId: scope.tenantId, testClockId: scope.testClockId } : undefined;
  return Promise.all([deps.store.dueSubscriptions(scope.nowMs, limit, clock), deps.store.dueInvoices(scope.nowMs, limit, clock)]);
}

/** Runs up to `runRoundsMax` rounds of renewals then charges, until nothing is due at `scope.nowMs`. */
export async function runBilling(deps: BillingDeps, scope: RunScope, trace: TraceIds): Promise<BillingRunReport> {
  const report = emptyReport();
  const reads: RunReads = new Map();
  const { runBatchMax, runRoundsMax } = deps.limits;
  for (;;) {
    const [subs, invoices] = await dueOf(deps, scope, runBatchMax);
    if (subs.length === 0 && invoices.length === 0) break;
    if (report.rounds >= runRoundsMax) {
      // The bound is hit with work left: said loudly; the next tick continues where this one stopped.
      report.more = true;
      deps.logger.warn('billingRun stopped at its round bound with work still due', { rounds: report.rounds, dueSubscriptions: subs.length, dueInvoices: invoices.length });
      break;
    }
    report.rounds += 1;
    const before = report.finalized + report.canceled + report.chargeAttempts;
    // The round's renewals and the charges due at its start run side by side (distinct documents);
    // the invoices finalized now are charged by the next round.
    const timed = async (work: Promise<void>, field: 'renewMs' | 'chargeMs') => {
      const started = performance.now();
      await work;
      report[field] += Math.round(performance.now() - started);
    };
    await Promise.all([timed(renewDue(deps, subs, scope, trace, report, reads), 'renewMs'), timed(chargeDue(deps, invoices, scope, trace, report, reads), 'chargeMs')]);
    // A round that moved nothing (every item failed) would spin: stop and leave them to the next tick.
    if (report.finalized + report.canceled + report.chargeAttempts === before) {
      report.more = true;
      break;
    }
  }
  return report;
}

/** Bounded parallel map: at most `limit` at once. */
async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

function byTenant(refs: readonly DueRef[]): Map<string, DueRef[]> {
  const map = new Map<string, DueRef[]>();
  for (const ref of refs) map.set(ref.tenantId, [...(map.get(ref.tenantId) ?? []), ref]);
  return map;
}

/** Renewals: tenants in parallel; one tenant's chunks one after the other (they share its counter). */
async function renewDue(deps: BillingDeps, refs: readonly DueRef[], scope: RunScope, trace: TraceIds, report: BillingRunReport, reads: RunReads): Promise<void> {
  await forEachBounded([...byTenant(refs)], deps.limits.concurrencyMax, async ([tenantId, tenantRefs]) => {
    const settings = await settingsOf(deps, tenantId);
    for (let i = 0; i < tenantRefs.length; i += deps.limits.finalizeChunkMax) {
      const chunk = tenantRefs.slice(i, i + deps.limits.finalizeChunkMax);
      try {
        // One subscription that cannot be drafted (its usage over the bound, a tax hook that fails it)
        // must not hold back the rest of its chunk every run: it is counted, logged and skipped.
        const steps = (await Promise.all(chunk.map(async (ref) => {
          try {
            return await stepOf(deps, tenantId, ref.id, settings, scope.nowMs, reads, ref.state);
          } catch (error) {
            report.errors += 1;
            report.firstError ??= error;
            deps.logger.error('billingRun: drafting a renewal failed; retried next run', { tenantId, subscriptionId: ref.id, error });
            return null;
          }
        }))).filter((s) => s !== null);
        const result = await applyRenewals(deps, tenantId, steps, settings, scope.nowMs, trace);
        report.finalized += result.finalized.length;
        report.canceled += result.canceled;
      } catch (error) {
        report.errors += 1;
        report.firstError ??= error;
        deps.logger.error('billingRun: renewals failed; retried next run', { tenantId, error });
      }
    }
  });
}

/** The next step of one due subscription, drafted outside the transaction (tax may call out). */
async function stepOf(deps: BillingDeps, tenantId: string, subscriptionId: string, settings: BillingSettings, nowMs: number, reads: RunReads, asQueued?: unknown): Promise<RenewalStep | null> {
  // As the queue read it: a copy changed since is skipped by the transaction (it compares updatedAtMs).
  const sub = (asQueued as Subscription | undefined) ?? await deps.store.getSubscription(tenantId, subscriptionId);
  if (!sub || sub.nextActionAtMs === null || sub.nextActionAtMs > nowMs) return null;
  if (sub.status === 'canceled' || sub.status === 'paused') return null;
  // A trial is a period too: canceled at its end, it ends with the trial, never invoiced (as Stripe).
  if (sub.cancelAtPeriodEnd) return { kind: 'cancel', sub };
  const periodIndex = sub.periodIndex + 1;
  const period = periodOf(sub, periodIndex);
  const ctx = { ...(await loadDraftContext(deps, tenantId, sub, reads)), settings };
  // Metered usage is billed in arrears for the period that ends now (none before the first period: trial or creation).
  const usagePeriod = sub.periodIndex < 0 ? null : { startMs: sub.currentPeriodStartMs, endMs: sub.currentPeriodEndMs };
  const lines = await renewalLines(deps, tenantId, sub, ctx, period, usagePeriod);
  const invoice = await draftInvoice(deps, tenantId, sub, ctx, lines, period, renewalInvoiceId(tenantId, sub.id, period.startMs), nowMs);
  return { kind: 'renew', sub, invoice, periodIndex, period };
}

/**
 * Charges: the attempts in parallel (bounded), then each tenant's outcomes recorded a chunk per
 * transaction (a payment is keyed by invoice and attempt: a crash between the two reruns the
 * attempt under the same key and finds the same payment).
 */
async function chargeDue(deps: BillingDeps, refs: readonly DueRef[], scope: RunScope, trace: TraceIds, report: BillingRunReport, reads: RunReads): Promise<void> {
  const settingsByTenant = new Map<string, Promise<BillingSettings>>();
  const settingsFor = (tenantId: string) => {
    if (!settingsByTenant.has(tenantId)) settingsByTenant.set(tenantId, settingsOf(deps, tenantId));
    return settingsByTenant.get(tenantId)!;
  };
  const attempted = new Map<string, AttemptResult[]>();
  await forEachBounded(refs, deps.limits.concurrencyMax, async (ref) => {
    try {
      const result = await chargeInvoice(deps, ref.tenantId, ref.id, scope.nowMs, trace, ref.state as Invoice | undefined, reads);
      if (result !== null) attempted.set(ref.tenantId, [...(attempted.get(ref.tenantId) ?? []), result]);
    } catch (error) {
      report.errors += 1;
      report.firstError ??= error;
      deps.logger.error('billingRun: charge failed; retried next run', { tenantId: ref.tenantId, invoiceId: ref.id, error });
    }
  });
  const chunks = [...attempted].flatMap(([tenantId, results]) => Array.from({ length: Math.ceil(results.length / deps.limits.finalizeChunkMax) },
    (_, i) => ({ tenantId, results: results.slice(i * deps.limits.finalizeChunkMax, (i + 1) * deps.limits.finalizeChunkMax) })));
  await forEachBounded(chunks, deps.limits.concurrencyMax, async ({ tenantId, results }) => {
    try {
      const recorded = await recordChargeOutcomes(deps, tenantId, results, await settingsFor(tenantId), scope.nowMs, trace);
      for (const r of results) {
        if (!recorded.has(r.invoiceId)) continue; // recorded by another run meanwhile
        report.chargeAttempts += 1;
        report[r.outcome.kind] += 1;
      }
    } catch (error) {
      report.errors += 1;
      report.firstError ??= error;
      deps.logger.error('billingRun: recording charges failed; the attempts rerun under their keys next run', { tenantId, error });
    }
  });
}

/** How long an attempt whose PSP outcome is unknown waits before billing looks at its payment again. */
export const PENDING_RECHECK_MS = 15 * 60_000;

/** Reasons that say the attempt did not happen at all and may run again under the same key soon. */
const transientReasons = new Set(['CONTENTION', 'IDEMPOTENCY_KEY_IN_PROGRESS']);

/**
 * One charge attempt of a due invoice through PaymentsService's use cases (off-session, automatic
 * capture, the customer's default payment method): routing, failover, limits and the idempotency
 * of a one-call checkout all apply. Returns null when the invoice is no longer due; the caller
 * records the outcome (`recordChargeOutcomes`).
 */
export async function chargeInvoice(
  deps: BillingDeps, tenantId: string, invoiceId: string, nowMs: number, trace: TraceIds, asQueued?: Invoice, reads?: RunReads,
): Promise<AttemptResult | null> {
  // As the queue read it: a stale copy only costs an attempt its recording refuses (attempt numbers).
  const invoice = asQueued ?? await deps.store.getInvoice(tenantId, invoiceId);
  if (!invoice || invoice.status !== 'open' || invoice.nextAttemptAtMs === null || invoice.nextAttemptAtMs > nowMs) return null;
  const attempt = invoice.attemptCount + 1;
  return { invoiceId, attempt, currency: invoice.currency, outcome: await attemptCharge(deps, tenantId, invoice, attempt, nowMs, trace, reads) };
}

function outcomeOfPayment(intent: PaymentIntent, nowMs: number): ChargeOutcome {
  switch (intent.status) {
    case 'succeeded': return { kind: 'paid', paymentId: intent.id };
    case 'processing': case 'requires_capture': case 'requires_confirmation':
      return { kind: 'pending', paymentId: intent.id, recheckAtMs: nowMs + PENDING_RECHECK_MS };
    default:
      // requires_action: an off-session charge cannot authenticate the customer; a failure as at Stripe.
      return { kind: 'failed', paymentId: intent.id, reason: intent.declineReason ?? intent.status };
  }
}

/**
 * An attempt asked for now (PayInvoice), on an open or uncollectible invoice, with `paymentMethodId`
 * ('' : the customer's default). Its payment is keyed like billingRun's (invoice, attempt number),
 * so a run charging the same attempt at the same time finds the same payment instead of a second
 * one. The caller records it with `manual` set: a failure does not move the dunning schedule.
 */
export async function chargeInvoiceNow(deps: BillingDeps, tenantId: string, invoice: Invoice, paymentMethodId: string, nowMs: number, trace: TraceIds): Promise<AttemptResult> {
  const attempt = invoice.attemptCount + 1;
  return { invoiceId: invoice.id, attempt, currency: invoice.currency, manual: true, outcome: await attemptCharge(deps, tenantId, invoice, attempt, nowMs, trace, undefined, paymentMethodId) };
}

async function attemptCharge(
  deps: BillingDeps, tenantId: string, invoice: Invoice, attempt: number, nowMs: number, trace: TraceIds, reads?: RunReads, paymentMethodOverride = '',
): Promise<ChargeOutcome> {
  // An attempt whose outcome was unknown: its payment decides (settled since by the janitor or a webhook).
  if (invoice.paymentId !== '' && invoice.attemptCount === attempt - 1) {
    const intent = await deps.payments.store.getPayment(tenantId, invoice.paymentId);
    if (intent && intent.metadata.billingAttempt === String(attempt)) return outcomeOfPayment(intent, nowMs);
  }
  const customer = await memo(reads, `${tenantId}/c/${invoice.customerId}`, () => deps.store.getBillingCustomer(tenantId, invoice.customerId));
  const paymentMethodId = paymentMethodOverride !== '' ? paymentMethodOverride : customer?.defaultPaymentMethodId ?? '';
  if (paymentMethodId === '') return { kind: 'failed', paymentId: '', reason: 'no_default_payment_method' };
  const amountMinor = amountDueMinor(invoice);
  const key: payments.CommandKey = {
    ref: { scope: tenantId, method: 'tally.billing.v1.billingRun/Charge', key: `${invoice.id}:${attempt}` },
    requestHash: hashOf([invoice.id, String(attempt), amountMinor.toString(), invoice.currency, paymentMethodId]),
    options: deps.idempotency,
    encode: (intent) => new TextEncoder().encode(intent.id),
  };
  try {
    const result = await payments.createPayment(deps.payments, tenantId, {
      amountMinor, currency: invoice.currency, captureMethod: 'automatic', customerId: invoice.customerId, paymentMethodId,
      metadata: { invoiceId: invoice.id, invoiceNumber: invoice.number ?? '', subscriptionId: invoice.subscriptionId ?? '', billingAttempt: String(attempt) },
      confirm: true,
    }, trace, key);
    const intent = result.kind === 'fresh' ? result.intent : await payments.getPayment(deps.payments, tenantId, new TextDecoder().decode(result.response));
    return outcomeOfPayment(intent, nowMs);
  } catch (error) {
    if (!(error instanceof TallyError) || transientReasons.has(error.reason)) throw error;
    if (error.reason === 'IDEMPOTENCY_KEY_REUSED') {
      // This attempt was started with another payment method (a PayInvoice naming one, or the default
      // changed after a crash) and its payment is not recorded: recording a failure here could leave a
      // captured payment behind and charge again. Not recorded; the attempt reruns under its key.
      throw new TallyError('CONTENTION', `attempt ${attempt} of invoice ${invoice.id} was started with another payment method and is not recorded yet; retry later`, { field: 'invoice_id' });
    }
    // A decline (or no PSP could take it): the payment, when one was made, says how it ended.
    const paymentId = error.metadata.paymentId ?? '';
    return { kind: 'failed', paymentId, reason: error.reason };
  }
}
