/**
 * Internal: the working copy every payment command edits, and the steps commands share (start an
 * attempt, record a capture, a decline, a refund...). Not public: commands are the API.
 *
 * Why a draft rather than spreading objects in each command: every change must bump `version`,
 * recompute `unknownSinceMs`, go through the status table, emit its outbox event, and end with the
 * invariant check. Doing that in one `finish()` means no command can forget one of them.
 */
import { TallyError, assert } from '../errors.js';
import { sha256Hex } from '../ledger/index.js';
import type { DeclineReason, PspName, PspWebhookEvent } from './psp-vocabulary.js';
import { feeReversalMinor, platformFeeMinor } from './ledger-postings.js';
import type { AnomalyReason, PaymentEffect, PaymentEvent, PaymentTransition } from './payment-effect.js';
import {
  ATTEMPTS_MAX,
  type AttemptOutcome,
  type Chargeback,
  DEFERRED_EVENTS_MAX,
  type DisputeStatus,
  type PaymentIntent,
  type PaymentStatus,
  type PspAttempt,
  type PspOperation,
  REFUNDS_MAX,
  REFUND_REVERSALS_MAX,
  type Refund,
  type ResolvedBy,
  attemptIdempotencyKey,
  checkPaymentIntent,
  currentOperation,
  isInFlight,
  isRefundId,
  refundableMinor,
  statusTransitions,
} from './payment-intent.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Statuses in which a capture may still be recorded, so refund/chargeback events wait for it. */
const awaitingCapture: readonly PaymentStatus[] = ['processing', 'requires_capture', 'requires_action'];

export class IntentDraft {
  readonly next: Mutable<PaymentIntent>;
  readonly effects: PaymentEffect[] = [];
  error: TallyError | null = null;
  private changed = false;

  constructor(
    readonly before: PaymentIntent,
    readonly nowMs: number,
  ) {
    assert(Number.isSafeInteger(nowMs) && nowMs >= 0, 'nowMs must be a non-negative safe integer');
    this.next = { ...before };
  }

  update(fields: Partial<Mutable<PaymentIntent>>): void {
    Object.assign(this.next, fields);
    this.changed = true;
  }

  /** Moves to `to` through the status table, publishing the change. */
  setStatus(to: PaymentStatus): void {
    const from = this.next.status;
    if (from === to) return;
    assert(statusTransitions[from].includes(to), `status ${from} -> ${to} is not in the transition table`);
    this.update({ status: to });
    this.publish({ type: 'payment.status_changed', from, to });
  }

  publish(event: PaymentEvent): void {
    this.effects.push({ kind: 'publish_event', event });
  }

  anomaly(reason: AnomalyReason, psp: PspName | null, detail: string): void {
    this.effects.push({ kind: 'report_anomaly', reason, psp, detail });
  }

  /** Records the error the caller should see, and keeps its reason on the intent. */
  fail(error: TallyError): void {
    this.error = error;
    this.update({ lastErrorReason: error.reason });
  }

  hasRoomForAttempt(): boolean {
    return this.next.attempts.length < ATTEMPTS_MAX;
  }

  /** Appends a pending attempt and the effect that makes the call. Callers check room first. */
  startAttempt(operation: PspOperation, psp: PspName, amountMinor: bigint | null, refundId: string | null): PspAttempt {
    const number = this.next.attempts.length + 1;
    assert(number <= ATTEMPTS_MAX, 'startAttempt: no room for another attempt');
    const attempt: PspAttempt = Object.freeze({
      number,
      operation,
      psp,
      idempotencyKey: attemptIdempotencyKey(this.next.id, operation, refundId ?? number),
      amountMinor,
      refundId,
      outcome: 'pending',
      pspReference: operation === 'authorize' ? null : this.next.pspReference,
      resolvedBy: null,
      startedAtMs: this.nowMs,
      completedAtMs: null,
      provisional: false,
      modificationReference: null,
    });
    this.update({ attempts: [...this.next.attempts, attempt] });
    this.effects.push(callEffect(this.next, attempt));
    return attempt;
  }

  /** Sets an in-flight attempt's outcome (and the PSP payment it concerned, when named); `unknown` keeps it in flight. */
  resolveAttempt(number: number, outcome: AttemptOutcome, resolvedBy: ResolvedBy, pspReference: string | null = null): void {
    const current = this.next.attempts[number - 1];
    assert(current !== undefined && isInFlight(current), 'resolveAttempt: attempt not in flight');
    if (current.outcome === outcome && (pspReference === null || pspReference === current.pspReference)) return;
    const known = outcome !== 'unknown' && outcome !== 'pending';
    const resolved: PspAttempt = Object.freeze({
      ...current,
      outcome,
      pspReference: pspReference ?? current.pspReference,
      resolvedBy: known ? resolvedBy : null,
      completedAtMs: known ? this.nowMs : null,
    });
    this.update({ attempts: this.next.attempts.map((a) => (a.number === number ? resolved : a)) });
  }

  /** Records the PSP's own reference of an in-flight request, the first time the PSP names it. */
  noteModificationReference(number: number, modificationReference: string): void {
    const current = this.next.attempts[number - 1];
    assert(current !== undefined && isInFlight(current), 'noteModificationReference: attempt not in flight');
    if (current.modificationReference !== null) return;
    const noted: PspAttempt = Object.freeze({ ...current, modificationReference });
    this.update({ attempts: this.next.attempts.map((a) => (a.number === number ? noted : a)) });
  }

  /** Amends one refund's fields (status changes go through the record* steps). */
  updateRefund(refundId: string, fields: Partial<Pick<Refund, 'pspEventAtMs'>>): void {
    const current = this.next.refunds.find((r) => r.id === refundId);
    assert(current !== undefined, 'updateRefund: a known refund');
    const amended: Refund = Object.freeze({ ...current, ...fields });
    this.update({ refunds: this.next.refunds.map((r) => (r.id === refundId ? amended : r)) });
  }

  /** Marks a settled capture as provisional (recorded from an answer its webhook may contradict) or PSP-confirmed. */
  setProvisional(number: number, provisional: boolean): void {
    const current = this.next.attempts[number - 1];
    assert(current !== undefined && current.operation === 'capture' && current.outcome === 'captured', 'setProvisional: a recorded capture');
    if (current.provisional === provisional) return;
    const amended: PspAttempt = Object.freeze({ ...current, provisional });
    this.update({ attempts: this.next.attempts.map((a) => (a.number === number ? amended : a)) });
  }

  finish(): PaymentTransition {
    this.settleDeferred();
    if (!this.changed) {
      assert(this.effects.every((e) => e.kind === 'report_anomaly'), 'finish: effects without a change');
      return { intent: this.before, effects: this.effects, changed: false, error: this.error };
    }
    const inFlightStarts = this.next.attempts.filter(isInFlight).map((a) => a.startedAtMs);
    this.next.unknownSinceMs = inFlightStarts.length === 0 ? null : Math.min(...inFlightStarts);
    this.next.version = this.before.version + 1;
    // Monotonic even if the clock steps back, so updatedAtMs >= createdAtMs always holds.
    this.next.updatedAtMs = Math.max(this.nowMs, this.before.updatedAtMs);
    const intent: PaymentIntent = Object.freeze({ ...this.next });
    checkPaymentIntent(intent);
    return { intent, effects: this.effects, changed: true, error: this.error };
  }

  /**
   * Deferred refund/chargeback events wait for a capture: once the payment has succeeded they are
   * applied (oldest first, so the result does not depend on arrival order); if it ended otherwise
   * they can never apply and are reported. Events of the same time (Stripe's are whole seconds)
   * go in the order their stages happen (a dispute before its reversal), then by event id.
   */
  private settleDeferred(): void {
    const deferred = this.next.deferredPspEvents;
    if (deferred.length === 0) return;
    if (this.next.status === 'succeeded') {
      this.update({ deferredPspEvents: [] });
      const ordered = [...deferred].sort((a, b) => a.occurredAtMs - b.occurredAtMs || stageOrder(a) - stageOrder(b) || (a.pspEventId < b.pspEventId ? -1 : 1));
      for (const event of ordered) {
        // These events were accepted (and acknowledged) earlier: one that cannot apply now must
        // not block recording the capture that released them, so it becomes an anomaly to review.
        try {
          applyMoneyEvent(this, event);
        } catch (error) {
          if (!(error instanceof TallyError)) throw error;
          this.anomaly('contradicting_event', event.psp, `deferred ${event.action} ${event.pspEventId}: ${error.message}`);
        }
      }
    } else if (!awaitingCapture.includes(this.next.status)) {
      this.anomaly('deferred_events_dropped', this.next.psp, `${deferred.map((e) => e.pspEventId).join(', ')}: payment ended ${this.next.status}`);
      this.update({ deferredPspEvents: [] });
    }
  }
}

/** Where an event's stage comes in a payment's life: disputes in the order they happen, after other money events. */
function stageOrder(event: PspWebhookEvent): number {
  switch (event.action) {
    case 'chargeback': return 1;
    case 'chargeback_reversed': return 2;
    case 'second_chargeback': return 3;
    default: return 0;
  }
}

/** Starts an authorization at `psp` (a new PSP payment: reference and action cleared). */
export function beginAuthorize(d: IntentDraft, psp: PspName): void {
  d.update({ psp, pspReference: null, nextActionUrl: null });
  d.startAttempt('authorize', psp, d.next.amountMinor, null);
  d.setStatus('processing');
}

/** A retryable failure of an authorization: the next PSP of the route, or `failed`. */
export function failOver(d: IntentDraft, from: PspName): void {
  const next = d.next.route[d.next.route.indexOf(from) + 1];
  if (next !== undefined && d.hasRoomForAttempt()) {
    beginAuthorize(d, next);
    return;
  }
  d.fail(new TallyError('PSP_UNAVAILABLE', 'no payment service provider could take the payment', { paymentId: d.next.id }));
  d.setStatus('failed');
}

/** An authorization of `amountMinor`: wait for a capture request (manual) or capture now (automatic). */
export function recordAuthorized(d: IntentDraft, pspReference: string, amountMinor: bigint): void {
  d.update({ pspReference, amountAuthorizedMinor: amountMinor, amountCapturableMinor: amountMinor, nextActionUrl: null });
  if (d.next.captureMethod === 'automatic' && d.hasRoomForAttempt()) {
    beginCapture(d, amountMinor);
    return;
  }
  if (d.next.captureMethod === 'automatic') {
    d.fail(new TallyError('LIMIT_EXCEEDED', 'too many PSP calls for this payment; capture it explicitly', { paymentId: d.next.id }));
  }
  d.setStatus('requires_capture');
}

/** Starts a capture of `amountMinor` (at most the capturable amount) at the current PSP. */
export function beginCapture(d: IntentDraft, amountMinor: bigint): void {
  assert(d.next.psp !== null && amountMinor > 0n && amountMinor <= d.next.amountCapturableMinor, 'beginCapture: amount within capturable');
  d.startAttempt('capture', d.next.psp, amountMinor, null);
  d.setStatus('processing');
}

/** A capture of `amountMinor`: the rest of the authorization is released; the fee is charged. */
export function recordCaptured(d: IntentDraft, amountMinor: bigint): void {
  const p = d.next;
  assert(p.psp !== null && p.pspReference !== null, 'recordCaptured: PSP payment known');
  const feeMinor = platformFeeMinor(amountMinor, p.currency, p.fees);
  d.update({
    amountCapturedMinor: amountMinor,
    amountCapturableMinor: 0n,
    amountAuthorizedMinor: p.amountAuthorizedMinor > amountMinor ? p.amountAuthorizedMinor : amountMinor,
    platformFeeMinor: feeMinor,
    nextActionUrl: null,
    lastErrorReason: null,
  });
  d.setStatus('succeeded');
  d.effects.push({
    kind: 'post_ledger',
    event: { kind: 'capture', paymentId: p.id, psp: p.psp, currency: p.currency, amountMinor, feeMinor, sequence: p.captureReversals + 1 },
  });
}

/**
 * The latest capture attempt when it is recorded captured and nothing has been built on it yet
 * (no refund, no dispute); null otherwise. Only such a capture can be unwound safely: a refund or
 * chargeback of it would have to be unwound too. Provisional or PSP-confirmed alike: a card scheme
 * may reject a capture the PSP had confirmed (Adyen CAPTURE_FAILED after CAPTURE success).
 */
export function unwindableCapture(p: PaymentIntent): PspAttempt | null {
  const capture = [...p.attempts].reverse().find((a) => a.operation === 'capture');
  if (capture?.outcome !== 'captured' || p.status !== 'succeeded') return null;
  if (p.refunds.length > 0 || p.dispute !== null) return null;
  return capture;
}

/**
 * The PSP reports that a recorded capture failed: the capture's ledger entry is reversed (once:
 * the attempt is no longer `captured` afterwards) and the payment returns to `requires_capture`
 * with the whole authorization capturable, to be captured again (by us, or by the PSP's own
 * re-capture, which arrives as a new `captured` event) or canceled.
 */
export function unwindCapture(d: IntentDraft, capture: PspAttempt, reason: DeclineReason): void {
  const p = d.next;
  assert(p.psp !== null && unwindableCapture(p)?.number === capture.number, 'unwindCapture: an unwindable capture');
  const sequence = p.captureReversals + 1;
  // Read before the update below: `d.next` is the draft being edited.
  const reversal = { kind: 'capture_reversal', paymentId: p.id, psp: p.psp, currency: p.currency, amountMinor: p.amountCapturedMinor, feeMinor: p.platformFeeMinor, sequence } as const;
  const unwound: PspAttempt = Object.freeze({ ...capture, outcome: 'declined', resolvedBy: 'webhook', completedAtMs: d.nowMs, provisional: false });
  d.update({
    attempts: p.attempts.map((a) => (a.number === capture.number ? unwound : a)),
    amountCapturableMinor: p.amountAuthorizedMinor,
    amountCapturedMinor: 0n,
    platformFeeMinor: 0n,
    captureReversals: sequence,
    declineReason: reason,
  });
  d.effects.push({ kind: 'post_ledger', event: reversal });
  d.setStatus('requires_capture');
  d.fail(declineError(p.id, reason));
}

/** A declined authorization: back to requires_payment_method (retry with another method). */
export function recordDeclined(d: IntentDraft, reason: DeclineReason): void {
  d.update({ declineReason: reason, amountCapturableMinor: 0n, nextActionUrl: null });
  d.setStatus('requires_payment_method');
  d.fail(declineError(d.next.id, reason));
}

/** A declined capture: the authorization can no longer be captured. */
export function recordCaptureFailed(d: IntentDraft, reason: DeclineReason): void {
  d.update({ declineReason: reason, amountCapturableMinor: 0n });
  d.setStatus('failed');
  d.fail(declineError(d.next.id, reason));
}

/** Canceled at the PSP (voided, expired) or locally: nothing held any more. */
export function recordCanceled(d: IntentDraft): void {
  d.update({ amountCapturableMinor: 0n, nextActionUrl: null });
  d.setStatus('canceled');
}

/** The typed error of a decline: INSUFFICIENT_FUNDS or CARD_DECLINED, with the normalized reason. */
export function declineError(paymentId: string, reason: DeclineReason): TallyError {
  const code = reason === 'insufficient_funds' ? 'INSUFFICIENT_FUNDS' : 'CARD_DECLINED';
  return new TallyError(code, `the payment service provider declined (${reason})`, { paymentId, declineReason: reason });
}

/** Throws CURRENCY_MISMATCH or AMOUNT_OUT_OF_RANGE unless a PSP-reported amount fits (0, maxMinor]. */
export function checkPspAmount(intent: PaymentIntent, currency: string, amountMinor: bigint, maxMinor: bigint, what: string): void {
  if (currency !== intent.currency) {
    throw new TallyError('CURRENCY_MISMATCH', `${what}: PSP reported ${currency}, payment is in ${intent.currency}`, {
      expected: intent.currency,
      actual: currency,
      paymentId: intent.id,
    });
  }
  if (typeof amountMinor !== 'bigint' || amountMinor <= 0n || amountMinor > maxMinor) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `${what}: PSP reported ${String(amountMinor)}, allowed up to ${maxMinor}`, {
      field: 'amountMinor',
      paymentId: intent.id,
    });
  }
}

/**
 * A refund of ours succeeded, one made at the PSP is learned, or a reversed refund succeeded again
 * (the PSP retried it): reverse its fee share, post it (`pspEventAtMs`: the PSP time of the event
 * that says so, null for a call's answer).
 */
export function recordRefundSucceeded(d: IntentDraft, refund: Refund, pspEventAtMs: number | null = null): void {
  const p = d.next;
  assert(p.psp !== null, 'recordRefundSucceeded: captured payments have a PSP');
  assert(refund.status !== 'succeeded', 'recordRefundSucceeded: not already succeeded');
  const feeReversedMinor = feeReversalMinor({
    feeMinor: p.platformFeeMinor,
    capturedMinor: p.amountCapturedMinor,
    reversedBeforeMinor: p.amountRefundedMinor + (p.chargeback?.amountMinor ?? 0n),
    amountMinor: refund.amountMinor,
    rounding: p.fees.rounding,
  });
  const done: Refund = Object.freeze({ ...refund, status: 'succeeded', feeReversedMinor, pspEventAtMs: pspEventAtMs ?? refund.pspEventAtMs, updatedAtMs: d.nowMs });
  const known = p.refunds.some((r) => r.id === refund.id);
  d.update({
    refunds: known ? p.refunds.map((r) => (r.id === refund.id ? done : r)) : [...p.refunds, done],
    amountRefundedMinor: p.amountRefundedMinor + refund.amountMinor,
  });
  d.effects.push({
    kind: 'post_ledger',
    event: {
      kind: 'refund', paymentId: p.id, refundId: refund.id, psp: p.psp, currency: p.currency, amountMinor: refund.amountMinor, feeReversedMinor,
      sequence: refund.reversals + 1,
    },
  });
  d.publish({ type: 'payment.refund_succeeded', refundId: refund.id, amountMinor: refund.amountMinor });
}

/**
 * The PSP reports that a refund it had completed failed after all (a card scheme rejected it:
 * Adyen REFUND_FAILED, or REFUND success=false after `received`): its ledger entry is reversed
 * and its amount is refundable again. The fee share taken back is `round(F * R / C) -
 * round(F * (R - a) / C)` for the amount R reversed now, so the fee reversed in total stays exact
 * (ledger-postings.ts); what differs from the refund's own share stays counted on the refund.
 */
function reverseRefund(d: IntentDraft, refund: Refund, event: PspWebhookEvent): void {
  const p = d.next;
  assert(p.psp !== null && refund.status === 'succeeded', 'reverseRefund: a succeeded refund of a captured payment');
  const reversedMinor = p.amountRefundedMinor + (p.chargeback?.amountMinor ?? 0n);
  const feeTakenBackMinor = feeReversalMinor({
    feeMinor: p.platformFeeMinor,
    capturedMinor: p.amountCapturedMinor,
    reversedBeforeMinor: reversedMinor - refund.amountMinor,
    amountMinor: refund.amountMinor,
    rounding: p.fees.rounding,
  });
  const reversals = refund.reversals + 1;
  const failed: Refund = Object.freeze({
    ...refund,
    status: 'failed',
    feeReversedMinor: 0n,
    feeCarriedMinor: refund.feeCarriedMinor + refund.feeReversedMinor - feeTakenBackMinor,
    reversals,
    pspEventAtMs: event.occurredAtMs,
    updatedAtMs: d.nowMs,
  });
  d.update({ refunds: p.refunds.map((r) => (r.id === refund.id ? failed : r)), amountRefundedMinor: p.amountRefundedMinor - refund.amountMinor });
  d.effects.push({
    kind: 'post_ledger',
    event: {
      kind: 'refund_reversal', paymentId: p.id, refundId: refund.id, psp: p.psp, currency: p.currency, amountMinor: refund.amountMinor,
      feeReversedMinor: feeTakenBackMinor, sequence: reversals,
    },
  });
  d.publish({ type: 'payment.refund_failed', refundId: refund.id });
  d.fail(declineError(p.id, event.declineReason ?? 'other'));
}

/** A refund of ours failed: its amount is refundable again. */
export function recordRefundFailed(d: IntentDraft, refund: Refund, error: TallyError): void {
  const failed: Refund = Object.freeze({ ...refund, status: 'failed', updatedAtMs: d.nowMs });
  d.update({ refunds: d.next.refunds.map((r) => (r.id === refund.id ? failed : r)) });
  d.publish({ type: 'payment.refund_failed', refundId: refund.id });
  d.fail(error);
}

/**
 * True when a PSP event is about this intent's current PSP payment. While the current reference is
 * unknown (the authorization's answer is outstanding) an event from the same PSP is adopted,
 * unless it names the PSP payment of an earlier attempt.
 */
export function isCurrentReference(intent: PaymentIntent, event: PspWebhookEvent): boolean {
  if (intent.psp !== event.psp) return false;
  if (intent.pspReference !== null) return intent.pspReference === event.pspReference;
  return !intent.attempts.some((a) => a.pspReference === event.pspReference);
}

/**
 * Applies a money event: `refunded`, `refund_failed` or a dispute stage (`chargeback`,
 * `chargeback_reversed`, `second_chargeback`). These are keyed facts (a refund id, a dispute
 * stage), not status changes, so they are never dropped for being older than the last status
 * event; they wait in `deferredPspEvents` while a capture may still be recorded.
 */
export function applyMoneyEvent(d: IntentDraft, event: PspWebhookEvent): void {
  const p = d.next;
  if (!isCurrentReference(p, event)) {
    d.anomaly('event_for_other_reference', event.psp, `${event.action} ${event.pspEventId} for ${event.pspReference}`);
    return;
  }
  if (p.status !== 'succeeded') {
    if (awaitingCapture.includes(p.status)) deferEvent(d, event);
    else d.anomaly('money_event_on_uncaptured_payment', event.psp, `${event.action} ${event.pspEventId} while ${p.status}`);
    return;
  }
  switch (event.action) {
    case 'refunded':
      return applyRefunded(d, event);
    case 'refund_failed':
      return applyRefundFailed(d, event);
    case 'chargeback':
    case 'chargeback_reversed':
    case 'second_chargeback':
      return applyDisputeStage(d, event, event.action);
    default:
      assert(false, `applyMoneyEvent: ${event.action} is a status event`);
  }
}

function deferEvent(d: IntentDraft, event: PspWebhookEvent): void {
  const deferred = d.next.deferredPspEvents;
  if (deferred.some((e) => e.pspEventId === event.pspEventId)) return;
  if (deferred.length >= DEFERRED_EVENTS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', 'too many PSP events waiting for this payment\'s capture', { paymentId: d.next.id });
  }
  d.update({ deferredPspEvents: [...deferred, Object.freeze({ ...event })] });
}

function applyRefunded(d: IntentDraft, event: PspWebhookEvent): void {
  const p = d.next;
  const refundId = event.refundId ?? externalRefundId(p.id, event);
  const refund = p.refunds.find((r) => r.id === refundId);
  if (refund !== undefined) {
    if (refund.pspEventAtMs !== null && event.occurredAtMs <= refund.pspEventAtMs) return; // an older (or the same) report
    if (refund.status === 'succeeded') {
      // A later report of the success (e.g. REFUND after the call's answer): only its time is kept,
      // so that an older failure report can no longer reverse it.
      d.updateRefund(refund.id, { pspEventAtMs: event.occurredAtMs });
      return;
    }
    if (refund.status === 'failed') {
      retryReversedRefund(d, refund, event);
      return;
    }
    checkPspAmount(p, event.currency, event.amountMinor, refund.amountMinor, `refund ${refundId}`);
    if (event.amountMinor !== refund.amountMinor) throw refundAmountMismatch(p.id, refundId);
    const attempt = p.attempts.find((a) => a.refundId === refundId && isInFlight(a));
    assert(attempt !== undefined, 'applyRefunded: a pending refund has its call in flight');
    d.resolveAttempt(attempt.number, 'refunded', 'webhook');
    recordRefundSucceeded(d, refund, event.occurredAtMs);
    return;
  }
  // A refund made outside Tally (PSP dashboard) or whose id the connector could not map.
  if (!isRefundId(refundId)) {
    throw new TallyError('FIELD_INVALID', `refundId: ${refundId} is not a refund id`, { field: 'refundId', paymentId: p.id });
  }
  if (p.refunds.length >= REFUNDS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `a payment has at most ${REFUNDS_MAX} refunds`, { paymentId: p.id });
  }
  checkPspAmount(p, event.currency, event.amountMinor, refundableMinor(p), `refund ${refundId}`);
  recordRefundSucceeded(d, {
    id: refundId,
    amountMinor: event.amountMinor,
    status: 'pending',
    origin: 'psp',
    feeReversedMinor: 0n,
    reversals: 0,
    feeCarriedMinor: 0n,
    pspEventAtMs: null,
    createdAtMs: d.nowMs,
    updatedAtMs: d.nowMs,
  }, event.occurredAtMs);
}

/**
 * A success reported for a failed refund, later in PSP time than what failed it. A refund the PSP
 * failed after it had succeeded (a scheme rejection) may be retried by the PSP itself (Adyen:
 * "Transaction Recaptured"): it succeeds again, as a new ledger entry. Any other failed refund
 * (declined by the call, or reversed too often) is reported: a human looks.
 */
function retryReversedRefund(d: IntentDraft, refund: Refund, event: PspWebhookEvent): void {
  const p = d.next;
  const why = refund.reversals === 0 ? 'recorded failed' : refund.reversals >= REFUND_REVERSALS_MAX ? 'reversed too often' : null;
  const fits = event.currency === p.currency && event.amountMinor === refund.amountMinor && refund.amountMinor <= refundableMinor(p);
  if (why !== null || !fits) {
    d.anomaly('contradicting_event', event.psp, `refund ${refund.id} ${why ?? 'no longer refundable as reported'}, PSP says refunded (${event.pspEventId})`);
    return;
  }
  recordRefundSucceeded(d, refund, event.occurredAtMs);
}

function applyRefundFailed(d: IntentDraft, event: PspWebhookEvent): void {
  const refund = event.refundId === null ? undefined : d.next.refunds.find((r) => r.id === event.refundId);
  if (refund === undefined || refund.status === 'failed') return;
  // An older report is stale. One of the same time is not: PSP times have second precision, and a
  // failure follows the success it overrides, so a tie goes to the failure (and a success report
  // tied with an applied failure is dropped, in applyRefunded): either order ends failed.
  if (refund.pspEventAtMs !== null && event.occurredAtMs < refund.pspEventAtMs) return;
  if (refund.status === 'succeeded') {
    if (refund.reversals >= REFUND_REVERSALS_MAX) {
      d.anomaly('contradicting_event', event.psp, `refund ${refund.id} reversed too often; refund_failed ${event.pspEventId} not applied`);
      return;
    }
    reverseRefund(d, refund, event);
    return;
  }
  const attempt = d.next.attempts.find((a) => a.refundId === refund.id && isInFlight(a));
  assert(attempt !== undefined, 'applyRefundFailed: a pending refund has its call in flight');
  d.resolveAttempt(attempt.number, 'declined', 'webhook');
  d.updateRefund(refund.id, { pspEventAtMs: event.occurredAtMs });
  recordRefundFailed(d, d.next.refunds.find((r) => r.id === refund.id) ?? refund, declineError(d.next.id, event.declineReason ?? 'other'));
}

/** The order of dispute stages: an event for a stage at or below the dispute's is a no-op. */
const disputeRanks: Readonly<Record<DisputeStatus, 1 | 2 | 3>> = { chargeback: 1, chargeback_reversed: 2, second_chargeback: 3 };

/**
 * A dispute stage (psp-webhook.ts, 2). The dispute moves to the furthest stage reported, whatever
 * the arrival order, and the ledger follows the chargeback that stands:
 * - a stage that takes the funds (`chargeback`, `second_chargeback`) posts its chargeback, after
 *   reversing one still standing (a second chargeback that overtook the reversal between them);
 * - `chargeback_reversed` reverses the standing chargeback; if none was ever applied (the
 *   reversal overtook its chargeback) nothing was taken, so nothing is given back, and the late
 *   chargeback is then a no-op (a lower stage). Each chargeback is thus reversed at most once.
 * Amounts are checked before anything changes, so a refused event leaves the draft untouched.
 */
function applyDisputeStage(d: IntentDraft, event: PspWebhookEvent, status: DisputeStatus): void {
  const p = d.next;
  if (p.dispute !== null && disputeRanks[status] <= disputeRanks[p.dispute.status]) return;
  const standing = p.chargeback;
  const takesFunds = status !== 'chargeback_reversed';
  if (takesFunds) {
    checkPspAmount(p, event.currency, event.amountMinor, refundableMinor(p) + (standing?.amountMinor ?? 0n), 'chargeback');
  } else {
    checkPspAmount(p, event.currency, event.amountMinor, p.amountCapturedMinor, 'chargeback reversal');
    if (standing !== null && event.amountMinor !== standing.amountMinor) {
      // The dispute ended in the merchant's favour: the whole chargeback is reversed, but a
      // reversal of another amount is worth a human's look.
      d.anomaly('contradicting_event', event.psp, `chargeback_reversed ${event.pspEventId} of ${event.amountMinor}, chargeback was ${standing.amountMinor}`);
    }
  }
  let feeCarriedMinor = p.dispute?.feeCarriedMinor ?? 0n;
  if (standing !== null) feeCarriedMinor += reverseChargeback(d, standing);
  d.update({ dispute: Object.freeze({ status, pspEventId: event.pspEventId, occurredAtMs: event.occurredAtMs, feeCarriedMinor }) });
  if (takesFunds) postChargeback(d, event, status === 'chargeback' ? 1 : 2);
}

function postChargeback(d: IntentDraft, event: PspWebhookEvent, number: 1 | 2): void {
  const p = d.next;
  assert(p.psp !== null && p.chargeback === null, 'postChargeback: captured, and no chargeback standing');
  const feeReversedMinor = feeReversalMinor({
    feeMinor: p.platformFeeMinor,
    capturedMinor: p.amountCapturedMinor,
    reversedBeforeMinor: p.amountRefundedMinor,
    amountMinor: event.amountMinor,
    rounding: p.fees.rounding,
  });
  const disputeFeeMinor = p.fees.disputeFeeMinor;
  d.update({
    chargeback: Object.freeze({ amountMinor: event.amountMinor, feeReversedMinor, disputeFeeMinor, pspEventId: event.pspEventId, occurredAtMs: event.occurredAtMs, number }),
  });
  d.effects.push({
    kind: 'post_ledger',
    event: { kind: 'chargeback', paymentId: p.id, psp: p.psp, currency: p.currency, amountMinor: event.amountMinor, feeReversedMinor, disputeFeeMinor, number },
  });
  d.publish({ type: 'payment.chargeback', amountMinor: event.amountMinor });
}

/**
 * Reverses the standing chargeback: amount and dispute fee back as they were. The fee share it
 * takes back is `round(F * (R + c) / C) - round(F * R / C)` for the refunds R settled now, so the
 * fee reversed in total stays `round(F * reversed / C)` (ledger-postings.ts); that is the
 * chargeback's own share unless a refund settled while it stood. Returns the share's difference
 * (what the reversed chargeback still counts), kept on the dispute for the fee invariant.
 */
function reverseChargeback(d: IntentDraft, standing: Chargeback): bigint {
  const p = d.next;
  assert(p.psp !== null, 'reverseChargeback: captured payments have a PSP');
  const feeReversedMinor = feeReversalMinor({
    feeMinor: p.platformFeeMinor,
    capturedMinor: p.amountCapturedMinor,
    reversedBeforeMinor: p.amountRefundedMinor,
    amountMinor: standing.amountMinor,
    rounding: p.fees.rounding,
  });
  d.update({ chargeback: null });
  d.effects.push({
    kind: 'post_ledger',
    event: {
      kind: 'chargeback_reversal', paymentId: p.id, psp: p.psp, currency: p.currency, amountMinor: standing.amountMinor,
      feeReversedMinor, disputeFeeMinor: standing.disputeFeeMinor, number: standing.number,
    },
  });
  d.publish({ type: 'payment.chargeback_reversed', amountMinor: standing.amountMinor });
  return standing.feeReversedMinor - feeReversedMinor;
}

/**
 * The id of a refund learned only from a PSP event: derived from the event, so a redelivery of
 * the same event finds the same refund (a no-op) and the ledger entry id is stable.
 */
export function externalRefundId(paymentId: string, event: PspWebhookEvent): string {
  return `re_psp_${sha256Hex(`${paymentId}\n${event.psp}\n${event.pspEventId}`).slice(0, 32)}`;
}

function refundAmountMismatch(paymentId: string, refundId: string): TallyError {
  return new TallyError('AMOUNT_OUT_OF_RANGE', `refund ${refundId}: PSP reported another amount than requested`, {
    field: 'amountMinor',
    paymentId,
    refundId,
  });
}

function callEffect(p: PaymentIntent, attempt: PspAttempt): PaymentEffect {
  switch (attempt.operation) {
    case 'authorize':
      assert(p.paymentMethodId !== null, 'callEffect: authorize needs a payment method');
      return {
        kind: 'call_psp_authorize',
        attempt,
        amountMinor: p.amountMinor,
        currency: p.currency,
        captureMethod: p.captureMethod,
        paymentMethodId: p.paymentMethodId,
      };
    case 'capture':
      assert(p.pspReference !== null && attempt.amountMinor !== null, 'callEffect: capture of a known authorization');
      return { kind: 'call_psp_capture', attempt, pspReference: p.pspReference, amountMinor: attempt.amountMinor, currency: p.currency };
    case 'cancel':
      assert(p.pspReference !== null, 'callEffect: cancel of a known PSP payment');
      return { kind: 'call_psp_cancel', attempt, pspReference: p.pspReference };
    case 'refund':
      assert(p.pspReference !== null && attempt.amountMinor !== null && attempt.refundId !== null, 'callEffect: refund of a capture');
      return {
        kind: 'call_psp_refund',
        attempt,
        refundId: attempt.refundId,
        pspReference: p.pspReference,
        amountMinor: attempt.amountMinor,
        currency: p.currency,
      };
  }
}

/** The in-flight authorize/capture/cancel attempt, asserted present (callers know the status). */
export function operationInFlight(d: IntentDraft): PspAttempt {
  const op = currentOperation(d.next);
  assert(op !== null, 'operationInFlight: processing has an operation in flight');
  return op;
}
