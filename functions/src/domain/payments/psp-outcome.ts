/**
 * Recording what a PSP answered to one of our calls (`applyPspOutcome`).
 *
 * The answer is matched to its attempt by idempotency key. Where it came from matters:
 * - `call`: the answer to the original call. All outcomes count at face value; `retryable` means
 *   the PSP certainly did not act, so an authorization moves on to the next PSP of the route.
 * - `resend`: the janitor re-sent the same request with the same idempotency key (the PSP answers
 *   with the original result if it had one). A `retryable` answer then says nothing about the
 *   original request, so it counts as `unknown`.
 * - `lookup`: the janitor asked the PSP about the payment (`PspGateway.lookup`). `not_found` means
 *   the authorization never arrived (safe to route on); a failed lookup (`retryable`, `unknown`)
 *   changes nothing. A payment-level status answers an operation: for a capture, `authorized`
 *   means "not captured"; for a cancel, `authorized`/`requires_action` mean "not canceled" and
 *   `declined` means nothing is held. Refunds are not resolved by lookup (it is payment-level and
 *   cannot tell refunds apart): the janitor re-sends them.
 *
 * `unknown` never changes the status and is never routed elsewhere: the attempt stays in flight
 * (outcome `unknown`, `unknownSinceMs` set) until a webhook or the janitor settles it. `pending`
 * (the PSP accepted the request and reports the result by webhook) does the same, keeping the
 * attempt `pending`, and records the PSP payment it names when an authorization's was not known.
 *
 * An answer for an attempt already settled (a webhook came first, or a duplicate) is a no-op; one
 * that contradicts the recorded outcome with money (authorized, captured, refunded) is reported as
 * an anomaly. A janitor `lookup` may also refresh an intent waiting on the customer or the PSP
 * (`requires_action`, `requires_capture`) whose webhook was lost: pass the latest authorize
 * attempt's key.
 */
import { TallyError, assert } from '../errors.js';
import type { PspOutcome } from './psp-vocabulary.js';
import type { PaymentTransition } from './payment-effect.js';
import { type PaymentIntent, type PspAttempt, isInFlight } from './payment-intent.js';
import {
  IntentDraft,
  checkPspAmount,
  declineError,
  failOver,
  recordAuthorized,
  recordCanceled,
  recordCaptureFailed,
  recordCaptured,
  recordDeclined,
  recordRefundFailed,
  recordRefundSucceeded,
} from './intent-draft.js';

/** Where a PSP answer came from (see the file header). */
export type PspResultSource = 'call' | 'resend' | 'lookup';

/** A PSP answer to record. */
export interface PspCallResult {
  /** The attempt's idempotency key (from the `call_psp_*` effect or `attemptsToResolve`). */
  readonly idempotencyKey: string;
  readonly source: PspResultSource;
  readonly outcome: PspOutcome | { readonly kind: 'not_found' };
}

type Outcome = PspCallResult['outcome'];

/**
 * Applies a PSP answer to the attempt it answers. Throws `NOT_FOUND` for an unknown idempotency
 * key, `INVALID_STATE_TRANSITION` for an outcome that cannot answer that operation (e.g. `refunded`
 * to an authorization), `CURRENCY_MISMATCH`/`AMOUNT_OUT_OF_RANGE` for amounts the payment cannot
 * have. `error` in the result carries CARD_DECLINED, INSUFFICIENT_FUNDS or PSP_UNAVAILABLE for the
 * API caller when the answer was a failure.
 */
export function applyPspOutcome(intent: PaymentIntent, result: PspCallResult, nowMs: number): PaymentTransition {
  const attempt = intent.attempts.find((a) => a.idempotencyKey === result.idempotencyKey);
  if (attempt === undefined) {
    throw new TallyError('NOT_FOUND', `no PSP attempt ${result.idempotencyKey} on payment ${intent.id}`, {
      field: 'idempotency_key',
      paymentId: intent.id,
    });
  }
  assert(result.outcome.kind !== 'not_found' || result.source === 'lookup', 'applyPspOutcome: only lookups answer not_found');
  assert(attempt.operation !== 'refund' || result.source !== 'lookup', 'applyPspOutcome: refunds are resolved by resending, not lookup');
  const d = new IntentDraft(intent, nowMs);
  if (!isInFlight(attempt)) {
    settled(d, attempt, result);
    return d.finish();
  }
  if (result.outcome.kind === 'pending') {
    accepted(d, attempt, result.outcome.pspReference, result.source, result.outcome.modificationReference);
    return d.finish();
  }
  if (isInconclusive(attempt, result)) {
    d.resolveAttempt(attempt.number, 'unknown', result.source);
    return d.finish();
  }
  switch (attempt.operation) {
    case 'authorize':
      onAuthorize(d, attempt, result.outcome, result.source);
      break;
    case 'capture':
      onCapture(d, attempt, result.outcome, result.source);
      break;
    case 'cancel':
      onCancel(d, attempt, result.outcome, result.source);
      break;
    case 'refund':
      onRefund(d, attempt, result.outcome, result.source);
      break;
  }
  return d.finish();
}

/**
 * `unknown` always; `retryable` unless it is the first answer to the original call (a resend's or
 * a late answer's "not processed" says nothing about the original); a failed lookup.
 */
function isInconclusive(attempt: PspAttempt, result: PspCallResult): boolean {
  const kind = result.outcome.kind;
  if (kind === 'unknown') return true;
  if (kind !== 'retryable') return false;
  return result.source !== 'call' || attempt.outcome !== 'pending';
}

/**
 * `pending`: the call stays in flight; an authorization's PSP payment is recorded once named, and
 * the request's own reference when the PSP gives one (its webhook will name it).
 */
function accepted(d: IntentDraft, attempt: PspAttempt, pspReference: string | null, source: PspResultSource, modificationReference?: string): void {
  const named = attempt.operation === 'authorize' && pspReference !== null && d.next.pspReference === null;
  d.resolveAttempt(attempt.number, 'pending', source, named ? pspReference : null);
  if (named) d.update({ pspReference });
  if (modificationReference !== undefined) d.noteModificationReference(attempt.number, modificationReference);
}

function onAuthorize(d: IntentDraft, attempt: PspAttempt, outcome: Outcome, source: PspCallResult['source']): void {
  const p = d.next;
  switch (outcome.kind) {
    case 'authorized':
      checkPspAmount(p, outcome.currency, outcome.amountMinor, p.amountMinor, 'authorization');
      d.resolveAttempt(attempt.number, 'authorized', source, outcome.pspReference);
      recordAuthorized(d, outcome.pspReference, outcome.amountMinor);
      return;
    case 'captured':
      checkPspAmount(p, outcome.currency, outcome.amountMinor, p.amountMinor, 'capture');
      d.resolveAttempt(attempt.number, 'captured', source, outcome.pspReference);
      d.update({ pspReference: outcome.pspReference });
      recordCaptured(d, outcome.amountMinor);
      return;
    case 'requires_action':
      d.resolveAttempt(attempt.number, 'requires_action', source, outcome.pspReference);
      d.update({ pspReference: outcome.pspReference, nextActionUrl: outcome.actionUrl });
      d.setStatus('requires_action');
      return;
    case 'declined':
      d.resolveAttempt(attempt.number, 'declined', source, outcome.pspReference);
      if (outcome.pspReference !== null) d.update({ pspReference: outcome.pspReference });
      recordDeclined(d, outcome.reason);
      return;
    case 'canceled':
      d.resolveAttempt(attempt.number, 'canceled', source, outcome.pspReference);
      d.update({ pspReference: outcome.pspReference });
      recordCanceled(d);
      return;
    case 'retryable':
    case 'not_found':
      d.resolveAttempt(attempt.number, outcome.kind, source);
      failOver(d, attempt.psp);
      return;
    default:
      throw unexpected(d, attempt, outcome.kind);
  }
}

function onCapture(d: IntentDraft, attempt: PspAttempt, outcome: Outcome, source: PspCallResult['source']): void {
  const p = d.next;
  switch (outcome.kind) {
    case 'captured':
      checkPspAmount(p, outcome.currency, outcome.amountMinor, p.amountCapturableMinor, 'capture');
      d.resolveAttempt(attempt.number, 'captured', source);
      // Accepted, not confirmed (Adyen `received`): its webhook may still say it failed (psp-webhook.ts).
      if (outcome.provisional === true) d.setProvisional(attempt.number, true);
      recordCaptured(d, outcome.amountMinor);
      return;
    case 'declined':
      d.resolveAttempt(attempt.number, 'declined', source);
      recordCaptureFailed(d, outcome.reason);
      return;
    case 'canceled':
      d.resolveAttempt(attempt.number, 'canceled', source);
      recordCanceled(d);
      return;
    case 'retryable':
    case 'authorized': // the payment is still only authorized: the capture did not happen
      d.resolveAttempt(attempt.number, outcome.kind, source);
      d.setStatus('requires_capture');
      d.fail(pspUnavailable(p.id, 'capture'));
      return;
    default:
      throw unexpected(d, attempt, outcome.kind);
  }
}

function onCancel(d: IntentDraft, attempt: PspAttempt, outcome: Outcome, source: PspCallResult['source']): void {
  const p = d.next;
  // Where a cancel that did not happen leaves the payment: still authorized, or still awaiting the customer.
  const back = p.amountCapturableMinor > 0n ? 'requires_capture' : 'requires_action';
  switch (outcome.kind) {
    case 'canceled':
      d.resolveAttempt(attempt.number, 'canceled', source);
      recordCanceled(d);
      return;
    case 'captured': {
      // The PSP captured before our void arrived (e.g. its own automatic capture): record the money.
      const maxMinor = p.amountCapturableMinor > 0n ? p.amountCapturableMinor : p.amountMinor;
      checkPspAmount(p, outcome.currency, outcome.amountMinor, maxMinor, 'capture');
      d.resolveAttempt(attempt.number, 'captured', source);
      recordCaptured(d, outcome.amountMinor);
      return;
    }
    case 'declined':
      d.resolveAttempt(attempt.number, 'declined', source);
      if (source === 'lookup') {
        // The payment itself failed at the PSP: nothing is held, which is what canceling wanted.
        recordCanceled(d);
        return;
      }
      d.setStatus(back);
      d.fail(new TallyError('INVALID_STATE_TRANSITION', 'the payment service provider refused to cancel', {
        from: 'processing',
        command: 'cancel',
        paymentId: p.id,
      }));
      return;
    case 'retryable':
    case 'authorized':
    case 'requires_action':
      d.resolveAttempt(attempt.number, outcome.kind, source);
      d.setStatus(back);
      d.fail(pspUnavailable(p.id, 'cancel'));
      return;
    default:
      throw unexpected(d, attempt, outcome.kind);
  }
}

function onRefund(d: IntentDraft, attempt: PspAttempt, outcome: Outcome, source: PspCallResult['source']): void {
  const p = d.next;
  const refund = p.refunds.find((r) => r.id === attempt.refundId);
  assert(refund !== undefined && refund.status === 'pending', 'onRefund: an in-flight refund call has its pending refund');
  switch (outcome.kind) {
    case 'refunded':
      checkPspAmount(p, outcome.currency, outcome.amountMinor, refund.amountMinor, `refund ${refund.id}`);
      if (outcome.amountMinor !== refund.amountMinor) {
        throw new TallyError('AMOUNT_OUT_OF_RANGE', `refund ${refund.id}: PSP refunded another amount than requested`, {
          field: 'amountMinor',
          paymentId: p.id,
        });
      }
      d.resolveAttempt(attempt.number, 'refunded', source);
      recordRefundSucceeded(d, refund);
      return;
    case 'declined':
      d.resolveAttempt(attempt.number, 'declined', source);
      recordRefundFailed(d, refund, declineError(p.id, outcome.reason));
      return;
    case 'retryable':
      d.resolveAttempt(attempt.number, 'retryable', source);
      recordRefundFailed(d, refund, pspUnavailable(p.id, 'refund'));
      return;
    default:
      throw unexpected(d, attempt, outcome.kind);
  }
}

/**
 * An answer for a settled attempt: a no-op, except a janitor lookup refreshing an intent that waits
 * on the PSP or the customer (its webhook may be lost), and contradictions worth a human's look.
 */
function settled(d: IntentDraft, attempt: PspAttempt, result: PspCallResult): void {
  const p = d.next;
  const outcome = result.outcome;
  const latestAuthorize = [...p.attempts].reverse().find((a) => a.operation === 'authorize');
  if (result.source === 'lookup' && attempt.number === latestAuthorize?.number && (p.status === 'requires_action' || p.status === 'requires_capture')) {
    refresh(d, outcome);
    return;
  }
  const money = outcome.kind === 'authorized' || outcome.kind === 'captured' || outcome.kind === 'refunded';
  if (money && outcome.kind !== attempt.outcome) {
    d.anomaly('contradicting_event', attempt.psp, `${attempt.idempotencyKey} recorded ${attempt.outcome}, PSP now says ${outcome.kind}`);
  }
}

function refresh(d: IntentDraft, outcome: Outcome): void {
  const p = d.next;
  const waitingOnCustomer = p.status === 'requires_action';
  switch (outcome.kind) {
    case 'authorized':
      if (!waitingOnCustomer) return;
      checkPspAmount(p, outcome.currency, outcome.amountMinor, p.amountMinor, 'authorization');
      recordAuthorized(d, outcome.pspReference, outcome.amountMinor);
      return;
    case 'captured': {
      const maxMinor = waitingOnCustomer ? p.amountMinor : p.amountCapturableMinor;
      checkPspAmount(p, outcome.currency, outcome.amountMinor, maxMinor, 'capture');
      recordCaptured(d, outcome.amountMinor);
      return;
    }
    case 'declined':
      if (waitingOnCustomer) recordDeclined(d, outcome.reason);
      else d.anomaly('contradicting_event', p.psp, `authorized payment looked up as declined (${outcome.reason})`);
      return;
    case 'canceled':
      recordCanceled(d);
      return;
    default:
      // requires_action while waiting on the customer: nothing new; a failed lookup: try again later.
      return;
  }
}

function pspUnavailable(paymentId: string, operation: string): TallyError {
  return new TallyError('PSP_UNAVAILABLE', `the payment service provider could not ${operation} now; try again`, { paymentId, operation });
}

function unexpected(d: IntentDraft, attempt: PspAttempt, kind: string): TallyError {
  return new TallyError('INVALID_STATE_TRANSITION', `a PSP cannot answer ${kind} to a ${attempt.operation}`, {
    from: d.next.status,
    command: 'apply_psp_outcome',
    operation: attempt.operation,
    outcome: kind,
  });
}
