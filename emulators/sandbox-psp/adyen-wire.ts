/**
 * The sandbox's Adyen Checkout API v71 (JSON, `X-API-Key`): `POST /v71/payments` answers at once
 * (Authorised / Refused / RedirectShopper), while captures, cancels and refunds answer
 * `{ status: 'received' }` and their outcome arrives later as a webhook, as at Adyen. Standard
 * notifications are signed per item with Adyen's HMAC scheme.
 *
 * Adyen Checkout has no "get payment" endpoint: real integrations learn outcomes from webhooks (and
 * recover a timed-out request by retrying it with the same idempotency key). For the janitor, the
 * sandbox adds a clearly sandbox-only lookup outside Adyen's URL space:
 * `GET /_sandbox/adyen/payments?merchantReference=...` and `GET /_sandbox/adyen/payments/:pspReference`,
 * answering with what the AUTHORISATION / CAPTURE / CANCELLATION webhooks would have said.
 */
import { type SettlementEvent, SETTLEMENT_EVENTS_MAX, adyenSettlementReport } from './settlement-report.js';
import { randomBytes } from 'node:crypto';
import { currencyOf } from '../../functions/src/domain/money/index.js';
import type { Clock } from '../../functions/src/ports/clock.js';
import { type AdyenSignedFields, adyenHmacSignature } from './signing.js';
import type { CardTokenVault } from './card-fields.js';
import { type ChallengeView, withQuery } from './challenge-page.js';
import { type DeclineSpec, type SchemeRejectionSpec, type TestCard, authenticationFailure } from './test-cards.js';
import { type ApiRequest, type ApiResult, type WireContext, type WireProtocol, headerValue, jsonResponse, result } from './wire.js';

const REFERENCE_LENGTH_MAX = 80;
const LOOKUP_RESULTS_MAX = 20;

type AdyenStatus = 'RedirectShopper' | 'Authorised' | 'Refused' | 'Cancelled';

interface AdyenPayment {
  pspReference: string;
  merchantAccount: string;
  reference: string;
  value: number;
  currency: string;
  captureMethod: 'automatic' | 'manual';
  status: AdyenStatus;
  capturedValue: number;
  refundedValue: number;
  refusal: DeclineSpec | null;
  card: TestCard;
  /** Where the shopper returns after a redirect (the request's `returnUrl`). */
  returnUrl: string;
  createdMs: number;
  /** Where its dispute stands: none, charged back, reversed (won), charged back a second time. */
  dispute: 'none' | 'chargeback' | 'reversed' | 'second_chargeback';
  /** The amount the chargeback took (its reversal and a second chargeback use the same). */
  chargebackValue: number;
  /** The `eventDate` of its latest notification, in whole epoch seconds (0 before the first). */
  lastEventSec: number;
}

export interface AdyenWireOptions {
  context: WireContext;
  clock: Clock;
  hmacKeyHex: string;
  /** When set, only this API key is accepted; otherwise any non-empty `X-API-Key`. */
  apiKey: string | undefined;
  /** When set, only this merchant account is accepted. */
  merchantAccount: string | undefined;
  paymentsMax: number;
  /** Resolves stored payment method ids: the fixed test ones and the ones the card fields minted. */
  cardTokens: CardTokenVault;
}

class AdyenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly errorType: 'validation' | 'security' | 'internal' | 'configuration',
  ) {
    super(message);
  }
}

const validation = (errorCode: string, message: string): AdyenRequestError => new AdyenRequestError(422, errorCode, message, 'validation');

interface Modification {
  kind: 'captures' | 'cancels' | 'refunds';
  payment: AdyenPayment;
  pspReference: string;
  reference: string | null;
  value: number;
  currency: string;
}

export function createAdyenWire(options: AdyenWireOptions): WireProtocol {
  const payments = new Map<string, AdyenPayment>();
  const settlement: SettlementEvent[] = [];
  const settlementTypes: Readonly<Record<string, SettlementEvent['type']>> = {
    CAPTURE: 'Settled', REFUND: 'Refunded', CHARGEBACK: 'Chargeback', CHARGEBACK_REVERSED: 'ChargebackReversed', SECOND_CHARGEBACK: 'SecondChargeback',
  };
  const byReference = new Map<string, string[]>();
  const { context } = options;

  /**
   * The `eventDate` of a new notification about `p`: Adyen's has second precision, so two events in
   * the same second cannot be ordered by it. A scheme-rejection card's notifications are each at
   * least a second later than the one before: the core orders a payment's events by this time, and
   * a rejection (and Adyen's retry) must come after the confirmation it overrides, as it does at
   * Adyen (hours or days later). Other cards keep the clock's second (README, deviations).
   */
  function eventDate(p: AdyenPayment): string {
    const nowSec = Math.floor(options.clock.nowMs() / 1000);
    const sec = p.card.behaviour.kind === 'scheme_rejection' ? Math.max(nowSec, p.lastEventSec + 1) : nowSec;
    p.lastEventSec = Math.max(p.lastEventSec, sec);
    return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function notify(payment: AdyenPayment, eventCode: string, success: boolean, fields: Omit<AdyenSignedFields, 'eventCode' | 'success'>, extra: { reason?: string; additionalData?: Record<string, string> } = {}): void {
    if (success) recordSettlement(payment, eventCode, fields.pspReference, fields.amount.value);
    const signed: AdyenSignedFields = { ...fields, eventCode, success: success ? 'true' : 'false' };
    const item = {
      additionalData: { ...extra.additionalData, hmacSignature: adyenHmacSignature(signed, options.hmacKeyHex) },
      amount: signed.amount,
      eventCode,
      eventDate: eventDate(payment),
      merchantAccountCode: signed.merchantAccountCode,
      merchantReference: signed.merchantReference,
      ...(signed.originalReference === undefined ? {} : { originalReference: signed.originalReference }),
      paymentMethod: 'visa',
      pspReference: signed.pspReference,
      ...(extra.reason === undefined ? {} : { reason: extra.reason }),
      success: signed.success,
    };
    const body = JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });
    context.emit({ psp: 'adyen', eventId: `${eventCode}:${signed.pspReference}:${signed.success}`, type: eventCode, render: () => ({ body, headers: {} }) });
  }

  /** What the settlement report will show: each confirmed movement of funds (a scheme's rejection takes its movement back). */
  function recordSettlement(payment: AdyenPayment, eventCode: string, modificationReference: string, value: number): void {
    const type = settlementTypes[eventCode];
    if (eventCode === 'CAPTURE_FAILED' || eventCode === 'REFUND_FAILED') {
      const i = settlement.findIndex((e) => e.modificationReference === modificationReference);
      if (i >= 0) settlement.splice(i, 1);
      return;
    }
    if (type === undefined) return;
    if (settlement.length >= SETTLEMENT_EVENTS_MAX) settlement.shift();
    settlement.push({ type, pspReference: payment.pspReference, modificationReference, merchantReference: payment.reference, value, currency: payment.currency, atMs: options.clock.nowMs() });
  }

  function paymentFields(payment: AdyenPayment): Omit<AdyenSignedFields, 'eventCode' | 'success'> {
    return { pspReference: payment.pspReference, merchantAccountCode: payment.merchantAccount, merchantReference: payment.reference, amount: { value: payment.value, currency: payment.currency } };
  }

  function authorise(payment: AdyenPayment): void {
    payment.status = 'Authorised';
    notify(payment, 'AUTHORISATION', true, paymentFields(payment));
    if (payment.captureMethod === 'automatic') {
      // Immediate auto-capture. Adyen sends CAPTURE for it only when the account subscribes to it;
      // the sandbox behaves as such an account, so every capture is confirmed by a webhook.
      context.defer(() => applyModification({ kind: 'captures', payment, pspReference: newPspReference(), reference: null, value: payment.value, currency: payment.currency }));
    }
  }

  function refuse(payment: AdyenPayment, spec: DeclineSpec): void {
    payment.status = 'Refused';
    payment.refusal = spec;
    notify(payment, 'AUTHORISATION', false, paymentFields(payment), {
      reason: spec.adyenRefusalReason,
      additionalData: { refusalReasonCode: spec.adyenRefusalReasonCode, ...(spec.adyenRefusalReasonRaw === null ? {} : { refusalReasonRaw: spec.adyenRefusalReasonRaw }) },
    });
  }

  /** A dispute stage as Adyen notifies it: its own pspReference, the payment's as `originalReference`. */
  function disputeNotification(payment: AdyenPayment, eventCode: 'CHARGEBACK' | 'CHARGEBACK_REVERSED' | 'SECOND_CHARGEBACK'): void {
    const amount = { value: payment.chargebackValue, currency: payment.currency };
    notify(payment, eventCode, true, { ...paymentFields(payment), pspReference: newPspReference(), originalReference: payment.pspReference, amount }, { reason: 'Fraudulent Processing of Transaction' });
  }

  function chargeback(payment: AdyenPayment): void {
    payment.dispute = 'chargeback';
    payment.chargebackValue = payment.capturedValue - payment.refundedValue;
    disputeNotification(payment, 'CHARGEBACK');
  }

  /** Why a modification fails, or null when it succeeds; pure so the rules read in one place. */
  function modificationFailure(m: Modification): string | null {
    const p = m.payment;
    if (m.currency !== p.currency) return 'Currency mismatch';
    if (m.kind === 'captures') {
      if (p.status !== 'Authorised') return `Payment is ${p.status}`;
      if (p.capturedValue > 0) return 'Payment already captured';
      if (m.value > p.value) return 'Insufficient balance on payment';
      // Accepted (`received`) like any capture; the acquirer refuses it afterwards.
      if (p.card.behaviour.kind === 'capture_fails') return 'Capture refused by the acquirer';
      return null;
    }
    if (m.kind === 'cancels') {
      if (p.status !== 'Authorised') return `Payment is ${p.status}`;
      if (p.capturedValue > 0) return 'Payment already captured';
      if (p.card.behaviour.kind === 'cancel_refused') return 'Cancellation refused by the acquirer';
      return null;
    }
    if (p.capturedValue === 0) return 'Payment not captured';
    if (m.value > p.capturedValue - p.refundedValue) return 'Insufficient balance on payment';
    return null;
  }

  function applyModification(m: Modification): void {
    const failure = modificationFailure(m);
    const p = m.payment;
    const eventCode = { captures: 'CAPTURE', cancels: 'CANCELLATION', refunds: 'REFUND' }[m.kind];
    if (failure === null) {
      if (m.kind === 'captures') p.capturedValue = m.value;
      if (m.kind === 'cancels') p.status = 'Cancelled';
      if (m.kind === 'refunds') p.refundedValue += m.value;
    }
    const fields = {
      pspReference: m.pspReference, originalReference: p.pspReference, merchantAccountCode: p.merchantAccount,
      merchantReference: m.reference ?? p.reference, amount: { value: m.value, currency: m.currency },
    };
    notify(p, eventCode, failure === null, fields, failure === null ? {} : { reason: failure });
    if (failure !== null) return;
    const behaviour = p.card.behaviour;
    if (behaviour.kind === 'scheme_rejection' && behaviour.rejection.modification === m.kind) schemeReject(m, behaviour.rejection, eventCode, fields);
    if (m.kind === 'captures' && behaviour.kind === 'dispute') chargeback(p);
  }

  /**
   * The card scheme rejects a capture or refund just confirmed: CAPTURE_FAILED / REFUND_FAILED for
   * the same modification pspReference, `success: 'true'` as Adyen sends these codes; then, when
   * the card says so, Adyen's own retry succeeds: CAPTURE / REFUND success=true with the retry
   * reason. The retry gets a pspReference of its own, because a notification is identified by
   * eventCode + pspReference + success: the same triple would be a resend of the first
   * confirmation. The payment's record follows at once, so the lookup and the oracles tell the
   * final truth (the webhooks may still be on their way, held or dropped).
   */
  function schemeReject(m: Modification, rejection: SchemeRejectionSpec, eventCode: string, fields: Omit<AdyenSignedFields, 'eventCode' | 'success'>): void {
    const p = m.payment;
    // What the scheme's verdict does to the payment: a capture is all of it (one capture per payment).
    const book = (booked: boolean): void => {
      if (rejection.modification === 'captures') p.capturedValue = booked ? m.value : 0;
      else p.refundedValue += booked ? m.value : -m.value;
    };
    book(false);
    notify(p, `${eventCode}_FAILED`, true, fields, { reason: rejection.reason });
    if (rejection.retryReason === null) return;
    book(true);
    notify(p, eventCode, true, { ...fields, pspReference: newPspReference() }, { reason: rejection.retryReason });
  }

  function renderPayment(p: AdyenPayment): Record<string, unknown> {
    const base = { pspReference: p.pspReference, merchantReference: p.reference, amount: { value: p.value, currency: p.currency } };
    switch (p.status) {
      case 'Authorised':
        return { ...base, resultCode: 'Authorised', additionalData: { authCode: '012345' } };
      case 'Refused': {
        const r = p.refusal as DeclineSpec;
        return {
          ...base, resultCode: 'Refused', refusalReason: r.adyenRefusalReason, refusalReasonCode: r.adyenRefusalReasonCode,
          ...(r.adyenRefusalReasonRaw === null ? {} : { additionalData: { refusalReasonRaw: r.adyenRefusalReasonRaw } }),
        };
      }
      case 'RedirectShopper':
        return { ...base, resultCode: 'RedirectShopper', action: { paymentMethodType: 'scheme', type: 'redirect', method: 'GET', url: `${context.baseUrl()}/_sandbox/challenge/adyen/${p.pspReference}` } };
      case 'Cancelled':
        return { ...base, resultCode: 'Cancelled' };
    }
  }

  function createPayment(request: ApiRequest): ApiResult {
    const body = parseJson(request.body);
    const merchantAccount = requireMerchantAccount(body.merchantAccount);
    const { value, currency } = parseAmount(body.amount);
    const reference = requireString(body.reference, 'reference');
    if (reference.length > REFERENCE_LENGTH_MAX) throw validation('130', `Field 'reference' exceeds ${REFERENCE_LENGTH_MAX} characters`);
    const returnUrl = requireString(body.returnUrl, 'returnUrl');
    const card = parsePaymentMethod(body.paymentMethod, options.cardTokens);
    const additionalData = (typeof body.additionalData === 'object' && body.additionalData !== null ? body.additionalData : {}) as Record<string, unknown>;
    const captureMethod = additionalData.manualCapture === 'true' ? 'manual' : 'automatic';
    if (card.behaviour.kind === 'error_before') return result(jsonResponse(500, {}), false, 'error_before');
    if (payments.size >= options.paymentsMax) throw new AdyenRequestError(422, '000', 'Sandbox limit reached: too many payments (reset the sandbox)', 'validation');

    const payment: AdyenPayment = {
      pspReference: newPspReference(), merchantAccount, reference, value, currency, captureMethod, status: 'RedirectShopper',
      capturedValue: 0, refundedValue: 0, refusal: null, card, returnUrl, createdMs: options.clock.nowMs(), dispute: 'none', chargebackValue: 0, lastEventSec: 0,
    };
    payments.set(payment.pspReference, payment);
    const sameReference = byReference.get(reference) ?? [];
    sameReference.push(payment.pspReference);
    byReference.set(reference, sameReference);

    const behaviour = card.behaviour;
    switch (behaviour.kind) {
      case 'decline':
        refuse(payment, behaviour.decline);
        break;
      case 'challenge':
        break;
      default:
        authorise(payment);
    }
    const cardFault = behaviour.kind === 'timeout' || behaviour.kind === 'error_after' ? behaviour.kind : 'none';
    return result(jsonResponse(200, renderPayment(payment)), true, cardFault);
  }

  function modify(request: ApiRequest, pspReference: string, kind: Modification['kind']): ApiResult {
    const body = parseJson(request.body);
    const merchantAccount = requireMerchantAccount(body.merchantAccount);
    const payment = payments.get(pspReference);
    if (payment === undefined || payment.merchantAccount !== merchantAccount) throw validation('167', 'Original pspReference required for this operation');
    const amount = kind === 'cancels' ? { value: payment.value, currency: payment.currency } : parseAmount(body.amount);
    const reference = body.reference === undefined ? null : requireString(body.reference, 'reference');
    if (reference !== null && reference.length > REFERENCE_LENGTH_MAX) throw validation('130', `Field 'reference' exceeds ${REFERENCE_LENGTH_MAX} characters`);
    const modification: Modification = { kind, payment, pspReference: newPspReference(), reference, value: amount.value, currency: amount.currency };
    context.defer(() => applyModification(modification));
    return result(jsonResponse(201, {
      merchantAccount, paymentPspReference: pspReference, pspReference: modification.pspReference,
      ...(reference === null ? {} : { reference }), status: 'received',
      ...(kind === 'cancels' ? {} : { amount }),
    }), true);
  }

  function lookupRecord(p: AdyenPayment): Record<string, unknown> {
    return {
      pspReference: p.pspReference, merchantReference: p.reference, merchantAccount: p.merchantAccount, status: p.status,
      captureMethod: p.captureMethod, amount: { value: p.value, currency: p.currency }, capturedValue: p.capturedValue,
      refundedValue: p.refundedValue, refusalReason: p.refusal?.adyenRefusalReason ?? null,
      refusalReasonCode: p.refusal?.adyenRefusalReasonCode ?? null, refusalReasonRaw: p.refusal?.adyenRefusalReasonRaw ?? null,
      actionUrl: p.status === 'RedirectShopper' ? `${context.baseUrl()}/_sandbox/challenge/adyen/${p.pspReference}` : null,
      createdAt: new Date(p.createdMs).toISOString(),
    };
  }

  function lookup(request: ApiRequest): ApiResult {
    const single = /^\/_sandbox\/adyen\/payments\/([^/]+)$/.exec(request.path);
    if (single !== null) {
      const payment = payments.get(decodeURIComponent(single[1] ?? ''));
      if (payment === undefined) throw new AdyenRequestError(404, '000', 'Payment not found', 'validation');
      return result(jsonResponse(200, lookupRecord(payment)), true);
    }
    const reference = request.query.get('merchantReference');
    if (reference === null || reference === '') throw validation('130', "Required field 'merchantReference' is not provided.");
    const refs = (byReference.get(reference) ?? []).slice(-LOOKUP_RESULTS_MAX).reverse();
    return result(jsonResponse(200, { payments: refs.map((ref) => lookupRecord(payments.get(ref) as AdyenPayment)) }), true);
  }

  function route(request: ApiRequest): ApiResult {
    const { method, path } = request;
    if (method === 'POST' && path === '/v71/payments') return createPayment(request);
    const modification = /^\/v71\/payments\/([^/]+)\/(captures|cancels|refunds)$/.exec(path);
    if (method === 'POST' && modification !== null) return modify(request, decodeURIComponent(modification[1] ?? ''), modification[2] as Modification['kind']);
    if (method === 'GET' && path.startsWith('/_sandbox/adyen/payments')) return lookup(request);
    throw new AdyenRequestError(404, '000', `Not found: ${method} ${path}`, 'validation');
  }

  function requireMerchantAccount(value: unknown): string {
    const merchantAccount = requireString(value, 'merchantAccount');
    if (options.merchantAccount !== undefined && merchantAccount !== options.merchantAccount) throw new AdyenRequestError(403, '901', 'Invalid Merchant Account', 'security');
    return merchantAccount;
  }

  return {
    psp: 'adyen',
    authenticate(request) {
      const key = headerValue(request.headers, 'x-api-key') ?? '';
      const accepted = options.apiKey === undefined ? key !== '' : key === options.apiKey;
      if (accepted) return { scope: key };
      return { response: jsonResponse(401, { status: 401, errorCode: '000', message: 'HTTP Status Response - Unauthorized', errorType: 'security' }) };
    },
    handle(request) {
      try {
        return route(request);
      } catch (error) {
        if (error instanceof AdyenRequestError) {
          return result(jsonResponse(error.status, { status: error.status, errorCode: error.errorCode, message: error.message, errorType: error.errorType }), false);
        }
        throw error;
      }
    },
    serverError(phase) {
      // Adyen marks errors that are safe to retry with `Transient-Error: true`; the sandbox sends it
      // only when nothing was done, so the connector may treat the failure as "not processed".
      if (phase === 'before') {
        return jsonResponse(503, { status: 503, errorCode: '000', message: 'Sandbox: the request failed before processing; nothing was done.', errorType: 'internal' }, { 'transient-error': 'true' });
      }
      return jsonResponse(500, { status: 500, errorCode: '000', message: 'An unexpected error occurred', errorType: 'internal' });
    },
    idempotencyRefusal() {
      return jsonResponse(422, { status: 422, errorCode: '704', message: 'request already processed or in progress', errorType: 'validation' });
    },
    challenge(pspReference): ChallengeView | null {
      const payment = payments.get(pspReference);
      if (payment === undefined) return null;
      return {
        waiting: payment.status === 'RedirectShopper',
        amountMinor: payment.value,
        currency: payment.currency,
        // Adyen appends an opaque `redirectResult` (for /payments/details); the sandbox's names the payment.
        returnUrl: withQuery(payment.returnUrl, { redirectResult: Buffer.from(payment.pspReference).toString('base64url') }),
      };
    },
    completeChallenge(pspReference, outcome) {
      const payment = payments.get(pspReference);
      if (payment === undefined || payment.status !== 'RedirectShopper') return false;
      if (outcome === 'success') authorise(payment);
      else refuse(payment, authenticationFailure);
      return true;
    },
    createDispute(pspReference, options) {
      // Adyen's pre-dispute notices are informational (no funds move): not modelled.
      if (options?.inquiry === true) return false;
      const payment = payments.get(pspReference);
      if (payment === undefined || payment.capturedValue === 0) return false;
      if (payment.dispute === 'none') {
        chargeback(payment);
        return true;
      }
      // The issuer disputes a reversal again (pre-arbitration): the funds are taken a second time.
      if (payment.dispute !== 'reversed') return false;
      payment.dispute = 'second_chargeback';
      disputeNotification(payment, 'SECOND_CHARGEBACK');
      return true;
    },
    closeDispute(pspReference, outcome) {
      const payment = payments.get(pspReference);
      // A won defence gives the funds back (CHARGEBACK_REVERSED); a lost one sends nothing: the chargeback stands.
      if (payment === undefined || payment.dispute !== 'chargeback' || outcome !== 'won') return false;
      payment.dispute = 'reversed';
      disputeNotification(payment, 'CHARGEBACK_REVERSED');
      return true;
    },
    escalateDispute: () => false,
    refundedMinor: (pspReference) => payments.get(pspReference)?.refundedValue ?? null,
    paymentCount: () => payments.size,
    reset() {
      payments.clear();
      byReference.clear();
      settlement.length = 0;
    },
    settlementReport({ batchNumber, sinceMs }) {
      return adyenSettlementReport(settlement.filter((e) => e.atMs >= sinceMs), { batchNumber, merchantAccount: options.merchantAccount ?? 'TallySandboxECOM' });
    },
  };
}

/** Adyen's 16-character alphanumeric PSP reference. */
function newPspReference(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

function parseJson(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AdyenRequestError(400, '702', 'Structure of the request body is invalid (unable to parse JSON)', 'validation');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AdyenRequestError(400, '702', 'Expected a JSON object', 'validation');
  return parsed as Record<string, unknown>;
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw validation('130', `Required field '${field}' is not provided.`);
  return value;
}

/** `amount: { value, currency }`: value in ISO 4217 minor units (Adyen's rule), a current currency. */
function parseAmount(value: unknown): { value: number; currency: string } {
  if (typeof value !== 'object' || value === null) throw validation('100', 'No amount specified');
  const amount = value as Record<string, unknown>;
  if (!Number.isSafeInteger(amount.value) || (amount.value as number) < 0) throw validation('137', 'Invalid amount specified');
  if (typeof amount.currency !== 'string') throw validation('138', 'Unsupported currency specified');
  try {
    currencyOf(amount.currency);
  } catch {
    throw validation('138', 'Unsupported currency specified');
  }
  return { value: amount.value as number, currency: amount.currency };
}

function parsePaymentMethod(value: unknown, cardTokens: CardTokenVault): TestCard {
  if (typeof value !== 'object' || value === null) throw validation('130', "Required field 'paymentMethod' is not provided.");
  const method = value as Record<string, unknown>;
  if (method.type !== 'scheme') throw validation('905', 'Payment details are not supported');
  const token = typeof method.storedPaymentMethodId === 'string' ? method.storedPaymentMethodId : method.encryptedCardNumber;
  const card = typeof token === 'string' ? cardTokens.adyenCard(token) : undefined;
  if (card === undefined) throw validation('101', 'Invalid card number');
  return card;
}
