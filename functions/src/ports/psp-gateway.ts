/**
 * The one interface the payments core sees of a payment service provider (PSP). Each connector
 * (adapters/psp/<name>/) maps its PSP's wire format to these closed, normalized shapes, so the core
 * never sees PSP-specific statuses (Hyperswitch-style). Money is integer minor units here; major-unit
 * strings or floats exist only inside a connector's transformers.
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
 *   documented "not processed" guarantee, 429): safe to retry or route to another PSP.
 * - `unknown`: the request may have been processed (timeout after sending, connection reset,
 *   ambiguous 5xx). Never re-routed: resolved later with `lookup` (janitor) or a webhook.
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
  | { kind: 'retryable'; reason: 'unavailable' | 'rate_limited' | 'server_error'; detail: string }
  | { kind: 'unknown'; reason: 'timeout' | 'connection_lost' | 'ambiguous_server_error'; detail: string }
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

export interface AuthorizeRequest {
  /** Derived from our ids (e.g. `${paymentId}:authorize:${attempt}`): the PSP dedupes retries. */
  idempotencyKey: string;
  /** Our payment id, sent as the PSP's merchant reference/metadata so webhooks and lookups find it. */
  paymentId: string;
  tenantId: string;
  amountMinor: bigint;
  currency: string;
  /** A PSP token (Stripe `pm_...`, Adyen encrypted/stored details); never a raw card number. */
  paymentMethodToken: string;
  captureMethod: 'automatic' | 'manual';
  /** Where the customer returns after a 3DS-style challenge. */
  returnUrl: string;
  signal: AbortSignal;
}

export interface CaptureRequest { idempotencyKey: string; paymentId: string; pspReference: string; amountMinor: bigint; currency: string; signal: AbortSignal }
export interface CancelRequest { idempotencyKey: string; paymentId: string; pspReference: string; signal: AbortSignal }
export interface RefundRequest { idempotencyKey: string; paymentId: string; refundId: string; pspReference: string; amountMinor: bigint; currency: string; signal: AbortSignal }
export interface LookupRequest { paymentId: string; pspReference: string | null; signal: AbortSignal }

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

export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
}

export interface PspGateway {
  readonly name: PspName;
  /**
   * True when the core must authorize with manual capture and capture explicitly even for
   * automatic-capture intents: the PSP reports an auto-captured payment only as "authorized"
   * (Adyen), so the core could not tell it from one it still has to capture.
   */
  readonly capturesExplicitly?: boolean;
  authorize(request: AuthorizeRequest): Promise<PspOutcome>;
  capture(request: CaptureRequest): Promise<PspOutcome>;
  cancel(request: CancelRequest): Promise<PspOutcome>;
  refund(request: RefundRequest): Promise<PspOutcome>;
  /** Asks the PSP what happened to a payment (resolves `unknown`); `not_found` if it never arrived. */
  lookup(request: LookupRequest): Promise<PspOutcome | { kind: 'not_found' }>;
  /**
   * Verifies the signature over the raw body (never a re-serialization) and normalizes the events.
   * Throws WebhookSignatureError when unsigned, wrongly signed or stale.
   */
  verifyWebhook(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>, nowMs: number): PspWebhookEvent[];
}
