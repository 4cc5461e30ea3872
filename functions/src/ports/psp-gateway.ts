/**
 * The one interface the payments core sees of a payment service provider (PSP). Each connector
 * (adapters/psp/<name>/) implements it and maps its PSP's wire format to the domain's closed,
 * normalized vocabulary (domain/payments/psp-vocabulary.ts), which this port speaks and re-exports.
 */
import type { PspAmountLimits } from '../domain/payments/psp-limits.js';
import type { PspLookupOutcome, PspName, PspOutcome, PspWebhookEvent } from '../domain/payments/psp-vocabulary.js';

export { declineReasons, pspCallVerdict, pspNames } from '../domain/payments/psp-vocabulary.js';
export type {
  DeclineReason, PspLookupOutcome, PspName, PspOutcome, PspWebhookEvent, RetryableReason, UnknownReason,
} from '../domain/payments/psp-vocabulary.js';
export type { PspAmountLimits, PspCurrencyLimits } from '../domain/payments/psp-limits.js';

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
  /**
   * What this PSP accepts per charge (currencies, amount bounds, multiple-of rules), in ISO 4217
   * minor units. Routing skips a PSP whose limits refuse a payment before anything is sent, so
   * an amount the PSP (or its SDK) would refuse never reaches it.
   */
  readonly limits: PspAmountLimits;
  /**
   * The calls never throw for anything the PSP or the input causes: every failure comes back
   * classified (a request refused before sending is `retryable` / `request_invalid`). A throw is a bug.
   */
  authorize(request: AuthorizeRequest): Promise<PspOutcome>;
  capture(request: CaptureRequest): Promise<PspOutcome>;
  cancel(request: CancelRequest): Promise<PspOutcome>;
  refund(request: RefundRequest): Promise<PspOutcome>;
  /** Asks the PSP what happened to a payment (resolves `unknown`); `not_found` if it never arrived. */
  lookup(request: LookupRequest): Promise<PspLookupOutcome>;
  /**
   * Verifies the signature over the raw body (never a re-serialization) and normalizes the events.
   * Throws WebhookSignatureError when unsigned, wrongly signed or stale.
   */
  verifyWebhook(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>, nowMs: number): PspWebhookEvent[];
}
