/** The keyed commands on a stored payment: confirm, capture, cancel, refund, update; and reading one. */
import { TallyError, invalidField } from '../../domain/errors.js';
import {
  cancelPayment, capturePayment, confirmPayment, pspAmountRefusal, pspNames, refundPayment, routePayment, updatePaymentMetadata,
  cardBrands, type CardBrand, type PaymentIntent, type PaymentTransition, type PspLimitsByName, type PspName,
} from '../../domain/payments/index.js';
import { retryWithJitter } from '../../platform/resilience/retry.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { CommandKey, KeyedResult } from './command-key.js';
import { runKeyed, startCreated, startKeyed, type Target } from './keyed-command.js';
import { requirePaymentMethod, requireSameCustomer } from './payment-methods.js';
import type { PaymentsDeps } from './payments-deps.js';
import { finish, runCalls } from './psp-calls.js';
import { defaultRules, routingRulesOf } from './routing-rules.js';
import { commit } from './transitions.js';

const automaticCaptureLeftAuthorized = (t: PaymentTransition) =>
  !t.error && t.intent.captureMethod === 'automatic' && t.intent.status === 'requires_capture';

export function confirm(deps: PaymentsDeps, tenantId: string, paymentId: string, paymentMethodIdInput: string, trace: TraceIds, key: CommandKey, returnUrl = ''): Promise<KeyedResult> {
  return confirmKeyed(deps, tenantId, { paymentId }, paymentMethodIdInput, returnUrl, trace, key);
}

/** Confirms a stored payment, or one created in the same first transaction. */
export function confirmKeyed(deps: PaymentsDeps, tenantId: string, target: Target, paymentMethodIdInput: string, returnUrl: string, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  // Routing is decided on the intent the transaction read (no separate read before it); the
  // method and rules come from the instance caches, so a rerun of the transaction costs no reads.
  const decide = async (intent: PaymentIntent) => {
    const paymentMethodId = paymentMethodIdInput || intent.paymentMethodId;
    if (!paymentMethodId) throw invalidField('payment_method_id', 'required to confirm', 'FIELD_REQUIRED');
    const method = await requirePaymentMethod(deps, tenantId, paymentMethodId);
    requireSameCustomer(method, intent.customerId);
    const rules = (await routingRulesOf(deps, tenantId)) ?? defaultRules();
    const availability = Object.fromEntries(pspNames.map((psp) => [psp, deps.gateways.has(psp) && deps.breaker.state(psp) !== 'open'])) as Record<PspName, boolean>;
    const brand = (cardBrands as readonly string[]).includes(method.brand) ? (method.brand as CardBrand) : null;
    // A PSP whose declared limits refuse the amount is skipped before anything is sent; when none
    // can take it, routePayment throws the typed refusal (nothing written, no breaker touched).
    const psps = routePayment(rules, { amountMinor: intent.amountMinor, currency: intent.currency, cardBrand: brand, country: method.country || null }, availability, pspLimitsOf(deps, method.pspTokens), deps.random())
      .filter((psp) => method.pspTokens[psp] !== undefined);
    return confirmPayment(intent, { psps, paymentMethodId: paymentMethodIdInput || null, returnUrl }, deps.clock.nowMs());
  };
  // The command goes on (capture retries below) while an automatic capture is left authorized.
  const endsWith = (t: PaymentTransition) => !automaticCaptureLeftAuthorized(t);
  const start = () => ('created' in target ? startCreated(deps, tenantId, target.created, trace, key, decide, endsWith) : startKeyed(deps, tenantId, target, trace, key, decide, endsWith));
  return runKeyed(key, start, async ({ t, held }) => {
    const paymentId = t.intent.id;
    const done = await runCalls(deps, t, trace, { held, endsWith });
    if (!automaticCaptureLeftAuthorized(done)) return finish(done);
    // Automatic capture whose capture call certainly did not happen (retryable): capture again,
    // bounded, with jittered backoff, instead of leaving the payment authorized but uncaptured.
    return retryWithJitter(async () => {
      const again = await runCalls(deps, (await commit(deps, tenantId, paymentId, trace, (intent) =>
        intent.status === 'requires_capture' ? capturePayment(intent, {}, deps.clock.nowMs()) : null))
        ?? { intent: await getPayment(deps, tenantId, paymentId), effects: [], changed: false, error: null }, trace);
      if (again.intent.status === 'requires_capture') throw new TallyError('PSP_UNAVAILABLE', 'the capture could not be made now; it will be retried');
      return finish(again);
    }, { attemptsMax: 3, baseDelayMs: 50, delayMsMax: 500, retryable: (e) => e instanceof TallyError && e.reason === 'PSP_UNAVAILABLE', clock: deps.timers });
  });
}

/**
 * The declared limits of every configured PSP the payment method has a token for: the PSPs that
 * could take the payment, so a refusal by all of them is answered as the typed refusal.
 */
function pspLimitsOf(deps: PaymentsDeps, tokens: Readonly<Partial<Record<PspName, string>>>): PspLimitsByName {
  return Object.fromEntries([...deps.gateways].filter(([psp]) => tokens[psp] !== undefined).map(([psp, gateway]) => [psp, gateway.limits]));
}

/**
 * Refuses a capture or refund whose amount its PSP's declared limits refuse (a partial capture of
 * 1,005 BHD fils at Stripe), with the typed refusal, before anything is written or sent.
 */
function withinPspLimits(deps: PaymentsDeps, t: PaymentTransition): PaymentTransition {
  for (const effect of t.effects) {
    if (effect.kind !== 'call_psp_capture' && effect.kind !== 'call_psp_refund') continue;
    const limits = deps.gateways.get(effect.attempt.psp)?.limits;
    const refusal = limits === undefined ? null : pspAmountRefusal(effect.attempt.psp, limits, effect.amountMinor, effect.currency);
    if (refusal !== null) throw refusal;
  }
  return t;
}

/** A command that is one decision and the PSP calls it asks for. */
function simpleCommand(deps: PaymentsDeps, tenantId: string, paymentId: string, trace: TraceIds, key: CommandKey, decide: (intent: PaymentIntent) => PaymentTransition): Promise<KeyedResult> {
  return runKeyed(key, () => startKeyed(deps, tenantId, { paymentId }, trace, key, decide),
    async ({ t, held }) => finish(await runCalls(deps, t, trace, { held, endsWith: () => true })));
}

export function capture(deps: PaymentsDeps, tenantId: string, paymentId: string, amountMinor: bigint | null, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => withinPspLimits(deps, capturePayment(intent, { amountMinor }, deps.clock.nowMs())));
}

export function cancel(deps: PaymentsDeps, tenantId: string, paymentId: string, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => cancelPayment(intent, deps.clock.nowMs()));
}

/** Refunds under `refundId` (the caller's: its response names the refund). */
export function refund(deps: PaymentsDeps, tenantId: string, paymentId: string, refundId: string, amountMinor: bigint | null, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => withinPspLimits(deps, refundPayment(intent, { refundId, amountMinor }, deps.clock.nowMs())));
}

/** Sets or (empty value) removes metadata keys, in any status; no PSP call. */
export function updateMetadata(deps: PaymentsDeps, tenantId: string, paymentId: string, changes: Readonly<Record<string, string>>, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => updatePaymentMetadata(intent, changes, deps.clock.nowMs()));
}

export async function getPayment(deps: Pick<PaymentsDeps, 'store'>, tenantId: string, paymentId: string): Promise<PaymentIntent> {
  const intent = paymentId === '' ? undefined : await deps.store.getPayment(tenantId, paymentId);
  if (!intent) throw new TallyError('NOT_FOUND', `payment ${paymentId} not found`, { field: 'payment_id' });
  return intent;
}
