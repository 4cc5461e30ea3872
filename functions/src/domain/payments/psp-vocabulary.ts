/**
 * The PSP vocabulary of the payments domain: which PSPs exist, why they decline, what one call can
 * answer and what a webhook can say. Connectors (adapters/psp/<name>/) map their PSP's wire format
 * onto these closed, normalized shapes, so the core never sees PSP-specific statuses
 * (Hyperswitch-style); the `PspGateway` port (ports/psp-gateway.ts) speaks them. Money is integer
 * minor units here; major-unit strings or floats exist only inside a connector's transformers.
 *
 * Pure: types and functions over them, no I/O. Ports import this module, never the reverse.
 */
export const pspNames = ['stripe', 'adyen'] as const;
export type PspName = (typeof pspNames)[number];

/** Why a PSP declined. Closed: every connector maps its codes onto these. */
export const declineReasons = [
  'insufficient_funds',
  'card_declined',
  'expired_card',
  'incorrect_cvc',
  'fraud_suspected',
  'do_not_honor',
  'authentication_failed',
  'other',
] as const;
export type DeclineReason = (typeof declineReasons)[number];

/**
 * The normalized result of one PSP call.
 * - `declined`: final; the PSP refused. Never retried elsewhere (the customer's bank said no).
 * - `retryable`: the PSP certainly did not act (connection refused, 5xx before processing with a
 *   documented "not processed" guarantee, 429, or a request refused before it was sent): safe to
 *   retry or route to another PSP.
 * - `unknown`: the request may have been processed (timeout after sending, connection reset,
 *   ambiguous 5xx), or a lookup could not tell. Never re-routed: resolved later with `lookup`
 *   (janitor) or a webhook.
 * - `pending`: the PSP accepted the request and will report its result later by webhook (Adyen
 *   `Received`/`Pending` and its asynchronous cancels, Stripe `processing`). Like `unknown` the
 *   call stays in flight until a webhook or the janitor settles it, but the PSP is working fine
 *   (it does not count against its circuit breaker) and the PSP payment, when named, is recorded.
 */
export type PspOutcome =
  | { kind: 'authorized'; pspReference: string; amountMinor: bigint; currency: string }
  | {
      kind: 'captured';
      pspReference: string;
      amountMinor: bigint;
      currency: string;
      /**
       * True when the PSP only accepted the capture (Adyen answers `received`): its CAPTURE webhook
       * may still report it failed, and the core then unwinds it (see psp-webhook.ts). Absent or
       * false: the answer is final (Stripe captures synchronously).
       */
      provisional?: boolean;
    }
  | { kind: 'requires_action'; pspReference: string; actionUrl: string }
  | { kind: 'canceled'; pspReference: string }
  | { kind: 'refunded'; pspReference: string; refundReference: string; amountMinor: bigint; currency: string }
  | { kind: 'declined'; pspReference: string | null; reason: DeclineReason; pspCode: string }
  | { kind: 'retryable'; reason: RetryableReason; detail: string }
  | { kind: 'unknown'; reason: UnknownReason; detail: string }
  | {
      kind: 'pending';
      pspReference: string | null;
      detail: string;
      /**
       * The PSP's own reference of the request it accepted, when it has one apart from the
       * payment's (an Adyen cancel's pspReference): its webhook names it, so an answer to an
       * earlier request is told apart from one to this request.
       */
      modificationReference?: string;
    };

/**
 * Why a call is `retryable`:
 * - `unavailable`: the PSP could not be reached or refused our credentials (nothing was sent or acted on);
 * - `rate_limited`: the PSP answered 429;
 * - `server_error`: a 5xx the PSP marks as not processed (Stripe-Should-Retry, Adyen Transient-Error);
 * - `request_invalid`: the connector or the PSP's SDK refused the request before sending it (an
 *   amount over the PSP's limit, a path or serialization error): certainly not processed, and it
 *   says nothing about the PSP's health (see `pspCallVerdict`).
 */
export type RetryableReason = 'unavailable' | 'rate_limited' | 'server_error' | 'request_invalid';

/**
 * Why a call is `unknown`:
 * - `timeout`, `connection_lost`: the request left and no answer came back;
 * - `ambiguous_server_error`: a 5xx or an answer we cannot read;
 * - `request_conflict`: the PSP answered that another request with this idempotency key is running
 *   or ran with other parameters (Stripe 409 / idempotency error, Adyen 704): a 4xx about the
 *   request, not the PSP's health;
 * - `no_lookup`: a lookup answered by the connector itself because the PSP has no lookup API
 *   (Adyen Checkout without the sandbox's lookup): synthetic, nothing was asked of the PSP.
 */
export type UnknownReason = 'timeout' | 'connection_lost' | 'ambiguous_server_error' | 'request_conflict' | 'no_lookup';


/** A lookup's answer: an outcome, or `not_found` when the PSP never received the payment. */
export type PspLookupOutcome = PspOutcome | { kind: 'not_found' };

/**
 * What one PSP answer says about the PSP's health, for its circuit breaker (which all tenants
 * share, so only what the PSP itself caused may count):
 * - `failure`: transport failures and server errors (unreachable, timeouts, 5xx, 429, refused
 *   credentials): the PSP (or our link to it) is unwell for everyone;
 * - `ignored`: nothing was learned about the PSP: a request refused before it was sent
 *   (`request_invalid`), a synthetic `no_lookup`, an idempotency conflict about one request;
 * - `success`: the PSP answered (declines and 4xx about the input included: the PSP works).
 */
export function pspCallVerdict(outcome: PspLookupOutcome): 'success' | 'failure' | 'ignored' {
  switch (outcome.kind) {
    case 'retryable':
      return outcome.reason === 'request_invalid' ? 'ignored' : 'failure';
    case 'unknown':
      return outcome.reason === 'no_lookup' || outcome.reason === 'request_conflict' ? 'ignored' : 'failure';
    default:
      return 'success';
  }
}

/** A verified webhook event, normalized. */
export interface PspWebhookEvent {
  psp: PspName;
  /** The PSP's unique event id: the inbox key (exactly-once processing). */
  pspEventId: string;
  /** When the PSP says the event happened: orders events so an older one never overwrites newer state. */
  occurredAtMs: number;
  /**
   * Our payment id, from the merchant reference/metadata we sent; null when the event does not
   * carry it (a Stripe dispute names only the charge and PaymentIntent; an Adyen CHARGEBACK may
   * lack the merchant reference). Such an event is matched by `(psp, pspReference)` instead.
   */
  paymentId: string | null;
  /** The PSP's id of the payment (Stripe PaymentIntent, Adyen original pspReference). */
  pspReference: string;
  /**
   * What happened. `cancel_failed`: the PSP refused a cancel it had accepted (Adyen CANCELLATION
   * with success=false; Stripe answers cancels synchronously and has no such event).
   * Disputes, in the order they happen: `chargeback` (the funds are taken back: Stripe
   * `charge.dispute.created` or `.closed` lost, Adyen CHARGEBACK), `chargeback_reversed` (the
   * merchant won: Stripe `.closed` won, Adyen CHARGEBACK_REVERSED), `second_chargeback` (the
   * issuer disputes the reversal and takes the funds again: Adyen SECOND_CHARGEBACK).
   */
  action:
    | 'authorized'
    | 'authorization_failed'
    | 'requires_action'
    | 'captured'
    | 'capture_failed'
    | 'canceled'
    | 'cancel_failed'
    | 'refunded'
    | 'refund_failed'
    | 'chargeback'
    | 'chargeback_reversed'
    | 'second_chargeback';
  amountMinor: bigint;
  currency: string;
  /** For refunds: our refund id when known. */
  refundId: string | null;
  /**
   * The PSP's reference of the request this event answers, when it is not the payment itself (an
   * Adyen modification's own pspReference; `pspReference` above is then the original one). Absent
   * or null when the PSP names none (Stripe), and on events stored before this field.
   */
  modificationReference?: string | null;
  declineReason: DeclineReason | null;
}
