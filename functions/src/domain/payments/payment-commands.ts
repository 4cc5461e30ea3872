/**
 * Merchant commands on a payment intent: create, attach a payment method, confirm, capture,
 * cancel, refund. Each is pure: `(intent, input, nowMs) -> PaymentTransition`. A command the
 * current status does not allow throws `INVALID_STATE_TRANSITION` with metadata `{from, command}`
 * and changes nothing; bad input throws the usual field errors.
 */
import { TallyError, assert, invalidField } from '../errors.js';
import { validateMetadata } from '../metadata.js';
import { currencyOf } from '../money/index.js';
import { type PspName, pspNames } from './psp-vocabulary.js';
import { type FeeSchedule, validateFeeSchedule } from './ledger-postings.js';
import type { PaymentTransition } from './payment-effect.js';
import { validateReturnUrl } from './payment-fields.js';
import {
  ATTEMPTS_MAX,
  type CaptureMethod,
  type PaymentIntent,
  REFUNDS_MAX,
  type Refund,
  captureMethods,
  checkPaymentIntent,
  isPaymentId,
  isRefundId,
  refundableMinor,
} from './payment-intent.js';
import { IntentDraft, beginAuthorize, beginCapture, recordCanceled } from './intent-draft.js';

/** Largest amount of a payment: amounts stay exact as JSON numbers (PSP APIs take integer minor units). */
export const PAYMENT_AMOUNT_MINOR_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Most metadata keys on a payment (the API documents 20). */
export const PAYMENT_METADATA_KEYS_MAX = 20;

/** PSP calls a confirm must leave room for beyond its route: a capture and a cancel. */
const CONFIRM_ATTEMPTS_RESERVE = 2;

const opaqueIdShape = /^[A-Za-z0-9_-]{1,64}$/;

/** A create request as decoded at the edge. */
export interface CreatePaymentIntentInput {
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly captureMethod: string;
  readonly customerId?: string | null;
  readonly paymentMethodId?: string | null;
  /** The caller's own references (order id, ...): returned as given, never interpreted. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The tenant's fee terms now; snapshotted on the intent. */
  readonly fees: FeeSchedule;
}

/** What the app decides for a new intent: its id (`pay_...`), tenant and creation time. */
export interface CreatePaymentIntentContext {
  readonly id: string;
  readonly tenantId: string;
  readonly nowMs: number;
  /** Trace of the request that creates it (W3C trace id), kept for audit; '' when untraced. */
  readonly traceId?: string;
}

/**
 * A new intent: `requires_confirmation` when a payment method is attached, else
 * `requires_payment_method`. Throws `AMOUNT_OUT_OF_RANGE` unless 0 < amount <=
 * `PAYMENT_AMOUNT_MINOR_MAX`, `UNKNOWN_CURRENCY`/`FIELD_INVALID` for the currency, `FIELD_INVALID`
 * for the capture method, ids, metadata (at most `PAYMENT_METADATA_KEYS_MAX` keys) or fee terms.
 */
export function createPaymentIntent(input: CreatePaymentIntentInput, context: CreatePaymentIntentContext): PaymentTransition {
  if (!isPaymentId(context.id)) throw invalidField('id', 'pay_ followed by 1..40 characters of A-Z a-z 0-9 _ -');
  if (typeof context.tenantId !== 'string' || context.tenantId === '') throw invalidField('tenant_id', 'required', 'FIELD_REQUIRED');
  if (typeof input.amountMinor !== 'bigint' || input.amountMinor <= 0n || input.amountMinor > PAYMENT_AMOUNT_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `amount_minor: must be from 1 to ${PAYMENT_AMOUNT_MINOR_MAX}`, { field: 'amount_minor' });
  }
  currencyOf(input.currency);
  if (!(captureMethods as readonly string[]).includes(input.captureMethod)) {
    throw invalidField('capture_method', `must be one of ${captureMethods.join(', ')}`);
  }
  const customerId = optionalId(input.customerId, 'customer_id');
  const paymentMethodId = optionalId(input.paymentMethodId, 'payment_method_id');
  const fees = validateFeeSchedule(input.fees);
  const metadata = validateMetadata(input.metadata ?? {}, PAYMENT_METADATA_KEYS_MAX);
  const status = paymentMethodId === null ? 'requires_payment_method' : 'requires_confirmation';
  const intent: PaymentIntent = Object.freeze({
    id: context.id,
    tenantId: context.tenantId,
    amountMinor: input.amountMinor,
    currency: input.currency,
    captureMethod: input.captureMethod as CaptureMethod,
    status,
    customerId,
    paymentMethodId,
    metadata,
    traceId: context.traceId ?? '',
    returnUrl: null,
    fees,
    route: [],
    psp: null,
    pspReference: null,
    nextActionUrl: null,
    attempts: [],
    amountAuthorizedMinor: 0n,
    amountCapturableMinor: 0n,
    amountCapturedMinor: 0n,
    amountRefundedMinor: 0n,
    platformFeeMinor: 0n,
    refunds: [],
    chargeback: null,
    dispute: null,
    captureReversals: 0,
    declineReason: null,
    lastErrorReason: null,
    deferredPspEvents: [],
    unknownSinceMs: null,
    lastPspEventAtMs: null,
    version: 1,
    createdAtMs: context.nowMs,
    updatedAtMs: context.nowMs,
  });
  assert(Number.isSafeInteger(context.nowMs) && context.nowMs >= 0, 'nowMs must be a non-negative safe integer');
  checkPaymentIntent(intent);
  return { intent, effects: [{
    kind: 'publish_event',
    event: { type: 'payment.created', status, amountMinor: intent.amountMinor, currency: intent.currency, captureMethod: intent.captureMethod, customerId, metadata },
  }], changed: true, error: null };
}

/**
 * Changes the caller's metadata, in any status (as Stripe's update): each key of `changes` is set
 * to its value, or removed when the value is empty; keys not named stay. The result must keep
 * the creation limits (PAYMENT_METADATA_KEYS_MAX keys, key and value lengths), else FIELD_INVALID
 * and nothing changes. The same metadata again is a no-op (`changed: false`). Publishes
 * `payment.metadata_updated` with the whole new metadata.
 */
export function updatePaymentMetadata(intent: PaymentIntent, changes: Readonly<Record<string, string>>, nowMs: number): PaymentTransition {
  const named = validateMetadata(changes, PAYMENT_METADATA_KEYS_MAX);
  if (Object.keys(named).length === 0) throw invalidField('metadata', 'at least one key to set or (with an empty value) to remove', 'FIELD_REQUIRED');
  const merged: Record<string, string> = { ...intent.metadata };
  for (const [key, value] of Object.entries(named)) {
    if (value === '') delete merged[key];
    else merged[key] = value;
  }
  const metadata = validateMetadata(merged, PAYMENT_METADATA_KEYS_MAX);
  const same = Object.keys(metadata).length === Object.keys(intent.metadata).length && Object.entries(metadata).every(([k, v]) => intent.metadata[k] === v);
  const d = new IntentDraft(intent, nowMs);
  if (same) return d.finish();
  d.update({ metadata });
  d.publish({ type: 'payment.metadata_updated', metadata });
  return d.finish();
}

/** Attaches (or replaces) the payment method: `requires_payment_method`/`requires_confirmation` -> `requires_confirmation`. */
export function attachPaymentMethod(intent: PaymentIntent, paymentMethodId: string, nowMs: number): PaymentTransition {
  requireStatus(intent, 'attach_payment_method', ['requires_payment_method', 'requires_confirmation']);
  const id = optionalId(paymentMethodId, 'payment_method_id');
  if (id === null) throw invalidField('payment_method_id', 'required', 'FIELD_REQUIRED');
  const d = new IntentDraft(intent, nowMs);
  if (id !== intent.paymentMethodId) d.update({ paymentMethodId: id });
  d.setStatus('requires_confirmation');
  return d.finish();
}

/** Input of `confirmPayment`. */
export interface ConfirmInput {
  /** The failover list from `choosePsps`; the first is tried now. Empty: `PSP_UNAVAILABLE`. */
  readonly psps: readonly PspName[];
  /** Attach this payment method first (confirming from `requires_payment_method`). */
  readonly paymentMethodId?: string | null;
  /** Where the PSP sends the customer back after a challenge (`requires_action`); null: keep the last one given. */
  readonly returnUrl?: string | null;
}

// Return URLs are checked with the other free-text fields of payments requests (ADR 0019).
export { RETURN_URL_LENGTH_MAX, validateReturnUrl } from './payment-fields.js';

/**
 * Confirms: `requires_confirmation` (or `requires_payment_method` with a payment method given) ->
 * `processing`, with an authorize attempt at `psps[0]` and its `call_psp_authorize` effect. Clears
 * the previous decline. Throws `PSP_UNAVAILABLE` when `psps` is empty (fail fast: every PSP is
 * down or none matches), `FIELD_REQUIRED` without a payment method, `LIMIT_EXCEEDED` when the
 * intent has used up its PSP attempts.
 */
export function confirmPayment(intent: PaymentIntent, input: ConfirmInput, nowMs: number): PaymentTransition {
  requireStatus(intent, 'confirm', ['requires_payment_method', 'requires_confirmation']);
  const paymentMethodId = optionalId(input.paymentMethodId, 'payment_method_id') ?? intent.paymentMethodId;
  if (paymentMethodId === null) throw invalidField('payment_method_id', 'required to confirm', 'FIELD_REQUIRED');
  const returnUrl = validateReturnUrl(input.returnUrl) ?? intent.returnUrl;
  const route = validateRoute(input.psps, intent.id);
  if (intent.attempts.length + route.length + CONFIRM_ATTEMPTS_RESERVE > ATTEMPTS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', 'this payment has used up its PSP attempts; create a new one', { paymentId: intent.id });
  }
  const d = new IntentDraft(intent, nowMs);
  d.update({ paymentMethodId, returnUrl, route, declineReason: null, lastErrorReason: null, lastPspEventAtMs: null });
  const first = route[0];
  assert(first !== undefined, 'validateRoute returns a non-empty route');
  beginAuthorize(d, first);
  return d.finish();
}

/**
 * Captures `amountMinor` (default: all that is capturable) of an authorized payment:
 * `requires_capture` -> `processing` with a capture attempt. A partial capture releases the rest
 * when it succeeds. Throws `AMOUNT_OUT_OF_RANGE` unless 0 < amount <= capturable.
 */
export function capturePayment(intent: PaymentIntent, input: { readonly amountMinor?: bigint | null }, nowMs: number): PaymentTransition {
  requireStatus(intent, 'capture', ['requires_capture']);
  const amountMinor = input.amountMinor ?? intent.amountCapturableMinor;
  if (typeof amountMinor !== 'bigint' || amountMinor <= 0n || amountMinor > intent.amountCapturableMinor) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `amount_minor: must be from 1 to ${intent.amountCapturableMinor}`, {
      field: 'amount_minor',
      paymentId: intent.id,
    });
  }
  const d = new IntentDraft(intent, nowMs);
  beginCapture(d, amountMinor);
  return d.finish();
}

/**
 * Cancels. Before any live PSP payment (`requires_payment_method`, `requires_confirmation`) it is
 * immediate. With one (`requires_action`, `requires_capture`) the PSP must void it first:
 * `processing` with a cancel attempt; `canceled` once the PSP confirms.
 */
export function cancelPayment(intent: PaymentIntent, nowMs: number): PaymentTransition {
  requireStatus(intent, 'cancel', ['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture']);
  const d = new IntentDraft(intent, nowMs);
  if (intent.status === 'requires_payment_method' || intent.status === 'requires_confirmation') {
    recordCanceled(d);
    return d.finish();
  }
  if (intent.psp === null || !d.hasRoomForAttempt()) {
    throw new TallyError('LIMIT_EXCEEDED', 'this payment has used up its PSP attempts', { paymentId: intent.id });
  }
  d.startAttempt('cancel', intent.psp, null, null);
  d.setStatus('processing');
  return d.finish();
}

/** Input of `refundPayment`. */
export interface RefundInput {
  /** Our id for the refund (`re_...`), chosen by the app; unique per tenant. */
  readonly refundId: string;
  /** Default: everything still refundable. */
  readonly amountMinor?: bigint | null;
}

/**
 * Starts a refund of a `succeeded` payment (the status stays `succeeded`): a pending refund and
 * its `call_psp_refund` effect. Several may run at once; pending ones count against the
 * refundable amount, so the total can never exceed what was captured. Throws
 * `AMOUNT_OUT_OF_RANGE` beyond the refundable amount, `ALREADY_EXISTS` for a used refund id,
 * `LIMIT_EXCEEDED` past `REFUNDS_MAX`, `INVALID_STATE_TRANSITION` after a chargeback.
 */
export function refundPayment(intent: PaymentIntent, input: RefundInput, nowMs: number): PaymentTransition {
  requireStatus(intent, 'refund', ['succeeded']);
  if (intent.chargeback !== null) {
    throw new TallyError('INVALID_STATE_TRANSITION', 'a charged-back payment cannot be refunded', {
      from: intent.status,
      command: 'refund',
      paymentId: intent.id,
    });
  }
  if (!isRefundId(input.refundId)) throw invalidField('refund_id', 're_ followed by 1..40 characters of A-Z a-z 0-9 _ -');
  if (intent.refunds.some((r) => r.id === input.refundId)) {
    throw new TallyError('ALREADY_EXISTS', `refund ${input.refundId} already exists`, { field: 'refund_id', refundId: input.refundId });
  }
  const refundableMinorNow = refundableMinor(intent);
  const amountMinor = input.amountMinor ?? refundableMinorNow;
  if (typeof amountMinor !== 'bigint' || amountMinor <= 0n || amountMinor > refundableMinorNow) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `amount_minor: must be from 1 to ${refundableMinorNow}`, {
      field: 'amount_minor',
      paymentId: intent.id,
    });
  }
  const d = new IntentDraft(intent, nowMs);
  if (intent.refunds.length >= REFUNDS_MAX || !d.hasRoomForAttempt() || intent.psp === null) {
    throw new TallyError('LIMIT_EXCEEDED', `a payment has at most ${REFUNDS_MAX} refunds`, { paymentId: intent.id });
  }
  const refund: Refund = Object.freeze({
    id: input.refundId,
    amountMinor,
    status: 'pending',
    origin: 'api',
    feeReversedMinor: 0n,
    reversals: 0,
    feeCarriedMinor: 0n,
    pspEventAtMs: null,
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
  });
  d.update({ refunds: [...intent.refunds, refund] });
  d.startAttempt('refund', intent.psp, amountMinor, refund.id);
  return d.finish();
}

function requireStatus(intent: PaymentIntent, command: string, allowed: readonly PaymentIntent['status'][]): void {
  if (!allowed.includes(intent.status)) {
    throw new TallyError('INVALID_STATE_TRANSITION', `cannot ${command} a payment in status ${intent.status}`, {
      from: intent.status,
      command,
      paymentId: intent.id,
    });
  }
}

function validateRoute(psps: readonly PspName[], paymentId: string): PspName[] {
  if (!Array.isArray(psps) || psps.length === 0) {
    throw new TallyError('PSP_UNAVAILABLE', 'no payment service provider is available for this payment', { paymentId });
  }
  if (psps.length > pspNames.length || new Set(psps).size !== psps.length || !psps.every((p) => pspNames.includes(p))) {
    throw invalidField('psps', `distinct names among ${pspNames.join(', ')}`);
  }
  return [...psps];
}

function optionalId(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !opaqueIdShape.test(value)) throw invalidField(field, '1..64 characters of A-Z a-z 0-9 _ -');
  return value;
}
