/**
 * The PaymentIntent aggregate: its shape, the strict status transition table, and the invariants
 * every transition must keep. Commands live in `payment-commands.ts` (merchant requests),
 * `psp-outcome.ts` (results of our PSP calls) and `psp-webhook.ts` (PSP events); all are pure
 * functions `(intent, input, nowMs) -> Transition` and share `intent-draft.ts`.
 *
 * Status transitions (any other is a bug: `setStatus` asserts this table):
 *
 *   requires_payment_method -> requires_confirmation  attachPaymentMethod
 *                           -> processing             confirm with a payment method
 *                           -> canceled               cancel (nothing at the PSP to void)
 *   requires_confirmation   -> processing             confirm
 *                           -> canceled               cancel
 *   processing (authorize)  -> requires_action        PSP wants a 3DS-style challenge
 *                           -> requires_capture       authorized, manual capture
 *                           -> processing (capture)   authorized, automatic capture: we capture at once
 *                           -> succeeded              captured
 *                           -> requires_payment_method declined (retry with another method)
 *                           -> processing (authorize) retryable: next PSP of the route
 *                           -> failed                 retryable and no PSP left (PSP_UNAVAILABLE)
 *                           -> canceled               the PSP canceled it
 *   processing (capture)    -> succeeded | failed (capture declined) | requires_capture (retryable) | canceled
 *   processing (cancel)     -> canceled | succeeded (the PSP had captured) | back to requires_capture
 *                              or requires_action (refused or retryable)
 *   requires_action         -> processing (cancel) | and by PSP events: requires_capture,
 *                              processing (capture), succeeded, requires_payment_method, canceled, failed
 *   requires_capture        -> processing (capture or cancel) | and by PSP events: succeeded, failed, canceled
 *   succeeded               -> requires_capture       only when the PSP reports that a capture we recorded
 *                                                     failed (Adyen CAPTURE success=false after
 *                                                     `received`, or a scheme rejection, CAPTURE_FAILED;
 *                                                     psp-webhook.ts)
 *   canceled, failed: final; succeeded otherwise final (refunds and disputes change amounts, never the status)
 *
 * An `unknown` PSP outcome never changes the status: the intent stays `processing` (or, for a
 * refund, the refund stays `pending`) with the attempt marked `unknown`, until a webhook or the
 * janitor's lookup fills it in. It is never routed to another PSP.
 */
import { type ErrorReason, assert } from '../errors.js';
import type { DeclineReason, PspName, PspWebhookEvent } from './psp-vocabulary.js';
import type { FeeSchedule } from './ledger-postings.js';

/** Every status of a payment intent (Stripe's PaymentIntent statuses plus `failed`). */
export const paymentStatuses = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
  'processing',
  'requires_capture',
  'succeeded',
  'canceled',
  'failed',
] as const;

/** One of `paymentStatuses`. */
export type PaymentStatus = (typeof paymentStatuses)[number];

/** `automatic`: capture as part of confirming; `manual`: authorize, then capture on request. */
export const captureMethods = ['automatic', 'manual'] as const;

/** One of `captureMethods`. */
export type CaptureMethod = (typeof captureMethods)[number];

/** The status changes the state machine allows (see the file header). */
export const statusTransitions: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = Object.freeze({
  requires_payment_method: ['requires_confirmation', 'processing', 'canceled'],
  requires_confirmation: ['processing', 'canceled'],
  processing: ['requires_action', 'requires_capture', 'succeeded', 'requires_payment_method', 'canceled', 'failed'],
  requires_action: ['processing', 'requires_capture', 'succeeded', 'requires_payment_method', 'canceled', 'failed'],
  requires_capture: ['processing', 'succeeded', 'canceled', 'failed'],
  succeeded: ['requires_capture'],
  canceled: [],
  failed: [],
});

/** What a PSP call does. */
export const pspOperations = ['authorize', 'capture', 'cancel', 'refund'] as const;

/** One of `pspOperations`. */
export type PspOperation = (typeof pspOperations)[number];

/**
 * What became of one PSP call: `pending` while in flight (or if the process died before recording
 * the answer), `unknown` when the answer was ambiguous, `not_found` when the janitor's lookup found
 * that the request never reached the PSP, otherwise the normalized outcome kind.
 */
export type AttemptOutcome =
  | 'pending'
  | 'unknown'
  | 'not_found'
  | 'authorized'
  | 'captured'
  | 'requires_action'
  | 'canceled'
  | 'refunded'
  | 'declined'
  | 'retryable';

/** Where a resolved attempt's outcome came from. */
export type ResolvedBy = 'call' | 'resend' | 'lookup' | 'webhook';

/** One call to a PSP. Its idempotency key is what the PSP dedupes retries of this call by. */
export interface PspAttempt {
  /** 1-based position in `attempts`. */
  readonly number: number;
  readonly operation: PspOperation;
  readonly psp: PspName;
  /** `<paymentId>:<operation>:<number>`, or `<paymentId>:refund:<refundId>` for refunds. */
  readonly idempotencyKey: string;
  /** Amount asked for (authorize, capture, refund); null for cancel. */
  readonly amountMinor: bigint | null;
  /** The refund this call is for; null for other operations. */
  readonly refundId: string | null;
  readonly outcome: AttemptOutcome;
  /** The PSP payment this call concerned, once known (events for an earlier attempt's payment are told apart by it). */
  readonly pspReference: string | null;
  /** Null while `pending` or `unknown`. */
  readonly resolvedBy: ResolvedBy | null;
  readonly startedAtMs: number;
  /** When the outcome became known; null while `pending` or `unknown`. */
  readonly completedAtMs: number | null;
  /**
   * True for a capture recorded from a provisional PSP answer (Adyen `received`) that no webhook
   * has confirmed yet: a `capture_failed` event may still unwind it. False once PSP-confirmed, and
   * for every other attempt. (Absent on attempts saved before this field: read as false.)
   */
  readonly provisional: boolean;
  /**
   * The PSP's own reference of this request, when it named one apart from the payment's (an Adyen
   * cancel): a late answer to an earlier request is told apart by it. Null otherwise, and on
   * attempts saved before this field.
   */
  readonly modificationReference: string | null;
}

/** Where a refund stands. */
export const refundStatuses = ['pending', 'succeeded', 'failed'] as const;

/** One of `refundStatuses`. */
export type RefundStatus = (typeof refundStatuses)[number];

/** A refund: ours (`api`, requested through Tally) or learned from a PSP event (`psp`, e.g. made in its dashboard). */
export interface Refund {
  readonly id: string;
  readonly amountMinor: bigint;
  readonly status: RefundStatus;
  readonly origin: 'api' | 'psp';
  /** Fee share returned to the merchant (set when it succeeds; 0 before, and 0 again once failed). */
  readonly feeReversedMinor: bigint;
  /**
   * How many times the PSP reported this refund failed after it had succeeded (a card scheme's
   * rejection: Adyen REFUND_FAILED), each time reversing its ledger entry. Numbers its entries: the
   * n-th success is `je_ref<n>_...`, its reversal `je_refr<n>_...` (ledger-postings.ts).
   */
  readonly reversals: number;
  /**
   * What reversed successes of this refund still count of the fee reversed in total, so that the
   * total stays `round(F * reversed / C)` (the reversal takes back the share that keeps it exact,
   * which differs from the refund's own share only by rounding). 0 for a refund never reversed.
   */
  readonly feeCarriedMinor: bigint;
  /** PSP time of the last PSP event applied to this refund; orders its success and failure reports. */
  readonly pspEventAtMs: number | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/**
 * A chargeback standing against the payment: the PSP took `amountMinor` (and its dispute fee) back.
 * `number` 1 is the first chargeback, 2 a second one after a reversal (Adyen SECOND_CHARGEBACK);
 * each is posted once and reversed at most once (ledger-postings.ts).
 */
export interface Chargeback {
  readonly amountMinor: bigint;
  readonly feeReversedMinor: bigint;
  readonly disputeFeeMinor: bigint;
  readonly pspEventId: string;
  readonly occurredAtMs: number;
  readonly number: 1 | 2;
}

/**
 * Where a payment's dispute stands, in the order a dispute goes: `chargeback` (funds taken back),
 * `chargeback_reversed` (the merchant won them back), `second_chargeback` (taken back again).
 */
export const disputeStatuses = ['chargeback', 'chargeback_reversed', 'second_chargeback'] as const;

/** One of `disputeStatuses`. */
export type DisputeStatus = (typeof disputeStatuses)[number];

/** A payment's dispute: the furthest stage any PSP event reported (psp-webhook.ts, 2). */
export interface Dispute {
  readonly status: DisputeStatus;
  /** The event that reported this stage, and its PSP time. */
  readonly pspEventId: string;
  readonly occurredAtMs: number;
  /**
   * Fee share still counted by reversed chargebacks: what they returned to the merchant minus
   * what their reversals took back. 0 unless a refund settled while a chargeback stood (the
   * reversal then takes back the share that keeps the running fee total exact; see intent-draft.ts).
   */
  readonly feeCarriedMinor: bigint;
}

/** The aggregate. Amounts are minor units of `currency`; times are epoch milliseconds. */
export interface PaymentIntent {
  /** `pay_` + 1..40 of `[A-Za-z0-9_-]`. */
  readonly id: string;
  readonly tenantId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly captureMethod: CaptureMethod;
  readonly status: PaymentStatus;
  readonly customerId: string | null;
  readonly paymentMethodId: string | null;
  /** The caller's metadata from creation (sorted, bounded): returned as given, never interpreted. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Trace of the request that created it ('' when untraced): later requests' traces are on the stored document and the outbox events. */
  readonly traceId: string;
  /** Where the PSP returns the customer after a challenge, from the last confirm that gave one. */
  readonly returnUrl: string | null;
  /** Fee terms snapshotted at creation (see ledger-postings.ts). */
  readonly fees: FeeSchedule;
  /** The failover list chosen at the last confirm (routing.ts); the current PSP is in it. */
  readonly route: readonly PspName[];
  /** The PSP of the current (latest) authorization attempt; null before the first confirm. */
  readonly psp: PspName | null;
  /** The PSP's id of the current payment there; null until a PSP answer or event names it. */
  readonly pspReference: string | null;
  /** Where to send the customer in `requires_action`, when the PSP told us. */
  readonly nextActionUrl: string | null;
  readonly attempts: readonly PspAttempt[];
  readonly amountAuthorizedMinor: bigint;
  /** Authorized and not yet captured or released (positive only in requires_capture or processing). */
  readonly amountCapturableMinor: bigint;
  readonly amountCapturedMinor: bigint;
  /** Sum of succeeded refunds. */
  readonly amountRefundedMinor: bigint;
  /** Fee charged at capture (0 before). */
  readonly platformFeeMinor: bigint;
  readonly refunds: readonly Refund[];
  /** The chargeback standing now; null when there is none or it was reversed. */
  readonly chargeback: Chargeback | null;
  /** The dispute, once a PSP reported one (it stays when the merchant wins). */
  readonly dispute: Dispute | null;
  /**
   * How many recorded captures a PSP later reported failed and were unwound: numbers the capture
   * ledger entries, so a capture after an unwound one is a new entry (`je_cap<n>_...`).
   */
  readonly captureReversals: number;
  /** Why the PSP declined the last authorization (or capture); cleared by the next confirm. */
  readonly declineReason: DeclineReason | null;
  /** The error reason of the last failed PSP step (CARD_DECLINED, PSP_UNAVAILABLE, ...); cleared by confirm. */
  readonly lastErrorReason: ErrorReason | null;
  /**
   * Refund and chargeback events that arrived before the capture they follow was recorded (e.g.
   * reordered webhooks while the capture outcome is unknown); applied as soon as it is.
   */
  readonly deferredPspEvents: readonly PspWebhookEvent[];
  /**
   * Since when Tally has not known the outcome of some PSP call: the start of the oldest attempt
   * still `pending` (in flight, or crashed before recording) or `unknown`; null when every outcome
   * is known. The janitor selects intents whose `unknownSinceMs` is older than its grace period.
   */
  readonly unknownSinceMs: number | null;
  /**
   * PSP time of the last status event applied (authorized, captured, ...); an older one never
   * overwrites newer state. Reset by confirm: a new attempt may be at a PSP with another clock.
   */
  readonly lastPspEventAtMs: number | null;
  /** Starts at 1, +1 on every change: the app writes only if the stored version is still `version - 1`. */
  readonly version: number;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** Most PSP attempts per intent (authorizations across confirms and failovers, captures, cancels, refunds). */
export const ATTEMPTS_MAX = 50;
/** Most refunds per intent. */
export const REFUNDS_MAX = 20;
/** Most PSP-reported failures of one succeeded refund (each one reversed): a PSP retrying forever is a human's case. */
export const REFUND_REVERSALS_MAX = 5;
/** Most deferred PSP events per intent. */
export const DEFERRED_EVENTS_MAX = 20;

const paymentIdShape = /^pay_[A-Za-z0-9_-]{1,40}$/;
const refundIdShape = /^re_[A-Za-z0-9_-]{1,40}$/;

/** True for a well-formed payment id (`pay_` + 1..40 of `[A-Za-z0-9_-]`; bounded so ledger entry ids fit). */
export function isPaymentId(value: unknown): value is string {
  return typeof value === 'string' && paymentIdShape.test(value);
}

/** True for a well-formed refund id (`re_` + 1..40 of `[A-Za-z0-9_-]`). */
export function isRefundId(value: unknown): value is string {
  return typeof value === 'string' && refundIdShape.test(value);
}

/** The idempotency key of an attempt: stable across retries of the same call, distinct per call. */
export function attemptIdempotencyKey(paymentId: string, operation: PspOperation, numberOrRefundId: number | string): string {
  return `${paymentId}:${operation}:${numberOrRefundId}`;
}

/**
 * True for an automatic-capture payment that Tally still owes a capture: left authorized because
 * its capture call certainly did not happen (a retryable failure), so the janitor captures it. Not
 * once the PSP itself reported a capture failed (`declineReason` set, e.g. a card scheme's
 * rejection unwound it): capturing again is then the merchant's call, or the PSP's own retry,
 * never an automatic loop against a PSP that keeps refusing.
 */
export function isCaptureDue(p: PaymentIntent): boolean {
  return p.captureMethod === 'automatic' && p.status === 'requires_capture' && p.declineReason === null;
}

/** True while an attempt's outcome is not known (`pending` or `unknown`). */
export function isInFlight(attempt: PspAttempt): boolean {
  return attempt.outcome === 'pending' || attempt.outcome === 'unknown';
}

/** The in-flight authorize, capture or cancel attempt (at most one; exactly one in `processing`). */
export function currentOperation(intent: PaymentIntent): PspAttempt | null {
  return intent.attempts.find((a) => a.operation !== 'refund' && isInFlight(a)) ?? null;
}

/**
 * Attempts the janitor should resolve: in flight and started at least `graceMs` ago. The grace
 * must exceed the PSP call deadline, so a call still running is never taken for a lost one.
 */
export function attemptsToResolve(intent: PaymentIntent, nowMs: number, graceMs: number): PspAttempt[] {
  return intent.attempts.filter((a) => isInFlight(a) && a.startedAtMs <= nowMs - graceMs);
}

/** What may still be refunded: captured minus succeeded and pending refunds and any chargeback. */
export function refundableMinor(intent: PaymentIntent): bigint {
  const pendingMinor = intent.refunds.filter((r) => r.status === 'pending').reduce((acc, r) => acc + r.amountMinor, 0n);
  return intent.amountCapturedMinor - intent.amountRefundedMinor - pendingMinor - (intent.chargeback?.amountMinor ?? 0n);
}

/**
 * Asserts every invariant of an intent (a failure is a bug, never bad input). Every transition
 * checks its result with this; the property tests check it after every step.
 */
export function checkPaymentIntent(intent: PaymentIntent): void {
  checkAmounts(intent);
  checkStatus(intent);
  checkAttempts(intent);
  checkRefunds(intent);
}

function checkAmounts(p: PaymentIntent): void {
  assert(isPaymentId(p.id), 'intent: id shape');
  assert(p.amountMinor > 0n && p.amountMinor <= BigInt(Number.MAX_SAFE_INTEGER), 'intent: amount in range');
  for (const a of [p.amountAuthorizedMinor, p.amountCapturableMinor, p.amountCapturedMinor, p.amountRefundedMinor, p.platformFeeMinor]) {
    assert(a >= 0n, 'intent: amounts are non-negative');
  }
  assert(p.amountAuthorizedMinor <= p.amountMinor, 'intent: authorized <= amount');
  assert(p.amountCapturedMinor <= p.amountAuthorizedMinor, 'intent: captured <= authorized');
  assert(p.amountCapturableMinor <= p.amountAuthorizedMinor, 'intent: capturable <= authorized');
  assert(p.amountCapturableMinor + p.amountCapturedMinor <= p.amountMinor, 'intent: capturable + captured <= amount');
  assert(p.platformFeeMinor <= p.amountCapturedMinor, 'intent: fee <= captured');
  assert(refundableMinor(p) >= 0n, 'intent: refunds + chargeback <= captured');
  assert(p.version >= 1 && p.updatedAtMs >= p.createdAtMs, 'intent: version and times');
}

function checkStatus(p: PaymentIntent): void {
  const op = currentOperation(p);
  assert((p.status === 'processing') === (op !== null), 'intent: processing iff an authorize/capture/cancel is in flight');
  assert((p.status === 'succeeded') === (p.amountCapturedMinor > 0n), 'intent: succeeded iff something was captured');
  if (op?.operation === 'capture') assert(p.amountCapturableMinor > 0n, 'intent: capturing needs a capturable amount');
  if (p.amountCapturableMinor > 0n) {
    assert(p.status === 'requires_capture' || p.status === 'processing', 'intent: capturable only while capturable');
  }
  if (p.status === 'requires_capture') assert(p.amountCapturableMinor > 0n && p.pspReference !== null, 'intent: requires_capture has an authorization');
  if (p.status === 'requires_action') assert(p.pspReference !== null, 'intent: requires_action has a PSP payment');
  if (p.status === 'succeeded') assert(p.pspReference !== null && p.psp !== null, 'intent: succeeded has a PSP payment');
  if (p.status === 'processing') assert(p.psp !== null && p.route.includes(p.psp), 'intent: processing at a routed PSP');
  if (p.chargeback !== null || p.dispute !== null) assert(p.status === 'succeeded', 'intent: disputes only of captured payments');
  checkDispute(p);
  const deferrable = p.status === 'processing' || p.status === 'requires_capture' || p.status === 'requires_action';
  assert(p.deferredPspEvents.length === 0 || deferrable, 'intent: deferred events only while a capture may come');
  assert(p.deferredPspEvents.length <= DEFERRED_EVENTS_MAX, 'intent: deferred events bounded');
}

function checkAttempts(p: PaymentIntent): void {
  assert(p.attempts.length <= ATTEMPTS_MAX, 'intent: attempts bounded');
  let unknownSinceMs: number | null = null;
  for (const [i, a] of p.attempts.entries()) {
    assert(a.number === i + 1, 'intent: attempts numbered in order');
    const key = attemptIdempotencyKey(p.id, a.operation, a.operation === 'refund' ? (a.refundId ?? '') : a.number);
    assert(a.idempotencyKey === key, 'intent: attempt idempotency key');
    assert((a.operation === 'refund') === (a.refundId !== null), 'intent: refund attempts name their refund');
    const inFlight = isInFlight(a);
    assert(inFlight === (a.completedAtMs === null) && inFlight === (a.resolvedBy === null), 'intent: completion recorded with outcome');
    if (inFlight) unknownSinceMs = unknownSinceMs === null ? a.startedAtMs : Math.min(unknownSinceMs, a.startedAtMs);
    if (a.provisional) assert(a.operation === 'capture' && a.outcome === 'captured' && p.status === 'succeeded', 'intent: only a recorded capture is provisional');
  }
  assert(Number.isSafeInteger(p.captureReversals) && p.captureReversals >= 0 && p.captureReversals <= ATTEMPTS_MAX, 'intent: capture reversals bounded');
  assert(p.attempts.filter((a) => a.operation !== 'refund' && isInFlight(a)).length <= 1, 'intent: one operation at a time');
  assert(p.unknownSinceMs === unknownSinceMs, 'intent: unknownSinceMs is the oldest in-flight attempt');
}

function checkDispute(p: PaymentIntent): void {
  const cb = p.chargeback;
  const dispute = p.dispute;
  if (dispute === null) {
    assert(cb === null, 'intent: a chargeback belongs to a dispute');
    return;
  }
  // A standing chargeback is the dispute's latest stage: the first, or the second after a reversal.
  const standing = dispute.status === 'chargeback' ? 1 : dispute.status === 'second_chargeback' ? 2 : null;
  assert(standing === null ? cb === null : cb?.number === standing, 'intent: the standing chargeback matches the dispute stage');
  if (cb !== null) assert(cb.amountMinor > 0n && cb.feeReversedMinor >= 0n && cb.disputeFeeMinor >= 0n, 'intent: chargeback amounts');
}

function checkRefunds(p: PaymentIntent): void {
  assert(p.refunds.length <= REFUNDS_MAX, 'intent: refunds bounded');
  assert(p.refunds.length === 0 || p.status === 'succeeded', 'intent: refunds only of captured payments');
  let refundedMinor = 0n;
  let feeReversedMinor = (p.chargeback?.feeReversedMinor ?? 0n) + (p.dispute?.feeCarriedMinor ?? 0n);
  for (const r of p.refunds) {
    assert(isRefundId(r.id) && r.amountMinor > 0n, 'intent: refund id and amount');
    const attempts = p.attempts.filter((a) => a.refundId === r.id);
    assert(r.origin === 'psp' || attempts.length === 1, 'intent: one call per refund of ours');
    assert((r.status === 'pending') === attempts.some(isInFlight), 'intent: pending refund iff its call is in flight');
    if (r.status === 'succeeded') refundedMinor += r.amountMinor;
    else assert(r.feeReversedMinor === 0n, 'intent: fee reversed only by succeeded refunds');
    assert(Number.isSafeInteger(r.reversals) && r.reversals >= 0 && r.reversals <= REFUND_REVERSALS_MAX, 'intent: refund reversals bounded');
    assert(r.reversals > 0 || r.feeCarriedMinor === 0n, 'intent: only a reversed refund carries a fee share');
    feeReversedMinor += r.feeReversedMinor + r.feeCarriedMinor;
  }
  assert(new Set(p.refunds.map((r) => r.id)).size === p.refunds.length, 'intent: refund ids unique');
  assert(refundedMinor === p.amountRefundedMinor, 'intent: refunded = sum of succeeded refunds');
  assert(feeReversedMinor <= p.platformFeeMinor, 'intent: fee reversed <= fee charged');
  const reversedMinor = refundedMinor + (p.chargeback?.amountMinor ?? 0n);
  if (p.amountCapturedMinor > 0n && reversedMinor === p.amountCapturedMinor) {
    assert(feeReversedMinor === p.platformFeeMinor, 'intent: a fully reversed payment returns exactly its fee');
  }
}
