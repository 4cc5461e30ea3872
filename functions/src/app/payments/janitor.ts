/** The payment janitor: settles attempts left in flight, captures due automatic captures, rematches parked events. */
import { attemptsToResolve, applyPspOutcome, capturePayment, isCaptureDue } from '../../domain/payments/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { hedgedLookup } from './hedged-lookup.js';
import type { PaymentsDeps } from './payments-deps.js';
import { callPsp, runCalls } from './psp-calls.js';
import { commit } from './transitions.js';
import { rematchParkedEvents } from './webhooks-inbox.js';

/**
 * `paymentJanitor`: settles attempts in flight for longer than `graceMs` (which must exceed the
 * PSP call deadline) by asking the PSP (lookup for payment operations, resend for refunds).
 */
export async function runJanitor(deps: PaymentsDeps, trace: TraceIds, options: { graceMs: number; paymentsMax: number }): Promise<{ examined: number; resolved: number; rematched: number; failures: { paymentId: string; error: string }[] }> {
  if (options.graceMs <= deps.pspCallTimeoutMs) throw new Error('assertion failed: janitor grace must exceed the PSP call deadline');
  const nowMs = deps.clock.nowMs();
  const due = await deps.store.findUnresolved(nowMs - options.graceMs, options.paymentsMax);
  let resolved = 0;
  const failures: { paymentId: string; error: string }[] = [];
  for (const { tenantId, paymentId } of due) {
    let settled = 0;
    try {
      settled = await settlePayment(deps, tenantId, paymentId, nowMs, options.graceMs, trace);
      resolved += settled;
    } catch (error) {
      // One payment that cannot be settled now must not stop the others; it is due again next run.
      failures.push({ paymentId, error: (error as Error).message });
    }
    if (settled > 0) continue;
    // Not settled by this try: behind every other in the queue, so that payments that cannot be
    // settled (however many) never keep the others from being tried (issue 11 item 12).
    try {
      await deps.store.requeueUnresolved(tenantId, paymentId, nowMs);
    } catch (error) {
      failures.push({ paymentId, error: (error as Error).message });
    }
  }
  // Automatic-capture payments whose capture call certainly failed earlier: capture them now.
  const captureDue = await deps.store.findCaptureDue(nowMs - options.graceMs, options.paymentsMax);
  for (const { tenantId, paymentId } of captureDue) {
    try {
      const t = await commit(deps, tenantId, paymentId, trace, (intent) =>
        isCaptureDue(intent) ? capturePayment(intent, {}, deps.clock.nowMs()) : null);
      if (t?.changed) {
        await runCalls(deps, t, trace);
        resolved++;
      }
    } catch (error) {
      failures.push({ paymentId, error: (error as Error).message });
    }
  }
  // Events parked for lack of a known PSP reference: the settlements above may have recorded it.
  let rematched = 0;
  try {
    rematched = await rematchParkedEvents(deps, trace, options.paymentsMax);
  } catch (error) {
    failures.push({ paymentId: '(parked events)', error: (error as Error).message });
  }
  return { examined: due.length + captureDue.length, resolved, rematched, failures };
}

async function settlePayment(deps: PaymentsDeps, tenantId: string, paymentId: string, nowMs: number, graceMs: number, trace: TraceIds): Promise<number> {
  const intent = await deps.store.getPayment(tenantId, paymentId);
  if (!intent) return 0;
  let resolved = 0;
  for (const attempt of attemptsToResolve(intent, nowMs, graceMs)) {
    if (!deps.gateways.get(attempt.psp)) continue;
    const isRefund = attempt.operation === 'refund';
    const outcome = isRefund
      ? await callPsp(deps, attempt.psp, (gw, signal) => gw.refund({
        idempotencyKey: attempt.idempotencyKey, paymentId, refundId: attempt.refundId ?? '', pspReference: intent.pspReference ?? '',
        amountMinor: attempt.amountMinor ?? 0n, currency: intent.currency, signal,
      }))
      : await callPsp(deps, attempt.psp, (gw, signal) =>
        hedgedLookup(gw, { paymentId, pspReference: attempt.pspReference ?? intent.pspReference }, signal, { ...deps.lookupHedge, clock: deps.timers }));
    const t = await commit(deps, tenantId, paymentId, trace, (current) =>
      applyPspOutcome(current, { idempotencyKey: attempt.idempotencyKey, source: isRefund ? 'resend' : 'lookup', outcome }, deps.clock.nowMs()));
    if (t?.changed) {
      resolved++;
      await runCalls(deps, t, trace);
    }
  }
  return resolved;
}
