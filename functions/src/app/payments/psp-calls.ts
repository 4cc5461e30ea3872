/** PSP calls: each through the per-PSP limiter, breaker and deadline; each answer recorded in its own transaction. */
import { nextCaptureEntryReads, applyPspOutcome, type PaymentEffect, type PaymentIntent, type PaymentTransition } from '../../domain/payments/index.js';
import {
  CircuitOpenError, ConcurrencyLimitError, TimeoutError, withTimeout,
} from '../../platform/resilience/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { pspCallVerdict, type PspName, type PspOutcome } from '../../domain/payments/index.js';
import type { PspGateway } from '../../ports/psp-gateway.js';
import { hasCalls, type Held } from './command-key.js';
import { paymentAccountId } from './payment-accounts.js';
import { paymentMethodOf } from './payment-methods.js';
import type { PaymentsDeps } from './payments-deps.js';
import { commit, type SettleIn } from './transitions.js';

export type CallOutcome = PspOutcome | { kind: 'not_found' };

function outcomeOfCallError(error: unknown): PspOutcome {
  if (error instanceof CircuitOpenError || error instanceof ConcurrencyLimitError) {
    // Nothing was sent: safe to route elsewhere.
    return { kind: 'retryable', reason: 'unavailable', detail: error.message };
  }
  if (error instanceof TimeoutError) return { kind: 'unknown', reason: 'timeout', detail: error.message };
  // An unexpected failure after the call may have left: treat as ambiguous, never re-route.
  return { kind: 'unknown', reason: 'connection_lost', detail: (error as Error).message ?? String(error) };
}

/** What `callPsp` runs on. */
export type PspCallDeps = Pick<PaymentsDeps, 'gateways' | 'limiter' | 'breaker' | 'pspCallTimeoutMs' | 'timers'>;

/** One PSP call through the per-PSP limiter, breaker and deadline, mapped to an outcome. */
export async function callPsp(deps: PspCallDeps, psp: PspName, call: (gateway: PspGateway, signal: AbortSignal) => Promise<CallOutcome>): Promise<CallOutcome> {
  const gateway = deps.gateways.get(psp);
  if (!gateway) return { kind: 'retryable', reason: 'unavailable', detail: `PSP ${psp} is not configured` };
  try {
    return await deps.limiter.run(psp, async () => {
      const permit = deps.breaker.acquire(psp);
      let outcome: CallOutcome;
      try {
        outcome = await withTimeout((signal) => call(gateway, signal), { timeoutMs: deps.pspCallTimeoutMs, clock: deps.timers });
      } catch (error) {
        // A missed deadline is the PSP being slow for everyone: a failure. Anything else thrown is
        // a bug of ours (connectors classify every failure they or their PSP cause), which says
        // nothing about the PSP and must not open a breaker every tenant shares.
        permit.record(error instanceof TimeoutError ? 'failure' : 'ignored');
        throw error;
      }
      // Only what the PSP itself caused counts (transport, 5xx, 429); declines and 4xx about the
      // input are the PSP working; refusals before sending and synthetic answers teach nothing.
      permit.record(pspCallVerdict(outcome));
      return outcome;
    });
  } catch (error) {
    return outcomeOfCallError(error);
  }
}

/**
 * Return URL of a confirm that gave none: the PSPs want one on every authorization, and a card
 * that turns out to need a challenge would otherwise fail. The customer lands on it only then.
 */
const defaultReturnUrl = 'https://tally.local/return';

async function performCall(deps: PaymentsDeps, intent: PaymentIntent, effect: PaymentEffect): Promise<CallOutcome | null> {
  switch (effect.kind) {
    case 'call_psp_authorize': {
      const method = await paymentMethodOf(deps, intent.tenantId, effect.paymentMethodId);
      const token = method?.pspTokens[effect.attempt.psp];
      if (!token) return { kind: 'retryable', reason: 'unavailable', detail: `payment method has no ${effect.attempt.psp} token` };
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.authorize({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, tenantId: intent.tenantId,
        amountMinor: effect.amountMinor, currency: effect.currency, paymentMethodToken: token,
        // A PSP that reports auto-captures as mere authorizations is always asked for manual
        // capture: the state machine then captures explicitly (found by the chaos test).
        captureMethod: gw.capturesExplicitly === true ? 'manual' : effect.captureMethod, returnUrl: intent.returnUrl ?? defaultReturnUrl, signal,
      }));
    }
    case 'call_psp_capture':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.capture({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, pspReference: effect.pspReference,
        amountMinor: effect.amountMinor, currency: effect.currency, signal,
      }));
    case 'call_psp_cancel':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.cancel({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, pspReference: effect.pspReference, signal,
      }));
    case 'call_psp_refund':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.refund({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, refundId: effect.refundId,
        pspReference: effect.pspReference, amountMinor: effect.amountMinor, currency: effect.currency, signal,
      }));
    default:
      return null;
  }
}

/** Performs the PSP calls a transition asks for and records each answer; bounded rounds. */
export async function runCalls(
  deps: PaymentsDeps, first: PaymentTransition, trace: TraceIds,
  /** A keyed command's lease, settled in the transaction recording its last answer when `endsWith` it. */
  keyed?: { held: Held; endsWith: (t: PaymentTransition) => boolean },
): Promise<PaymentTransition> {
  let last = first;
  const pending = first.effects.filter((e) => e.kind.startsWith('call_psp_'));
  const next = (recorded: PaymentTransition) => (recorded.changed || recorded.error ? recorded : { ...last, intent: recorded.intent });
  for (let calls = 0; pending.length > 0; calls++) {
    if (calls >= deps.pspCallsPerRequestMax) break; // the janitor finishes what is left
    const effect = pending.shift()!;
    deps.testHooks.beforePspCall?.(last.intent.id);
    const outcome = await performCall(deps, last.intent, effect);
    if (!outcome || !('attempt' in effect)) continue;
    deps.testHooks.afterPspCall?.(last.intent.id);
    const settle: SettleIn | undefined = keyed && {
      held: keyed.held,
      finalOf: (recorded) => (pending.length === 0 && !hasCalls(recorded) && keyed.endsWith(next(recorded)) ? next(recorded) : null),
    };
    const recorded = await commit(deps, last.intent.tenantId, last.intent.id, trace, (intent) =>
      applyPspOutcome(intent, { idempotencyKey: effect.attempt.idempotencyKey, source: 'call', outcome }, deps.clock.nowMs()), undefined, settle,
      capturedBy(effect, outcome) ? nextCaptureEntryReads(last.intent, effect.attempt.psp, paymentAccountId) : undefined);
    if (recorded) {
      last = next(recorded);
      pending.push(...recorded.effects.filter((e) => e.kind.startsWith('call_psp_')));
    }
  }
  return last;
}

/** Whether recording this answer posts a capture: a capture's, or an authorization's the PSP captured with. */
function capturedBy(effect: PaymentEffect, outcome: CallOutcome): boolean {
  return outcome.kind === 'captured' && (effect.kind === 'call_psp_capture' || effect.kind === 'call_psp_authorize');
}

export function finish(t: PaymentTransition): PaymentIntent {
  if (t.error) throw t.error;
  return t.intent;
}
