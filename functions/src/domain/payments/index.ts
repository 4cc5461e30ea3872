/**
 * Payments' pure core: the PaymentIntent state machine, PSP routing, and the ledger entries a
 * payment implies. No I/O and no clock: times come in as numbers, randomness as a number, and
 * every command returns the new intent plus the effects the app must perform
 * (`payment-effect.ts` says how: ledger and outbox in the same transaction, PSP calls after it).
 */

// The aggregate.
/** Every status, and the statuses a payment may move between (`statusTransitions`). */
export { paymentStatuses, statusTransitions } from './payment-intent.js';
/** `'requires_payment_method' | ... | 'failed'`. */
export type { PaymentStatus } from './payment-intent.js';
/** `'automatic' | 'manual'`, and every capture method. */
export type { CaptureMethod } from './payment-intent.js';
export { captureMethods } from './payment-intent.js';
/** The intent, its PSP attempts, refunds, standing chargeback and dispute. */
export type { PaymentIntent, PspAttempt, Refund, Chargeback, Dispute, DisputeStatus } from './payment-intent.js';
/** Every dispute stage, in order: chargeback, chargeback_reversed, second_chargeback. */
export { disputeStatuses } from './payment-intent.js';
/** `'authorize' | 'capture' | 'cancel' | 'refund'`; an attempt's outcome; where an outcome came from. */
export type { PspOperation, AttemptOutcome, ResolvedBy, RefundStatus } from './payment-intent.js';
/** Every PSP operation and refund status. */
export { pspOperations, refundStatuses } from './payment-intent.js';
/** Bounds per intent: PSP attempts, refunds, deferred PSP events. */
export { ATTEMPTS_MAX, REFUNDS_MAX, DEFERRED_EVENTS_MAX } from './payment-intent.js';
/** `isPaymentId(value)` / `isRefundId(value)`: `pay_` / `re_` + 1..40 of `[A-Za-z0-9_-]`. */
export { isPaymentId, isRefundId } from './payment-intent.js';
/** `attemptIdempotencyKey(paymentId, operation, number | refundId)`: `<paymentId>:<operation>:<n|refundId>`. */
export { attemptIdempotencyKey } from './payment-intent.js';
/** `isInFlight(attempt)`: outcome `pending` or `unknown`. */
export { isInFlight } from './payment-intent.js';
/** `currentOperation(intent)`: the in-flight authorize/capture/cancel attempt, or null. */
export { currentOperation } from './payment-intent.js';
/** `attemptsToResolve(intent, nowMs, graceMs)`: in-flight attempts older than the grace (for the janitor). */
export { attemptsToResolve } from './payment-intent.js';
/** `refundableMinor(intent)`: captured minus succeeded and pending refunds and any chargeback. */
export { refundableMinor } from './payment-intent.js';
/** Whether the janitor owes an automatic-capture payment its capture (not after a PSP-reported failure). */
export { isCaptureDue } from './payment-intent.js';
/** `checkPaymentIntent(intent)`: asserts every invariant (a failure is a bug). */
export { checkPaymentIntent } from './payment-intent.js';

// Results and effects.
/** `{intent, effects, changed, error}`: what every command returns. */
export type { PaymentTransition } from './payment-effect.js';
export { createdAndConfirmed } from './payment-effect.js';
/** What the app must do: PSP calls, ledger entries, outbox events, anomaly reports. */
export type { PaymentEffect, PaymentEvent, AnomalyReason } from './payment-effect.js';

// Merchant commands.
/** Largest payment amount (2^53 - 1 minor units). */
export { PAYMENT_AMOUNT_MINOR_MAX, PAYMENT_METADATA_KEYS_MAX } from './payment-commands.js';
/** Inputs of the merchant commands. */
export type { CreatePaymentIntentInput, CreatePaymentIntentContext, ConfirmInput, RefundInput } from './payment-commands.js';
/** `createPaymentIntent(input, {id, tenantId, nowMs})`: a new intent (`requires_payment_method` or `requires_confirmation`). */
export { createPaymentIntent } from './payment-commands.js';
/** `attachPaymentMethod(intent, paymentMethodId, nowMs)`: -> `requires_confirmation`. */
export { attachPaymentMethod } from './payment-commands.js';
/** `updatePaymentMetadata(intent, changes, nowMs)`: set or (empty value) remove metadata keys, any status. */
export { updatePaymentMetadata } from './payment-commands.js';
/** `confirmPayment(intent, {psps, paymentMethodId?}, nowMs)`: -> `processing` with an authorize call. */
export { confirmPayment } from './payment-commands.js';
/** `capturePayment(intent, {amountMinor?}, nowMs)`: `requires_capture` -> `processing` with a capture call. */
export { capturePayment } from './payment-commands.js';
/** `cancelPayment(intent, nowMs)`: -> `canceled`, or `processing` with a void call when the PSP holds something. */
export { cancelPayment } from './payment-commands.js';
/** `refundPayment(intent, {refundId, amountMinor?}, nowMs)`: a pending refund with its call. */
export { refundPayment } from './payment-commands.js';

// PSP answers and events.
/** `{idempotencyKey, source: 'call' | 'resend' | 'lookup', outcome}`. */
export type { PspCallResult, PspResultSource } from './psp-outcome.js';
/** `applyPspOutcome(intent, result, nowMs)`: records a PSP answer to one of our calls. */
export { applyPspOutcome } from './psp-outcome.js';
/** `applyWebhook(intent, event, nowMs)`: applies a verified PSP event; stale and duplicate events are no-ops. */
export { applyWebhook } from './psp-webhook.js';

// Routing.
/** Rule input, validated rule, the payment routing looks at, PSP availability (breakers). */
export type { RoutingRuleInput, RoutingRule, RoutablePayment, PspAvailability, CardBrand } from './routing.js';
/** Card brands rules can match. */
export { cardBrands } from './routing.js';
/** Bounds of routing rules. */
export { ROUTING_RULES_MAX, ROUTING_RULE_LIST_MAX, ROUTING_WEIGHT_MAX, ROUTING_RULE_NAME_LENGTH_MAX } from './routing.js';
/** `validateRoutingRules(input)`: typed errors naming the field (`rules[0].choices[1].weight`). */
export { validateRoutingRules } from './routing.js';
/** `matchRule(rules, payment)`: the first matching rule, or null. */
export { matchRule } from './routing.js';
/** `choosePsps(rules, payment, availability, random)`: the ordered failover list; empty when none. */
export { choosePsps } from './routing.js';
/** `routePayment(rules, payment, availability, limits, random)`: `choosePsps` over the PSPs whose limits take the payment; the typed refusal when none can. */
export { routePayment } from './routing.js';
export type { PspLimitsByName } from './routing.js';

// The PSP vocabulary and limits (ports/psp-gateway.ts speaks and re-exports them).
/** PSP names, decline reasons, call outcomes, webhook events; `pspCallVerdict(outcome)` for the circuit breaker. */
export { pspNames, declineReasons, pspCallVerdict } from './psp-vocabulary.js';
export type { PspName, DeclineReason, PspOutcome, PspLookupOutcome, PspWebhookEvent, RetryableReason, UnknownReason } from './psp-vocabulary.js';
/** What a PSP accepts per charge; `pspAmountRefusal(psp, limits, amountMinor, currency)`: the typed refusal or null. */
export type { PspAmountLimits, PspCurrencyLimits, ResolvedPspLimits } from './psp-limits.js';
export { pspAmountRefusal, pspLimitsFor } from './psp-limits.js';

// Ledger postings and fees.
/** Fee terms (snapshotted per payment), a reversal's inputs, a payment's ledger fact, account codes. */
export type { FeeSchedule, TenantPricing, FeeReversalInput, PaymentLedgerEvent, PaymentAccountCode, AccountIdOf } from './ledger-postings.js';
/** Account codes, and every account (with its type) a tenant needs per currency. */
export { MERCHANT_PAYABLE, PLATFORM_FEE_REVENUE, CHARGEBACK_LOSS, pspReceivableCode, paymentAccounts } from './ledger-postings.js';
/** Bounds of fee terms. */
export { FEE_RATE_BPS_MAX, FEE_FIXED_MINOR_MAX } from './ledger-postings.js';
/** `validateFeeSchedule(input)`: typed errors naming `fees.*` fields. */
export { validateFeeSchedule } from './ledger-postings.js';
/** Per-tenant pricing (issue 11 item 13): validated, and turned into a payment's fee terms. */
export { validateTenantPricing, feeScheduleOf, PRICING_FIXED_MINOR_MAX, PRICING_CURRENCIES_MAX } from './ledger-postings.js';
/** `platformFeeMinor(amountMinor, currency, fees)`: rate (rounded as configured) + fixed, capped at the amount. */
export { platformFeeMinor } from './ledger-postings.js';
/** `feeReversalMinor(input)`: a refund's or chargeback's fee share, cumulative so shares sum exactly to the fee. */
export { feeReversalMinor } from './ledger-postings.js';
/** `paymentEntryId(event)`: `je_cap_<paymentId>`, `je_ref_<refundId>`, `je_cbk_<paymentId>`, reversals `je_capr_`/`je_cbr_` (later ones numbered). */
export { paymentEntryId, nextCaptureEntryReads } from './ledger-postings.js';
/** `paymentLedgerEntry(event, accountIdOf)`: the balanced ledger `EntryInput` of a `post_ledger` effect. */
export { paymentLedgerEntry } from './ledger-postings.js';
