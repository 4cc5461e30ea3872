/**
 * Our model <-> Stripe's: amounts (bigint minor units <-> Stripe's integer amounts), PaymentIntent
 * statuses and errors -> `PspOutcome`, decline codes -> `DeclineReason`, events -> `PspWebhookEvent`.
 * Pure functions; the only place Stripe's vocabulary meets ours.
 */
import type Stripe from 'stripe';
import { assert } from '../../../domain/errors.js';
import { currencyOf, listCurrencies } from '../../../domain/money/index.js';
import { type PspAmountLimits, type PspCurrencyLimits, pspAmountRefusal } from '../../../domain/payments/psp-limits.js';
import type { DeclineReason, PspOutcome, PspWebhookEvent } from '../../../ports/psp-gateway.js';

/** Metadata keys we set on PaymentIntents and Refunds, so webhooks and searches find our ids. */
export const stripeMetadataKeys = {
  paymentId: 'tally_payment_id',
  tenantId: 'tally_tenant_id',
  refundId: 'tally_refund_id',
} as const;

/** Stripe's largest charge amount: 8 digits in the currency's (Stripe) minor unit. */
export const STRIPE_AMOUNT_MAX = 99_999_999;

/**
 * Where Stripe's minor unit differs from ISO 4217's (documented by Stripe as special cases): ISK is
 * zero-decimal in ISO but two-decimal on Stripe's wire for backwards compatibility.
 */
const stripeExponentOverrides: Readonly<Record<string, number>> = { ISK: 2 };

/** Stripe wire units per ISO minor unit of `currency` (100 for ISK, else 1). */
function wireScale(currency: string, isoExponent: number): bigint {
  return 10n ** BigInt((stripeExponentOverrides[currency] ?? isoExponent) - isoExponent);
}

/**
 * What Stripe accepts per charge, in ISO minor units: at most `STRIPE_AMOUNT_MAX` of its wire unit
 * (999,999 ISK, whose wire unit is a hundredth), and three-decimal currencies (BHD, JOD, KWD, OMR,
 * TND) in multiples of 10. Minimum charge amounts (USD 0.50 ...) depend on the account's settlement
 * currency, so Stripe's own `amount_too_small` answers them (a decline, which the PSP gives in
 * working order). Currencies: any; the ones an account may present are its configuration.
 */
export const stripeLimits: PspAmountLimits = {
  currencies: null,
  amountMinorMin: 1n,
  amountMinorMax: BigInt(STRIPE_AMOUNT_MAX),
  byCurrency: Object.fromEntries(listCurrencies().flatMap((c): [string, PspCurrencyLimits][] => {
    const scale = wireScale(c.code, c.exponent);
    const limits: PspCurrencyLimits = {
      ...(scale === 1n ? {} : { amountMinorMax: BigInt(STRIPE_AMOUNT_MAX) / scale }),
      ...(c.exponent === 3 ? { amountMinorMultiple: 10n } : {}),
    };
    return Object.keys(limits).length === 0 ? [] : [[c.code, limits]];
  })),
};

/**
 * Our amount -> Stripe's `amount` and lowercase `currency`. Throws the TallyError of
 * `pspAmountRefusal` for amounts outside `stripeLimits` (the client turns it into `request_invalid`:
 * nothing is sent).
 */
export function toStripeAmount(amountMinor: bigint, currency: string): { amount: number; currency: string } {
  const isoExponent = currencyOf(currency).exponent;
  const refusal = pspAmountRefusal('stripe', stripeLimits, amountMinor, currency);
  if (refusal !== null) throw refusal;
  const wire = amountMinor * wireScale(currency, isoExponent);
  assert(wire <= BigInt(STRIPE_AMOUNT_MAX), 'stripeLimits bound the wire amount');
  return { amount: Number(wire), currency: currency.toLowerCase() };
}

/** Stripe's `amount` + `currency` -> our minor units and uppercase ISO code. */
export function fromStripeAmount(amount: number, stripeCurrency: string): { amountMinor: bigint; currency: string } {
  const currency = stripeCurrency.toUpperCase();
  const isoExponent = currencyOf(currency).exponent;
  assert(Number.isSafeInteger(amount) && amount >= 0, `Stripe amount is a non-negative integer (${amount})`);
  const divisor = wireScale(currency, isoExponent);
  const wire = BigInt(amount);
  assert(wire % divisor === 0n, `Stripe ${currency} amount ${amount} is a whole number of ISO minor units`);
  return { amountMinor: wire / divisor, currency };
}

// Stripe's decline codes (https://docs.stripe.com/declines/codes) onto our closed set; the ones
// not listed are `other`. `decline_code` is the issuer's reason and wins over the error `code`.
const byDeclineCode: Readonly<Record<string, DeclineReason>> = {
  insufficient_funds: 'insufficient_funds',
  generic_decline: 'card_declined',
  card_not_supported: 'card_declined',
  card_velocity_exceeded: 'card_declined',
  withdrawal_count_limit_exceeded: 'card_declined',
  expired_card: 'expired_card',
  incorrect_cvc: 'incorrect_cvc',
  invalid_cvc: 'incorrect_cvc',
  fraudulent: 'fraud_suspected',
  stolen_card: 'fraud_suspected',
  lost_card: 'fraud_suspected',
  pickup_card: 'fraud_suspected',
  merchant_blacklist: 'fraud_suspected',
  do_not_honor: 'do_not_honor',
  authentication_required: 'authentication_failed',
};
const byErrorCode: Readonly<Record<string, DeclineReason>> = {
  card_declined: 'card_declined',
  expired_card: 'expired_card',
  incorrect_cvc: 'incorrect_cvc',
  invalid_cvc: 'incorrect_cvc',
  authentication_required: 'authentication_failed',
  payment_intent_authentication_failure: 'authentication_failed',
};

export function declineReasonOf(code: string | null | undefined, declineCode: string | null | undefined): DeclineReason {
  return own(byDeclineCode, declineCode) ?? own(byErrorCode, code) ?? 'other';
}

/** `table[key]` for the table's own keys only (`constructor` and friends are not decline codes). */
function own<T>(table: Readonly<Record<string, T>>, key: string | null | undefined): T | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

interface PaymentErrorLike {
  code?: string | null;
  decline_code?: string | null;
}

function declined(pspReference: string | null, error: PaymentErrorLike | null | undefined, fallbackCode: string): PspOutcome {
  const reason = declineReasonOf(error?.code, error?.decline_code);
  return { kind: 'declined', pspReference, reason, pspCode: error?.decline_code ?? error?.code ?? fallbackCode };
}

/** A PaymentIntent's state as our outcome (create, capture, cancel, retrieve and search all use it). */
export function intentToOutcome(pi: Stripe.PaymentIntent): PspOutcome {
  switch (pi.status) {
    case 'succeeded': {
      const { amountMinor, currency } = fromStripeAmount(pi.amount_received, pi.currency);
      return { kind: 'captured', pspReference: pi.id, amountMinor, currency };
    }
    case 'requires_capture': {
      const { amountMinor, currency } = fromStripeAmount(pi.amount_capturable, pi.currency);
      return { kind: 'authorized', pspReference: pi.id, amountMinor, currency };
    }
    case 'requires_action':
      return { kind: 'requires_action', pspReference: pi.id, actionUrl: pi.next_action?.redirect_to_url?.url ?? '' };
    case 'canceled':
      return { kind: 'canceled', pspReference: pi.id };
    case 'processing':
      // Accepted, not final: the outcome arrives by webhook (or the janitor's lookup).
      return { kind: 'pending', pspReference: pi.id, detail: `Stripe PaymentIntent ${pi.id} is processing` };
    case 'requires_payment_method':
    case 'requires_confirmation':
      // Our intents are confirmed at creation: this state means the attempt failed.
      return declined(pi.id, pi.last_payment_error, pi.status);
    default:
      return { kind: 'unknown', reason: 'ambiguous_server_error', detail: `unexpected Stripe status ${String(pi.status)}` };
  }
}

/** The rank of a status when several PaymentIntents carry one payment id: the furthest one wins. */
export function intentRank(pi: Stripe.PaymentIntent): number {
  const ranks: Record<string, number> = { succeeded: 6, requires_capture: 5, processing: 4, requires_action: 3, canceled: 2, requires_payment_method: 1 };
  return ranks[pi.status] ?? 0;
}

export function refundToOutcome(refund: Stripe.Refund, pspReference: string): PspOutcome {
  if (refund.status === 'failed' || refund.status === 'canceled') {
    return { kind: 'declined', pspReference, reason: 'other', pspCode: `refund_${refund.status}` };
  }
  // `pending` and `requires_action` refunds complete later; a `refund_failed` webhook reverses them.
  const { amountMinor, currency } = fromStripeAmount(refund.amount, refund.currency);
  return { kind: 'refunded', pspReference, refundReference: refund.id, amountMinor, currency };
}

/**
 * A Stripe API error as our outcome, or `not_found` for a missing object. Switches on the SDK's
 * `type` (the error class name), so this module needs only the SDK's types, not its runtime.
 */
export function stripeErrorToOutcome(error: Stripe.errors.StripeError): PspOutcome | { kind: 'not_found' } {
  const status = error.statusCode ?? 0;
  switch (error.type) {
    case 'StripeCardError':
      return declined(error.payment_intent?.id ?? null, error, 'card_error');
    case 'StripeRateLimitError':
      return { kind: 'retryable', reason: 'rate_limited', detail: error.message };
    case 'StripeConnectionError':
      return connectionErrorOutcome(error);
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
      // Our credentials were refused: nothing happened, and another PSP may well work.
      return { kind: 'retryable', reason: 'unavailable', detail: `Stripe refused the credentials (${status})` };
    case 'StripeIdempotencyError':
      // A bug in our key derivation, but an earlier request with this key may have been processed.
      return { kind: 'unknown', reason: 'request_conflict', detail: `idempotency key reused with other parameters: ${error.message}` };
    case 'StripeInvalidRequestError':
      if (status === 404 && error.code === 'resource_missing') return { kind: 'not_found' };
      return declined(error.payment_intent?.id ?? null, { code: error.code ?? 'invalid_request' }, 'invalid_request');
    default:
      return serverErrorOutcome(error, status);
  }
}

function serverErrorOutcome(error: Stripe.errors.StripeError, status: number): PspOutcome {
  if (status === 409) {
    // Another request with this idempotency key is still running: it may succeed.
    return { kind: 'unknown', reason: 'request_conflict', detail: `Stripe 409: ${error.message}` };
  }
  const shouldRetry = headerOf(error.headers, 'stripe-should-retry');
  if (status >= 500 && shouldRetry === 'true') {
    // Stripe-Should-Retry: true on a 5xx says the request was not acted on; safe to go elsewhere.
    return { kind: 'retryable', reason: 'server_error', detail: `Stripe ${status} (should retry): ${error.message}` };
  }
  return { kind: 'unknown', reason: 'ambiguous_server_error', detail: `Stripe ${status}: ${error.message}` };
}

// Failures to connect at all: the request never left, so nothing can have happened at Stripe.
const notSentCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function connectionErrorOutcome(error: Stripe.errors.StripeError): PspOutcome {
  const detail = error.detail as { code?: unknown; exception?: { code?: unknown } } | undefined;
  const code = typeof detail?.code === 'string' ? detail.code : typeof detail?.exception?.code === 'string' ? detail.exception.code : '';
  if (notSentCodes.has(code)) return { kind: 'retryable', reason: 'unavailable', detail: `${code}: ${error.message}` };
  if (code === 'ETIMEDOUT') return { kind: 'unknown', reason: 'timeout', detail: error.message };
  return { kind: 'unknown', reason: 'connection_lost', detail: `${code || 'connection error'}: ${error.message}` };
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
}

// ---- Webhook events ----

/** The parts of a Stripe event we read; parsed defensively since only the signature is trusted. */
interface StripeEventLike {
  id: string;
  type: string;
  created: number;
  object: Record<string, unknown>;
}

function asEvent(json: unknown): StripeEventLike | null {
  if (typeof json !== 'object' || json === null) return null;
  const e = json as Record<string, unknown>;
  const data = e.data as Record<string, unknown> | undefined;
  const object = data?.object;
  if (typeof e.id !== 'string' || typeof e.type !== 'string' || !Number.isSafeInteger(e.created) || typeof object !== 'object' || object === null) return null;
  return { id: e.id, type: e.type, created: e.created as number, object: object as Record<string, unknown> };
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function metadataOf(object: Record<string, unknown>, key: string): string | null {
  const metadata = object.metadata;
  return typeof metadata === 'object' && metadata !== null ? str((metadata as Record<string, unknown>)[key]) : null;
}

function amountOf(object: Record<string, unknown>, field: string): { amountMinor: bigint; currency: string } | null {
  const amount = object[field];
  const currency = str(object.currency);
  if (!Number.isSafeInteger(amount) || currency === null) return null;
  return fromStripeAmount(amount as number, currency);
}

type Action = PspWebhookEvent['action'];

/**
 * A verified Stripe event as our normalized events: one, or none for event types we do not act on
 * and for objects that are not ours (no `tally_payment_id` metadata, e.g. another integration on
 * the same account). Disputes are the exception: a Dispute carries its own (empty) metadata, not
 * the payment's, so they are passed on with `paymentId: null` and their PaymentIntent id, which
 * the core matches to a payment (or logs as unmatched).
 */
export function normalizeStripeEvent(json: unknown): PspWebhookEvent[] {
  const event = asEvent(json);
  if (event === null) return [];
  const o = event.object;
  const base = (action: Action, pspReference: string | null, amountField: string, extra: Partial<PspWebhookEvent> = {}): PspWebhookEvent[] => {
    const paymentId = metadataOf(o, stripeMetadataKeys.paymentId);
    const amount = amountOf(o, amountField);
    const isDispute = action === 'chargeback' || action === 'chargeback_reversed';
    if ((paymentId === null && !isDispute) || pspReference === null || amount === null) return [];
    return [{
      psp: 'stripe', pspEventId: event.id, occurredAtMs: event.created * 1000, paymentId, pspReference, action,
      amountMinor: amount.amountMinor, currency: amount.currency, refundId: null, declineReason: null, ...extra,
    }];
  };
  switch (event.type) {
    case 'payment_intent.succeeded':
      return base('captured', str(o.id), 'amount_received');
    case 'payment_intent.amount_capturable_updated':
      return base('authorized', str(o.id), 'amount_capturable');
    case 'payment_intent.requires_action':
      return base('requires_action', str(o.id), 'amount');
    case 'payment_intent.canceled':
      return base('canceled', str(o.id), 'amount');
    case 'payment_intent.payment_failed': {
      const error = (o.last_payment_error ?? null) as PaymentErrorLike | null;
      return base('authorization_failed', str(o.id), 'amount', { declineReason: declineReasonOf(error?.code, error?.decline_code) });
    }
    case 'charge.refunded':
      return chargeRefunded(event, base);
    case 'refund.failed':
      return base('refund_failed', str(o.payment_intent), 'amount', { refundId: metadataOf(o, stripeMetadataKeys.refundId) });
    case 'charge.dispute.created':
      // An inquiry (`warning_*`) takes no funds: only a chargeback is booked. An inquiry that
      // escalates takes them later, with `funds_withdrawn`.
      return isInquiry(o.status) ? [] : base('chargeback', str(o.payment_intent), 'amount');
    case 'charge.dispute.funds_withdrawn':
      // The chargeback itself (also sent right after `created` for one): booked once either way.
      return base('chargeback', str(o.payment_intent), 'amount');
    case 'charge.dispute.closed': {
      const action = disputeClosedAction(o.status);
      return action === null ? [] : base(action, str(o.payment_intent), 'amount');
    }
    default:
      return [];
  }
}

const isInquiry = (status: unknown) => typeof status === 'string' && status.startsWith('warning_');

/**
 * What a closed dispute means for the money (Stripe sends `charge.dispute.closed` when the status
 * becomes `won`, `lost` or `warning_closed`):
 * - `lost`: the chargeback for good: applied if `created` was missed, else a no-op (the same stage).
 * - `won`: the merchant got the funds back: `chargeback_reversed`. This event, not
 *   `charge.dispute.funds_reinstated`, is the trigger: Stripe also sends `funds_reinstated` when it
 *   gives back only part of what it withdrew (a dispute on a partially refunded payment, whatever
 *   its outcome), so it does not say "won"; its amounts are balance transactions (net of Stripe's
 *   fees, in the settlement currency) rather than the dispute's amount; and our chargeback is booked
 *   by the dispute's lifecycle (`created`), not by balance movements, so its reversal is too.
 * - `warning_closed`: an inquiry closed without becoming a chargeback: no funds moved and none
 *   were booked (see `charge.dispute.created`), so there is nothing to act on.
 * Anything else (an unknown or newer status) is not acted on.
 */
function disputeClosedAction(status: unknown): 'chargeback' | 'chargeback_reversed' | null {
  if (status === 'lost') return 'chargeback';
  if (status === 'won') return 'chargeback_reversed';
  return null;
}

/**
 * `charge.refunded` carries the charge as it was after the refund; its newest refund (Stripe lists
 * them newest first) is the one this event is about. Without the list (API versions that leave
 * `refunds` out) the event cannot say which refund it was, so it names none and carries the
 * charge's cumulative refunded amount.
 */
function chargeRefunded(event: StripeEventLike, base: (action: Action, pspReference: string | null, amountField: string, extra?: Partial<PspWebhookEvent>) => PspWebhookEvent[]): PspWebhookEvent[] {
  const o = event.object;
  const refunds = (o.refunds as { data?: unknown } | undefined)?.data;
  const newest = Array.isArray(refunds) && typeof refunds[0] === 'object' && refunds[0] !== null ? (refunds[0] as Record<string, unknown>) : null;
  if (newest === null) return base('refunded', str(o.payment_intent), 'amount_refunded');
  const amount = amountOf(newest, 'amount');
  const events = base('refunded', str(o.payment_intent), 'amount_refunded', { refundId: metadataOf(newest, stripeMetadataKeys.refundId) });
  return amount === null ? events : events.map((e) => ({ ...e, amountMinor: amount.amountMinor, currency: amount.currency }));
}
