/**
 * Applying a verified, normalized PSP event (`applyWebhook`). The app calls it once per inbox
 * record (exactly-once by PSP event id); it is also safe to call again with the same event.
 *
 * Two kinds of events:
 *
 * 1. Status events (`requires_action`, `authorized`, `authorization_failed`, `captured`,
 *    `capture_failed`, `canceled`) move the current PSP payment along its lifecycle, whose stages
 *    are ranked: none 0 < requires_action 1 < authorized | authorization_failed 2 <
 *    captured | capture_failed | canceled 3. An event applies only if
 *    - it is about the current PSP payment (same PSP; same reference, or the reference is not
 *      known yet and the event does not name an earlier attempt's payment);
 *    - it is not older than `lastPspEventAtMs` (an older event never overwrites newer state);
 *    - its stage ranks above the intent's (an event for a stage already reached or passed is a
 *      no-op; one contradicting it at the same rank, e.g. `canceled` after `captured`, is
 *      reported as an anomaly and changes nothing).
 *    Applied, it settles whatever authorize/capture/cancel call is in flight (this is how a
 *    crash between a PSP call and recording its answer heals, and how `unknown` outcomes are
 *    filled in) and records the PSP's time in `lastPspEventAtMs`. Because every applied event
 *    raises the rank, and events of one PSP payment follow its lifecycle in PSP time, applying any
 *    permutation of a payment's events ends in the same state as applying them in time order.
 *
 *    One exception lowers the rank, and only under these rules: a recorded capture may still fail.
 *    A capture recorded from a provisional answer (Adyen answers a capture `received`; the attempt
 *    is `provisional`) is not yet PSP-confirmed, and even a confirmed one may be rejected later by
 *    the card scheme (Adyen CAPTURE_FAILED after CAPTURE success=true). A `captured` event confirms
 *    a provisional capture (clears `provisional`); a `capture_failed` event not older than the last
 *    applied one unwinds the recorded capture, provisional or confirmed (intent-draft.ts
 *    `unwindCapture`): the capture's ledger entry is reversed once and the payment returns to
 *    `requires_capture`, recording the event's time in `lastPspEventAtMs`, so an older event (e.g.
 *    the CAPTURE success it overrides) can no longer apply. A PSP re-capture after that (Adyen
 *    CAPTURE success=true "Transaction Recaptured", later in PSP time) is an ordinary `captured`
 *    event on a `requires_capture` payment: it is recorded as a new capture with a new ledger
 *    entry. So CAPTURE true, CAPTURE_FAILED (and a re-capture) end in the same state in every
 *    delivery order. A capture refunded or disputed since stays recorded (unwinding it would mean
 *    unwinding those too) and the failure is reported as an anomaly, as is a second rejection of
 *    a PSP re-capture (it has no attempt of ours to unwind); reconciliation shows both.

 * 2. Money events (`refunded`, `refund_failed`, and the dispute stages `chargeback`,
 *    `chargeback_reversed`, `second_chargeback`) are keyed facts (a refund id, a stage), not
 *    lifecycle stages of the PSP payment: they are never dropped for their age, and wait in
 *    `deferredPspEvents` while a capture may still be recorded (see intent-draft.ts). A dispute
 *    moves to the furthest stage reported and its ledger entries follow the chargeback standing,
 *    so any order of a dispute's events and the payment's refunds ends in the same state.
 *
 * 3. `cancel_failed` answers a cancel call the PSP accepted and then refused (Adyen settles
 *    cancels asynchronously). It is not a stage: the PSP payment stays where it was. It applies
 *    only while a cancel of the current PSP payment is in flight and only if it is not older than
 *    `lastPspEventAtMs`; it then settles that cancel as failed and returns the payment to where
 *    the cancel found it (`requires_capture`, or `requires_action`), from where it may be
 *    canceled again or captured. It neither raises the rank nor records its time, so a status
 *    event that it precedes in PSP time (e.g. the capture that made the cancel fail) still
 *    applies after it: the permutation property above holds with it. Otherwise it is a no-op
 *    (the cancel was settled some other way), reported when the payment is recorded canceled.
 *    When the PSP named the cancel in flight (Adyen answers a cancel with its own pspReference,
 *    kept on the attempt as `modificationReference`) and the event names another, it is the late
 *    refusal of an earlier cancel that a lookup settled, and it is a no-op too: it cannot fail the
 *    newer cancel. Without a reference on either side, it applies to the cancel in flight.
 *
 * Events reach this function with our payment id: an event that does not carry it (a Stripe
 * dispute) is matched by the app through its PSP reference first.
 *
 * Either way a duplicate is a no-op (`changed: false`).
 */
import { TallyError } from '../errors.js';
import type { PspWebhookEvent } from './psp-vocabulary.js';
import type { PaymentTransition } from './payment-effect.js';
import { type PaymentIntent, currentOperation } from './payment-intent.js';
import {
  IntentDraft,
  applyMoneyEvent,
  checkPspAmount,
  isCurrentReference,
  recordAuthorized,
  recordCanceled,
  recordCaptureFailed,
  recordCaptured,
  recordDeclined,
  unwindCapture,
  unwindableCapture,
} from './intent-draft.js';

/** Events that are keyed facts about money rather than stages of the PSP payment (file header, 2). */
const moneyActions = ['refunded', 'refund_failed', 'chargeback', 'chargeback_reversed', 'second_chargeback'] as const;
type MoneyAction = (typeof moneyActions)[number];
type StatusAction = Exclude<PspWebhookEvent['action'], MoneyAction | 'cancel_failed'>;

/** Where a PSP payment is in its lifecycle; `rank` orders the stages. */
interface Stage {
  readonly rank: 0 | 1 | 2 | 3;
  readonly name: 'none' | StatusAction;
}

const eventStages: Readonly<Record<StatusAction, Stage>> = {
  requires_action: { rank: 1, name: 'requires_action' },
  authorized: { rank: 2, name: 'authorized' },
  authorization_failed: { rank: 2, name: 'authorization_failed' },
  captured: { rank: 3, name: 'captured' },
  capture_failed: { rank: 3, name: 'capture_failed' },
  canceled: { rank: 3, name: 'canceled' },
};

/**
 * Applies one PSP event (see the file header). Throws `FIELD_INVALID` for an event of another
 * payment or with a bad time, `CURRENCY_MISMATCH`/`AMOUNT_OUT_OF_RANGE` for amounts this payment
 * cannot have, `LIMIT_EXCEEDED` when too many events wait for a capture.
 */
export function applyWebhook(intent: PaymentIntent, event: PspWebhookEvent, nowMs: number): PaymentTransition {
  if (event.paymentId !== intent.id) {
    throw new TallyError('FIELD_INVALID', `payment_id: event for ${event.paymentId} applied to ${intent.id}`, { field: 'payment_id' });
  }
  if (!Number.isSafeInteger(event.occurredAtMs) || event.occurredAtMs < 0) {
    throw new TallyError('FIELD_INVALID', 'occurred_at: must be epoch milliseconds', { field: 'occurred_at', paymentId: intent.id });
  }
  const d = new IntentDraft(intent, nowMs);
  if (isMoneyAction(event.action)) {
    applyMoneyEvent(d, event);
  } else if (event.action === 'cancel_failed') {
    applyCancelFailed(d, event);
  } else {
    applyStatusEvent(d, event, event.action);
  }
  return d.finish();
}

function applyStatusEvent(d: IntentDraft, event: PspWebhookEvent, action: StatusAction): void {
  const p = d.next;
  const stage = intentStage(p);
  const moneyAction = action === 'authorized' || action === 'captured';
  if (stage === null || !isCurrentReference(p, event)) {
    // Money at a PSP payment we do not consider live: someone must look (void or refund it).
    if (moneyAction) d.anomaly('event_for_other_reference', event.psp, `${action} ${event.pspEventId} for ${event.pspReference} while ${p.status}`);
    return;
  }
  if (p.lastPspEventAtMs !== null && event.occurredAtMs < p.lastPspEventAtMs) return;
  const target = eventStages[action];
  if (target.rank < stage.rank) return;
  // Another report of the failure that unwound the last capture (Adyen may send CAPTURE
  // success=false and CAPTURE_FAILED): the payment stays capturable. Its time is recorded, as if
  // it had been the report that unwound it, so the delivery order does not matter.
  // A capture report tied in time with the failure that unwound the capture is that capture's own
  // (PSP times have second precision; a failure follows the success it overrides): a tie goes to
  // the failure in either order. A re-capture is strictly later.
  if (action === 'captured' && lastCaptureUnwound(p) && p.lastPspEventAtMs !== null && event.occurredAtMs <= p.lastPspEventAtMs) return;
  if (action === 'capture_failed' && lastCaptureUnwound(p)) {
    if (p.lastPspEventAtMs === null || event.occurredAtMs > p.lastPspEventAtMs) d.update({ lastPspEventAtMs: event.occurredAtMs });
    return;
  }
  if (target.rank === stage.rank) {
    if (stage.name === 'captured' && settleRecordedCapture(d, event, action)) return;
    if (target.name !== stage.name) {
      d.anomaly('contradicting_event', event.psp, `${action} ${event.pspEventId} while the PSP payment is ${stage.name}`);
    }
    return;
  }
  d.update({ lastPspEventAtMs: event.occurredAtMs, pspReference: event.pspReference });
  advance(d, event, action);
}

function advance(d: IntentDraft, event: PspWebhookEvent, action: StatusAction): void {
  const p = d.next;
  const op = currentOperation(p);
  const settle = (outcome: Parameters<IntentDraft['resolveAttempt']>[1]): void => {
    if (op !== null) d.resolveAttempt(op.number, outcome, 'webhook', event.pspReference);
  };
  switch (action) {
    case 'requires_action':
      settle('requires_action');
      d.setStatus('requires_action');
      return;
    case 'authorized':
      checkPspAmount(p, event.currency, event.amountMinor, p.amountMinor, 'authorization');
      if (op?.operation === 'cancel') {
        // The customer finished the challenge while we are voiding: the cancel call decides.
        d.update({ amountAuthorizedMinor: event.amountMinor, amountCapturableMinor: event.amountMinor });
        return;
      }
      settle('authorized');
      recordAuthorized(d, event.pspReference, event.amountMinor);
      return;
    case 'authorization_failed':
      if (op?.operation === 'cancel') {
        settle('canceled'); // nothing is held any more, which is what the cancel wanted
        recordCanceled(d);
        return;
      }
      settle('declined');
      recordDeclined(d, event.declineReason ?? 'other');
      return;
    case 'captured': {
      const maxMinor = p.amountCapturableMinor > 0n ? p.amountCapturableMinor : p.amountMinor;
      checkPspAmount(p, event.currency, event.amountMinor, maxMinor, 'capture');
      settle('captured');
      recordCaptured(d, event.amountMinor);
      return;
    }
    case 'capture_failed':
      settle('declined');
      recordCaptureFailed(d, event.declineReason ?? 'other');
      return;
    case 'canceled':
      settle('canceled');
      recordCanceled(d);
      return;
  }
}

function isMoneyAction(action: PspWebhookEvent['action']): action is MoneyAction {
  return (moneyActions as readonly string[]).includes(action);
}

/**
 * A `captured` or `capture_failed` event about a payment recorded captured (see the file header,
 * 1): a `captured` confirms a capture recorded from a provisional answer; a `capture_failed` (not
 * older than the last applied event: checked by the caller) unwinds the capture, provisional or
 * PSP-confirmed (a scheme rejection). False when there is nothing to settle (the event then goes
 * through the usual same-rank rule).
 */
function settleRecordedCapture(d: IntentDraft, event: PspWebhookEvent, action: StatusAction): boolean {
  const p = d.next;
  const capture = [...p.attempts].reverse().find((a) => a.operation === 'capture');
  if (capture?.outcome !== 'captured') return false;
  if (action === 'captured') {
    if (event.currency !== p.currency || event.amountMinor !== p.amountCapturedMinor) return false; // not this capture: the usual rules
    // A newer report that the capture stands (a confirmation, or a PSP re-capture that overtook the
    // rejection it follows): its time is kept, so that older failure reports no longer apply.
    if (!capture.provisional && p.lastPspEventAtMs !== null && event.occurredAtMs <= p.lastPspEventAtMs) return true;
    d.update({ lastPspEventAtMs: event.occurredAtMs });
    d.setProvisional(capture.number, false);
    return true;
  }
  if (action !== 'capture_failed') return false;
  if (unwindableCapture(p) === null) {
    d.anomaly('contradicting_event', event.psp, `capture_failed ${event.pspEventId}: the capture was refunded or disputed since; not unwound`);
    return true;
  }
  d.update({ lastPspEventAtMs: event.occurredAtMs });
  unwindCapture(d, capture, event.declineReason ?? 'other');
  return true;
}

/** True while the latest capture is one a `capture_failed` unwound and no capture has been started since. */
function lastCaptureUnwound(p: PaymentIntent): boolean {
  const capture = [...p.attempts].reverse().find((a) => a.operation === 'capture');
  return p.status === 'requires_capture' && p.captureReversals > 0 && capture?.outcome === 'declined' && capture.resolvedBy === 'webhook';
}

/** A refused cancel (see the file header, 3): settles the cancel in flight as failed. */
function applyCancelFailed(d: IntentDraft, event: PspWebhookEvent): void {
  const p = d.next;
  if (!isCurrentReference(p, event)) return;
  if (p.lastPspEventAtMs !== null && event.occurredAtMs < p.lastPspEventAtMs) return;
  const op = currentOperation(p);
  if (op?.operation !== 'cancel') {
    if (p.status === 'canceled') d.anomaly('contradicting_event', event.psp, `cancel_failed ${event.pspEventId} while the payment is canceled`);
    return;
  }
  // The refusal of an earlier cancel, settled some other way (a lookup) before this one started:
  // it says nothing about the cancel in flight.
  const answers = event.modificationReference ?? null;
  if (answers !== null && op.modificationReference !== null && answers !== op.modificationReference) return;
  d.resolveAttempt(op.number, 'declined', 'webhook', event.pspReference);
  // Where the cancel found the payment: still authorized, or still awaiting the customer.
  d.setStatus(p.amountCapturableMinor > 0n ? 'requires_capture' : 'requires_action');
  d.fail(new TallyError('INVALID_STATE_TRANSITION', 'the payment service provider refused to cancel', {
    from: 'processing',
    command: 'cancel',
    paymentId: p.id,
  }));
}

/** The lifecycle stage of the intent's current PSP payment; null when it has none that events may move. */
function intentStage(p: PaymentIntent): Stage | null {
  switch (p.status) {
    case 'processing': {
      const op = currentOperation(p);
      if (op?.operation === 'authorize') return { rank: 0, name: 'none' };
      if (op?.operation === 'capture' || p.amountCapturableMinor > 0n) return { rank: 2, name: 'authorized' };
      return { rank: 1, name: 'requires_action' };
    }
    case 'requires_action':
      return { rank: 1, name: 'requires_action' };
    case 'requires_capture':
      return { rank: 2, name: 'authorized' };
    case 'succeeded':
      return { rank: 3, name: 'captured' };
    case 'failed':
      return p.psp === null ? null : { rank: 3, name: 'capture_failed' };
    case 'canceled':
      return p.psp === null ? null : { rank: 3, name: 'canceled' };
    case 'requires_payment_method':
    case 'requires_confirmation':
      // Before a confirm, or after a decline: that PSP payment is over; a new confirm makes a new one.
      return null;
  }
}
