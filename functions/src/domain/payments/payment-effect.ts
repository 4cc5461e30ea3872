/**
 * What a payment transition asks the app to do. The domain decides, the app performs:
 *
 * - In ONE Firestore transaction: write the new intent (optimistic check on `version`), append the
 *   ledger entry of every `post_ledger` effect (`paymentLedgerEntry`; deterministic ids make a
 *   replay harmless) and an outbox event per `publish_event`.
 * - After that commit, make every `call_psp_*` call with the attempt's idempotency key, then record
 *   the answer with `applyPspOutcome` in a new transaction. Calling before the intent is saved
 *   could leave a PSP payment nobody knows about; saving first means a crash in between leaves an
 *   in-flight attempt that the janitor finds through `unknownSinceMs`.
 * - `report_anomaly`: log and alert; it changes nothing (it may come with `changed: false`).
 */
import type { TallyError } from '../errors.js';
import type { PspName } from './psp-vocabulary.js';
import type { PaymentLedgerEvent } from './ledger-postings.js';
import type { CaptureMethod, PaymentIntent, PaymentStatus, PspAttempt } from './payment-intent.js';

/**
 * The result of every command. `changed: false` means a no-op (duplicate, stale or already
 * applied): write nothing; `effects` then holds at most `report_anomaly`. `error`, when set, is
 * what the API call should answer with after saving the new state (e.g. CARD_DECLINED once the
 * decline is recorded); commands that refuse outright throw instead and change nothing.
 */
export interface PaymentTransition {
  readonly intent: PaymentIntent;
  readonly effects: readonly PaymentEffect[];
  readonly changed: boolean;
  readonly error: TallyError | null;
}

/** A domain event for the outbox (`domain-events`, ordering key = payment id). */
export type PaymentEvent =
  /** What a consumer needs without reading the payment back: its terms and the caller's metadata. */
  | {
      readonly type: 'payment.created'; readonly status: PaymentStatus; readonly amountMinor: bigint; readonly currency: string;
      readonly captureMethod: CaptureMethod; readonly customerId: string | null; readonly metadata: Readonly<Record<string, string>>;
    }
  | { readonly type: 'payment.status_changed'; readonly from: PaymentStatus; readonly to: PaymentStatus }
  /** The caller's metadata changed (UpdatePayment): the whole new metadata. */
  | { readonly type: 'payment.metadata_updated'; readonly metadata: Readonly<Record<string, string>> }
  | { readonly type: 'payment.refund_succeeded'; readonly refundId: string; readonly amountMinor: bigint }
  | { readonly type: 'payment.refund_failed'; readonly refundId: string }
  | { readonly type: 'payment.chargeback'; readonly amountMinor: bigint }
  /** The merchant won the dispute: the standing chargeback of `amountMinor` is reversed. */
  | { readonly type: 'payment.chargeback_reversed'; readonly amountMinor: bigint };

/** Why something looked wrong (an anomaly never changes state; a human or recon looks at it). */
export type AnomalyReason =
  /** A PSP event or outcome about a PSP payment that is not this intent's current one. */
  | 'event_for_other_reference'
  /**
   * A PSP event or late outcome contradicting what is recorded (e.g. captured after canceled, a
   * confirmed capture reported failed, or one that cannot be unwound because it was refunded).
   */
  | 'contradicting_event'
  /** A refund or dispute event for a payment that was never captured. */
  | 'money_event_on_uncaptured_payment'
  /** Deferred refund/chargeback events dropped because the payment ended without a capture. */
  | 'deferred_events_dropped'
  /**
   * The ledger refused an entry for what the PSP did (its id taken by other content, a system
   * account closed or its code taken): the payment recorded it anyway, the entry is left to a human.
   */
  | 'ledger_entry_refused';

/** One thing the app must do after (or, for ledger and outbox, while) saving a transition. */
export type PaymentEffect =
  | {
      readonly kind: 'call_psp_authorize';
      readonly attempt: PspAttempt;
      readonly amountMinor: bigint;
      readonly currency: string;
      readonly captureMethod: CaptureMethod;
      /** Our payment method id; the app resolves it to the PSP token. */
      readonly paymentMethodId: string;
    }
  | {
      readonly kind: 'call_psp_capture';
      readonly attempt: PspAttempt;
      readonly pspReference: string;
      readonly amountMinor: bigint;
      readonly currency: string;
    }
  | { readonly kind: 'call_psp_cancel'; readonly attempt: PspAttempt; readonly pspReference: string }
  | {
      readonly kind: 'call_psp_refund';
      readonly attempt: PspAttempt;
      readonly refundId: string;
      readonly pspReference: string;
      readonly amountMinor: bigint;
      readonly currency: string;
    }
  | { readonly kind: 'post_ledger'; readonly event: PaymentLedgerEvent }
  | { readonly kind: 'publish_event'; readonly event: PaymentEvent }
  | { readonly kind: 'report_anomaly'; readonly reason: AnomalyReason; readonly psp: PspName | null; readonly detail: string };

/**
 * A payment created and confirmed in one call (`first` created it, `then` confirmed it) as one
 * transition: `chainTransitions`, with one `payment.created` event that carries the status the
 * payment was created into, instead of a `status_changed` out of a status nobody could observe.
 */
export function createdAndConfirmed(created: PaymentTransition, confirmed: PaymentTransition): PaymentTransition {
  const both = chainTransitions(created, confirmed);
  const from = created.intent.status;
  const leaving = both.effects.findIndex((e) => e.kind === 'publish_event' && e.event.type === 'payment.status_changed' && e.event.from === from);
  if (leaving < 0) return both;
  const to = (both.effects[leaving] as { event: { to: PaymentStatus } }).event.to;
  const effects = both.effects.filter((_, i) => i !== leaving).map((e) =>
    e.kind === 'publish_event' && e.event.type === 'payment.created' ? { ...e, event: { ...e.event, status: to } } : e);
  return { ...both, effects };
}

/**
 * `first` then `then` (a transition of `first.intent`) as one transition, saved in one
 * transaction: the intent `then` left, the effects of both in order. Creating and confirming a
 * payment in one call is that: one commit instead of two.
 */
export function chainTransitions(first: PaymentTransition, then: PaymentTransition): PaymentTransition {
  return {
    intent: then.intent,
    effects: [...first.effects, ...then.effects],
    changed: first.changed || then.changed,
    error: first.error ?? then.error,
  };
}
