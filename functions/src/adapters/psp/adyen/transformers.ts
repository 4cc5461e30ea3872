/**
 * Our model <-> Adyen Checkout v71: amounts (bigint minor units <-> `{ value, currency }` in ISO 4217
 * minor units), references, `resultCode`s and refusal reasons -> `PspOutcome`, notification items
 * -> `PspWebhookEvent`. Pure functions; the only place Adyen's vocabulary meets ours.
 */
import { assert } from '../../../domain/errors.js';
import { currencyOf } from '../../../domain/money/index.js';
import { type PspAmountLimits, pspAmountRefusal } from '../../../domain/payments/psp-limits.js';
import type { DeclineReason, PspOutcome, PspWebhookEvent } from '../../../ports/psp-gateway.js';

/** Adyen's amount object: `value` in the currency's ISO 4217 minor units. */
export interface AdyenAmount {
  value: number;
  currency: string;
}

/**
 * What Adyen accepts per charge, in ISO minor units: any currency, amounts that JSON carries exactly
 * (Adyen's `value` is a JSON number). Per-account limits are Adyen's configuration and answered by
 * Adyen (a decline from a PSP in working order).
 */
export const adyenLimits: PspAmountLimits = {
  currencies: null,
  amountMinorMin: 1n,
  amountMinorMax: BigInt(Number.MAX_SAFE_INTEGER),
  byCurrency: {},
};

/** Our amount -> Adyen's. Throws the TallyError of `pspAmountRefusal` for amounts outside `adyenLimits`. */
export function toAdyenAmount(amountMinor: bigint, currency: string): AdyenAmount {
  currencyOf(currency);
  const refusal = pspAmountRefusal('adyen', adyenLimits, amountMinor, currency);
  if (refusal !== null) throw refusal;
  return { value: Number(amountMinor), currency };
}

export function fromAdyenAmount(amount: { value?: unknown; currency?: unknown } | null | undefined): { amountMinor: bigint; currency: string } | null {
  if (amount === null || amount === undefined || !Number.isSafeInteger(amount.value) || (amount.value as number) < 0 || typeof amount.currency !== 'string') return null;
  currencyOf(amount.currency);
  return { amountMinor: BigInt(amount.value as number), currency: amount.currency };
}

/**
 * What our references may contain: Tally ids (`prefix_base64url`). Keeping `:` and `\` out means
 * the HMAC signing string is the same whether or not a reader escapes them, and `/` is free to
 * join a payment id and a refund id in a refund's reference.
 */
export const adyenReferenceShape = /^[A-Za-z0-9_-]{1,38}$/;

/** A refund's `reference`: `<paymentId>/<refundId>`, so its REFUND webhook names both. */
export function refundReference(paymentId: string, refundId: string): string {
  assert(adyenReferenceShape.test(paymentId) && adyenReferenceShape.test(refundId), 'Adyen references are Tally ids');
  return `${paymentId}/${refundId}`;
}

export function parseMerchantReference(reference: string): { paymentId: string; refundId: string | null } {
  const slash = reference.indexOf('/');
  if (slash < 0) return { paymentId: reference, refundId: null };
  return { paymentId: reference.slice(0, slash), refundId: reference.slice(slash + 1) };
}

// Adyen's refusalReasonCode values (https://docs.adyen.com/development-resources/refusal-reasons).
const byRefusalCode: Readonly<Record<string, DeclineReason>> = {
  '2': 'card_declined', // Refused
  '5': 'card_declined', // Blocked Card
  '6': 'expired_card',
  '11': 'authentication_failed', // 3D Not Authenticated
  '12': 'insufficient_funds', // Not enough balance
  '14': 'fraud_suspected', // Acquirer Fraud
  '20': 'fraud_suspected', // FRAUD
  '22': 'fraud_suspected', // FRAUD-CANCELLED
  '24': 'incorrect_cvc', // CVC Declined
  '27': 'card_declined', // Declined Non Generic
  '31': 'fraud_suspected', // Issuer Suspected Fraud
};
// The same by refusal text, for webhooks, which carry the text in `reason` but not always the code.
const byRefusalText: Readonly<Record<string, DeclineReason>> = {
  'Refused': 'card_declined',
  'Blocked Card': 'card_declined',
  'Expired Card': 'expired_card',
  '3D Not Authenticated': 'authentication_failed',
  'Not enough balance': 'insufficient_funds',
  'Acquirer Fraud': 'fraud_suspected',
  'FRAUD': 'fraud_suspected',
  'FRAUD-CANCELLED': 'fraud_suspected',
  'CVC Declined': 'incorrect_cvc',
  'Declined Non Generic': 'card_declined',
  'Issuer Suspected Fraud': 'fraud_suspected',
};
// The issuer's raw ISO 8583 response code (`refusalReasonRaw`, e.g. "05 : Do not honor") is more
// specific than Adyen's grouping: "Refused" covers both a generic decline and "do not honor".
const byRawCode: Readonly<Record<string, DeclineReason>> = {
  '05': 'do_not_honor',
  '51': 'insufficient_funds',
  '54': 'expired_card',
  '41': 'fraud_suspected',
  '43': 'fraud_suspected',
  '59': 'fraud_suspected',
  'N7': 'incorrect_cvc',
  '82': 'incorrect_cvc',
};

/** `table[key]` for the table's own keys only (`constructor` and friends are not refusal codes). */
function own<T>(table: Readonly<Record<string, T>>, key: string | null | undefined): T | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

export interface AdyenRefusal {
  refusalReasonCode?: string | null;
  refusalReason?: string | null;
  refusalReasonRaw?: string | null;
}

export function adyenDeclineReason(refusal: AdyenRefusal): DeclineReason {
  const rawCode = refusal.refusalReasonRaw?.split(':')[0]?.trim();
  return own(byRawCode, rawCode) ?? own(byRefusalCode, refusal.refusalReasonCode) ?? own(byRefusalText, refusal.refusalReason) ?? 'other';
}

function refusalCode(refusal: AdyenRefusal): string {
  return refusal.refusalReasonRaw ?? refusal.refusalReasonCode ?? refusal.refusalReason ?? 'Refused';
}

/** The parts of a `/payments` response we read. */
export interface AdyenPaymentResponse {
  resultCode?: string;
  pspReference?: string;
  amount?: { value?: unknown; currency?: unknown };
  refusalReason?: string;
  refusalReasonCode?: string;
  additionalData?: Record<string, unknown>;
  action?: { url?: string; type?: string };
}

/** A `/payments` result as our outcome. With automatic capture, Authorised means captured. */
export function paymentResponseToOutcome(body: AdyenPaymentResponse, captureMethod: 'automatic' | 'manual', requested: AdyenAmount): PspOutcome {
  const pspReference = body.pspReference ?? null;
  const amount = fromAdyenAmount(body.amount) ?? { amountMinor: BigInt(requested.value), currency: requested.currency };
  const refusal: AdyenRefusal = {
    refusalReason: body.refusalReason ?? null,
    refusalReasonCode: body.refusalReasonCode ?? null,
    refusalReasonRaw: typeof body.additionalData?.refusalReasonRaw === 'string' ? body.additionalData.refusalReasonRaw : null,
  };
  switch (body.resultCode) {
    case 'Authorised':
      if (pspReference === null) return { kind: 'unknown', reason: 'ambiguous_server_error', detail: 'Adyen Authorised without pspReference' };
      return { kind: captureMethod === 'automatic' ? 'captured' : 'authorized', pspReference, ...amount };
    case 'Refused':
      return { kind: 'declined', pspReference, reason: adyenDeclineReason(refusal), pspCode: refusalCode(refusal) };
    case 'Error':
      // Final per Adyen: the payment failed while being processed.
      return { kind: 'declined', pspReference, reason: 'other', pspCode: `Error: ${body.refusalReason ?? 'unknown'}` };
    case 'Cancelled':
      return pspReference === null ? { kind: 'declined', pspReference, reason: 'other', pspCode: 'Cancelled' } : { kind: 'canceled', pspReference };
    case 'RedirectShopper':
    case 'ChallengeShopper':
    case 'IdentifyShopper':
      if (pspReference === null) return { kind: 'unknown', reason: 'ambiguous_server_error', detail: `Adyen ${body.resultCode} without pspReference` };
      return { kind: 'requires_action', pspReference, actionUrl: body.action?.url ?? '' };
    case 'Pending':
    case 'Received':
      // Accepted, not final: the AUTHORISATION webhook (or the janitor's lookup) decides.
      return { kind: 'pending', pspReference, detail: `Adyen resultCode ${body.resultCode}` };
    default:
      return { kind: 'unknown', reason: 'ambiguous_server_error', detail: `unexpected Adyen resultCode ${String(body.resultCode)}` };
  }
}

/** One payment as the sandbox-only lookup describes it (see emulators/sandbox-psp/adyen-wire.ts). */
export interface AdyenLookupRecord {
  pspReference: string;
  status: 'Authorised' | 'Refused' | 'Cancelled' | 'RedirectShopper';
  captureMethod: 'automatic' | 'manual';
  amount: AdyenAmount;
  capturedValue: number;
  refusalReason: string | null;
  refusalReasonCode: string | null;
  refusalReasonRaw: string | null;
  actionUrl: string | null;
  createdAt: string;
}

export function lookupRecordToOutcome(record: AdyenLookupRecord): PspOutcome {
  const { pspReference } = record;
  switch (record.status) {
    case 'Authorised': {
      // Automatic capture follows authorisation at once: report it as the captured payment it becomes.
      const captured = record.capturedValue > 0 || record.captureMethod === 'automatic';
      const value = record.capturedValue > 0 ? record.capturedValue : record.amount.value;
      return { kind: captured ? 'captured' : 'authorized', pspReference, amountMinor: BigInt(value), currency: record.amount.currency };
    }
    case 'Refused': {
      const refusal = { refusalReason: record.refusalReason, refusalReasonCode: record.refusalReasonCode, refusalReasonRaw: record.refusalReasonRaw };
      return { kind: 'declined', pspReference, reason: adyenDeclineReason(refusal), pspCode: refusalCode(refusal) };
    }
    case 'Cancelled':
      return { kind: 'canceled', pspReference };
    case 'RedirectShopper':
      return { kind: 'requires_action', pspReference, actionUrl: record.actionUrl ?? '' };
  }
}

export function lookupRank(record: AdyenLookupRecord): number {
  return { Authorised: 4, RedirectShopper: 3, Cancelled: 2, Refused: 1 }[record.status] ?? 0;
}

// ---- Notifications ----

/** A notification item as parsed from JSON: nothing trusted beyond the HMAC-covered fields. */
export interface AdyenNotificationItem {
  pspReference?: unknown;
  originalReference?: unknown;
  merchantAccountCode?: unknown;
  merchantReference?: unknown;
  amount?: { value?: unknown; currency?: unknown } | null;
  eventCode?: unknown;
  eventDate?: unknown;
  success?: unknown;
  reason?: unknown;
  additionalData?: Record<string, unknown> | null;
}

type Action = PspWebhookEvent['action'];

const actions: Readonly<Record<string, readonly [Action | null, Action | null]>> = {
  // [on success, on failure]
  AUTHORISATION: ['authorized', 'authorization_failed'],
  CAPTURE: ['captured', 'capture_failed'],
  CAPTURE_FAILED: ['capture_failed', 'capture_failed'],
  // A failed cancellation leaves the payment as it was; the core settles its cancel as failed.
  CANCELLATION: ['canceled', 'cancel_failed'],
  REFUND: ['refunded', 'refund_failed'],
  REFUND_FAILED: ['refund_failed', 'refund_failed'],
  CHARGEBACK: ['chargeback', null],
  // The dispute's later stages: the merchant's defence won and the funds come back; then the
  // issuer may dispute the reversal and take them back a second time. Not passed on: the
  // information-only codes (NOTIFICATION_OF_CHARGEBACK, REQUEST_FOR_INFORMATION, ...) and
  // PREARBITRATION_WON/LOST, whose effect on the funds depends on the scheme (not modelled yet).
  CHARGEBACK_REVERSED: ['chargeback_reversed', null],
  SECOND_CHARGEBACK: ['second_chargeback', null],
};

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * A verified notification item as our normalized event, or null for event codes we do not act on.
 * Without a `merchantReference` (chargebacks may lack it) the event names no payment of ours
 * (`paymentId: null`) and the core matches it by its original pspReference.
 */
export function normalizeAdyenItem(item: AdyenNotificationItem): PspWebhookEvent | null {
  const eventCode = text(item.eventCode);
  const pspReference = text(item.pspReference);
  const merchantReference = text(item.merchantReference);
  const mapping = own(actions, eventCode);
  if (mapping === undefined || pspReference === null) return null;
  const success = item.success === 'true';
  const action = success ? mapping[0] : mapping[1];
  const amount = fromAdyenAmount(item.amount);
  const occurredAtMs = typeof item.eventDate === 'string' ? Date.parse(item.eventDate) : Number.NaN;
  if (action === null || amount === null || Number.isNaN(occurredAtMs)) return null;
  const { paymentId, refundId } = merchantReference === null ? { paymentId: null, refundId: null } : parseMerchantReference(merchantReference);
  const additional = item.additionalData ?? {};
  const declineReason = action === 'authorization_failed'
    ? adyenDeclineReason({ refusalReason: text(item.reason), refusalReasonCode: text(additional.refusalReasonCode), refusalReasonRaw: text(additional.refusalReasonRaw) })
    : null;
  return {
    psp: 'adyen',
    // Adyen has no event id: eventCode + pspReference + success identify a notification, and its
    // eventDate (the event's time, the same on every resend) tells apart a later event with the
    // same triple: Adyen does not document which pspReference a re-capture's CAPTURE success=true
    // ("Transaction Recaptured") carries, and with the first CAPTURE's it must not be taken for a
    // resend. A resend that changed its eventDate would be applied twice, which the core makes a
    // no-op (an event for a stage already reached).
    pspEventId: `${eventCode}:${pspReference}:${success ? 'true' : 'false'}:${occurredAtMs}`,
    occurredAtMs,
    paymentId,
    // Modifications and chargebacks carry their own pspReference; the payment's is the original one.
    pspReference: text(item.originalReference) ?? pspReference,
    action,
    amountMinor: amount.amountMinor,
    currency: amount.currency,
    refundId: action === 'refunded' || action === 'refund_failed' ? refundId : null,
    declineReason,
    modificationReference: text(item.originalReference) === null ? null : pspReference,
  };
}
