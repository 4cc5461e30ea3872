/**
 * The sandbox's Stripe API: PaymentIntents (create + confirm, capture, cancel, retrieve, search) and
 * Refunds, form-encoded in and JSON out like api.stripe.com, so the official `stripe` client works
 * against it unchanged. Objects carry the fields a PaymentIntents integration reads; errors are
 * `{ error: { type, code, decline_code, message, param, payment_intent } }` with Stripe's statuses
 * (402 card errors, 400 invalid requests and idempotency errors, 404 missing objects, 401 keys).
 */
import { type StripeBalanceTransaction, SETTLEMENT_EVENTS_MAX, stripePayoutReconciliationReport } from './settlement-report.js';
import { currencyOf } from '../../functions/src/domain/money/index.js';
import type { Clock } from '../../functions/src/ports/clock.js';
import { SandboxInputError } from './faults.js';
import { stripeSignatureHeader } from './signing.js';
import type { CardTokenVault } from './card-fields.js';
import { type ChallengeView, withQuery } from './challenge-page.js';
import { type DeclineSpec, type TestCard, authenticationFailure } from './test-cards.js';
import { type ApiRequest, type ApiResult, type WireContext, type WireProtocol, headerValue, jsonResponse, randomId, result } from './wire.js';

/** Stripe's largest amount for a charge (8 digits of minor units). */
const STRIPE_AMOUNT_MAX = 99_999_999;
const METADATA_KEYS_MAX = 50;
const SEARCH_LIMIT_MAX = 100;
// Stripe's documented special case: ISK is zero-decimal in ISO 4217 but Stripe keeps two decimals
// on the wire for backwards compatibility, so amounts must be whole krónur (multiples of 100).
const STRIPE_EXPONENT_OVERRIDES: Readonly<Record<string, number>> = { ISK: 2 };

type PiStatus = 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'requires_capture' | 'succeeded' | 'canceled';

interface StripeRefund {
  id: string;
  amount: number;
  status: 'succeeded';
  metadata: Record<string, string>;
  created: number;
}

interface StripePaymentIntent {
  id: string;
  created: number;
  amount: number;
  currency: string;
  captureMethod: 'automatic' | 'automatic_async' | 'manual';
  status: PiStatus;
  amountCapturable: number;
  amountReceived: number;
  metadata: Record<string, string>;
  paymentMethod: string | null;
  card: TestCard | null;
  returnUrl: string | null;
  lastPaymentError: Record<string, unknown> | null;
  chargeId: string | null;
  canceledAt: number | null;
  cancellationReason: string | null;
  refunds: StripeRefund[];
  disputed: boolean;
  /** The open or closed dispute, once there is one (one per charge). */
  dispute: StripeDispute | null;
}

interface StripeDispute {
  id: string;
  amount: number;
  created: number;
  status: 'needs_response' | 'won' | 'lost' | 'warning_needs_response' | 'warning_closed';
}

export interface StripeWireOptions {
  context: WireContext;
  clock: Clock;
  webhookSecret: string;
  /** When set, only this secret key is accepted; otherwise any `sk_test_...` key. */
  apiKey: string | undefined;
  paymentsMax: number;
  /** Resolves `payment_method`: the fixed test tokens and the ones the card fields minted. */
  cardTokens: CardTokenVault;
}

class StripeRequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    /** False for validation failures, which Stripe does not save under the idempotency key. */
    readonly processed: boolean,
  ) {
    super(String(body.message));
  }
}

function invalid(message: string, param: string | undefined, code?: string): StripeRequestError {
  return new StripeRequestError(400, { type: 'invalid_request_error', message, ...(param === undefined ? {} : { param }), ...(code === undefined ? {} : { code }) }, false);
}

function missing(kind: string, id: string, param: string): StripeRequestError {
  return new StripeRequestError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param }, false);
}

export function createStripeWire(options: StripeWireOptions): WireProtocol {
  const intents = new Map<string, StripePaymentIntent>();
  const settlement: StripeBalanceTransaction[] = [];
  /** A balance transaction the itemized payout reconciliation report will show (bounded as the sandbox's logs). */
  function settle(pi: StripePaymentIntent, category: StripeBalanceTransaction['category'], amount: number, sourceId: string): void {
    if (settlement.length >= SETTLEMENT_EVENTS_MAX) settlement.shift();
    settlement.push({ id: randomId('txn_'), category, amount, currency: pi.currency, sourceId, chargeId: pi.chargeId ?? '', paymentIntentId: pi.id,
      tallyPaymentId: pi.metadata.tally_payment_id ?? '', atMs: options.clock.nowMs() });
  }
  // metadata "key=value" -> intent ids, newest last: what `search` on metadata reads.
  const metadataIndex = new Map<string, string[]>();
  const { context } = options;
  const nowSec = (): number => Math.floor(options.clock.nowMs() / 1000);

  function emit(type: string, object: Record<string, unknown>, request: ApiRequest | null): void {
    const event = {
      id: randomId('evt_'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: nowSec(),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: request === null ? null : randomId('req_'), idempotency_key: request === null ? null : (headerValue(request.headers, 'idempotency-key') ?? null) },
      type,
    };
    const body = JSON.stringify(event);
    context.emit({
      psp: 'stripe',
      eventId: event.id,
      type,
      render: (nowMs) => ({ body, headers: { 'stripe-signature': stripeSignatureHeader(options.webhookSecret, body, Math.floor(nowMs / 1000)) } }),
    });
  }

  function renderIntent(pi: StripePaymentIntent): Record<string, unknown> {
    const redirectUrl = `${context.baseUrl()}/_sandbox/challenge/stripe/${pi.id}`;
    return {
      id: pi.id,
      object: 'payment_intent',
      amount: pi.amount,
      amount_capturable: pi.amountCapturable,
      amount_received: pi.amountReceived,
      canceled_at: pi.canceledAt,
      cancellation_reason: pi.cancellationReason,
      capture_method: pi.captureMethod,
      client_secret: `${pi.id}_secret_sandbox`,
      confirmation_method: 'automatic',
      created: pi.created,
      currency: pi.currency,
      last_payment_error: pi.lastPaymentError,
      latest_charge: pi.chargeId,
      livemode: false,
      metadata: pi.metadata,
      next_action: pi.status === 'requires_action'
        ? { type: 'redirect_to_url', redirect_to_url: { url: redirectUrl, return_url: pi.returnUrl } }
        : null,
      payment_method: pi.paymentMethod,
      payment_method_types: ['card'],
      status: pi.status,
    };
  }

  function renderRefund(pi: StripePaymentIntent, refund: StripeRefund): Record<string, unknown> {
    return {
      id: refund.id, object: 'refund', amount: refund.amount, charge: pi.chargeId, created: refund.created,
      currency: pi.currency, metadata: refund.metadata, payment_intent: pi.id, status: refund.status,
    };
  }

  function renderCharge(pi: StripePaymentIntent): Record<string, unknown> {
    const amountRefunded = refundedAmount(pi);
    const newestFirst = [...pi.refunds].reverse();
    return {
      id: pi.chargeId, object: 'charge', amount: pi.amount, amount_captured: pi.amountReceived, amount_refunded: amountRefunded,
      captured: pi.amountReceived > 0, created: pi.created, currency: pi.currency, disputed: pi.disputed, metadata: pi.metadata,
      paid: pi.status === 'succeeded', payment_intent: pi.id, refunded: amountRefunded === pi.amountReceived && amountRefunded > 0,
      status: pi.lastPaymentError === null ? 'succeeded' : 'failed',
      refunds: { object: 'list', data: newestFirst.map((r) => renderRefund(pi, r)), has_more: false, total_count: pi.refunds.length, url: `/v1/charges/${pi.chargeId}/refunds` },
    };
  }

  function cardError(pi: StripePaymentIntent, decline: DeclineSpec): StripeRequestError {
    return new StripeRequestError(402, {
      ...declineFields(decline),
      charge: pi.chargeId,
      payment_intent: renderIntent(pi),
      request_log_url: null,
    }, true);
  }

  function authorize(pi: StripePaymentIntent, request: ApiRequest | null): void {
    pi.chargeId ??= randomId('ch_');
    pi.lastPaymentError = null;
    if (pi.captureMethod === 'manual') {
      pi.status = 'requires_capture';
      pi.amountCapturable = pi.amount;
      emit('payment_intent.amount_capturable_updated', renderIntent(pi), request);
      return;
    }
    pi.status = 'succeeded';
    pi.amountReceived = pi.amount;
    emit('payment_intent.succeeded', renderIntent(pi), request);
    settle(pi, 'charge', pi.amountReceived, pi.chargeId ?? '');
    disputeIfCardSaysSo(pi);
  }

  function decline(pi: StripePaymentIntent, spec: DeclineSpec, request: ApiRequest | null): void {
    pi.chargeId ??= randomId('ch_');
    pi.status = 'requires_payment_method';
    pi.lastPaymentError = { ...declineFields(spec), charge: pi.chargeId, payment_method: { id: pi.paymentMethod, object: 'payment_method', type: 'card' } };
    emit('payment_intent.payment_failed', renderIntent(pi), request);
  }

  function disputeIfCardSaysSo(pi: StripePaymentIntent): void {
    if (pi.card?.behaviour.kind === 'dispute') openDispute(pi);
  }

  function openDispute(pi: StripePaymentIntent, inquiry = false): void {
    pi.disputed = true;
    pi.dispute = { id: randomId('dp_'), amount: pi.amountReceived - refundedAmount(pi), created: nowSec(), status: inquiry ? 'warning_needs_response' : 'needs_response' };
    emit('charge.dispute.created', renderDispute(pi, pi.dispute), null);
    // As at Stripe, a chargeback takes the funds (with their own event); an inquiry takes none.
    if (!inquiry) {
      emit('charge.dispute.funds_withdrawn', renderDispute(pi, pi.dispute), null);
      settle(pi, 'dispute', -pi.dispute.amount, pi.dispute.id);
    }
  }

  /** A Dispute as Stripe sends it: it names the charge and PaymentIntent; its metadata is its own (empty). */
  function renderDispute(pi: StripePaymentIntent, dispute: StripeDispute): Record<string, unknown> {
    return {
      id: dispute.id, object: 'dispute', amount: dispute.amount, balance_transactions: [], charge: pi.chargeId, created: dispute.created,
      currency: pi.currency, evidence_details: { due_by: dispute.created + 7 * 86_400, has_evidence: false, past_due: false, submission_count: 0 },
      is_charge_refundable: false, livemode: false, metadata: {}, payment_intent: pi.id, reason: 'fraudulent', status: dispute.status,
    };
  }

  function createIntent(request: ApiRequest): ApiResult {
    const params = parseForm(request.body);
    const amount = parseAmount(params.amount, 'amount');
    const currency = parseCurrency(params.currency, amount);
    const captureMethod = parseEnum(params.capture_method ?? 'automatic', ['automatic', 'automatic_async', 'manual'] as const, 'capture_method');
    const metadata = parseMetadata(params.metadata);
    const paymentMethod = params.payment_method === undefined ? null : parseString(params.payment_method, 'payment_method');
    const confirm = parseBoolean(params.confirm ?? 'false', 'confirm');
    const returnUrl = params.return_url === undefined ? null : parseString(params.return_url, 'return_url');
    const card = paymentMethod === null ? null : (options.cardTokens.stripeCard(paymentMethod) ?? null);
    if (paymentMethod !== null && card === null) throw missing('PaymentMethod', paymentMethod, 'payment_method');
    if (confirm && card === null) throw invalid('You must provide a payment_method to confirm this PaymentIntent.', 'payment_method', 'payment_intent_unexpected_state');
    if (confirm && card?.behaviour.kind === 'challenge' && returnUrl === null) throw invalid('A return_url is required to confirm with a redirect-based authentication.', 'return_url');
    if (confirm && card?.behaviour.kind === 'error_before') return result(jsonResponse(500, {}), false, 'error_before');
    if (intents.size >= options.paymentsMax) throw new StripeRequestError(400, { type: 'invalid_request_error', message: 'Sandbox limit reached: too many PaymentIntents (reset the sandbox)' }, false);

    const pi: StripePaymentIntent = {
      id: randomId('pi_'), created: nowSec(), amount, currency, captureMethod, status: paymentMethod === null ? 'requires_payment_method' : 'requires_confirmation',
      amountCapturable: 0, amountReceived: 0, metadata, paymentMethod, card, returnUrl, lastPaymentError: null, chargeId: null,
      canceledAt: null, cancellationReason: null, refunds: [], disputed: false, dispute: null,
    };
    intents.set(pi.id, pi);
    for (const [key, value] of Object.entries(metadata)) indexMetadata(key, value, pi.id);
    if (!confirm || card === null) return result(jsonResponse(200, renderIntent(pi)), true);

    const behaviour = card.behaviour;
    switch (behaviour.kind) {
      case 'decline':
        decline(pi, behaviour.decline, request);
        throw cardError(pi, behaviour.decline);
      case 'challenge':
        pi.status = 'requires_action';
        emit('payment_intent.requires_action', renderIntent(pi), request);
        return result(jsonResponse(200, renderIntent(pi)), true);
      case 'timeout':
      case 'error_after':
        authorize(pi, request);
        return result(jsonResponse(200, renderIntent(pi)), true, behaviour.kind);
      case 'approve':
      case 'dispute':
      case 'cancel_refused': // Stripe answers cancels synchronously: the card refuses only Adyen's asynchronous ones
      case 'capture_fails': // likewise Stripe's captures: only Adyen's asynchronous capture fails
      case 'scheme_rejection': // Adyen's scheme rejections (CAPTURE_FAILED / REFUND_FAILED) have no Stripe counterpart here
        authorize(pi, request);
        return result(jsonResponse(200, renderIntent(pi)), true);
      case 'error_before':
        throw new Error('unreachable: handled before the intent exists');
    }
  }

  function findIntent(id: string): StripePaymentIntent {
    const pi = intents.get(id);
    if (pi === undefined) throw missing('payment_intent', id, 'intent');
    return pi;
  }

  function unexpectedState(pi: StripePaymentIntent, action: string): StripeRequestError {
    return new StripeRequestError(400, {
      type: 'invalid_request_error', code: 'payment_intent_unexpected_state',
      message: `This PaymentIntent could not be ${action} because it has a status of ${pi.status}.`, payment_intent: renderIntent(pi),
    }, true);
  }

  function capture(request: ApiRequest, id: string): ApiResult {
    const pi = findIntent(id);
    const params = parseForm(request.body);
    const amount = params.amount_to_capture === undefined ? pi.amountCapturable : parseAmount(params.amount_to_capture, 'amount_to_capture');
    if (pi.status !== 'requires_capture') throw unexpectedState(pi, 'captured');
    if (amount > pi.amountCapturable) throw invalid(`amount_to_capture (${amount}) must be less than or equal to amount_capturable (${pi.amountCapturable}).`, 'amount_to_capture', 'amount_too_large');
    // As at Stripe without multicapture: one capture, the uncaptured remainder is released.
    pi.status = 'succeeded';
    pi.amountReceived = amount;
    pi.amountCapturable = 0;
    emit('payment_intent.succeeded', renderIntent(pi), request);
    settle(pi, 'charge', pi.amountReceived, pi.chargeId ?? '');
    disputeIfCardSaysSo(pi);
    return result(jsonResponse(200, renderIntent(pi)), true);
  }

  function cancel(request: ApiRequest, id: string): ApiResult {
    const pi = findIntent(id);
    const params = parseForm(request.body);
    if (pi.status === 'succeeded' || pi.status === 'canceled') throw unexpectedState(pi, 'canceled');
    pi.status = 'canceled';
    pi.amountCapturable = 0;
    pi.canceledAt = nowSec();
    pi.cancellationReason = params.cancellation_reason === undefined ? null : parseString(params.cancellation_reason, 'cancellation_reason');
    emit('payment_intent.canceled', renderIntent(pi), request);
    return result(jsonResponse(200, renderIntent(pi)), true);
  }

  function refund(request: ApiRequest): ApiResult {
    const params = parseForm(request.body);
    const id = parseString(params.payment_intent, 'payment_intent');
    const pi = intents.get(id);
    if (pi === undefined) throw missing('payment_intent', id, 'payment_intent');
    const remaining = pi.amountReceived - refundedAmount(pi);
    const amount = params.amount === undefined ? remaining : parseAmount(params.amount, 'amount');
    const metadata = parseMetadata(params.metadata);
    if (pi.status !== 'succeeded') throw new StripeRequestError(400, { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: `This PaymentIntent has no successful charge to refund (status ${pi.status}).`, param: 'payment_intent' }, true);
    if (remaining === 0) throw new StripeRequestError(400, { type: 'invalid_request_error', code: 'charge_already_refunded', message: `Charge ${pi.chargeId} has already been refunded.` }, true);
    if (amount > remaining) throw new StripeRequestError(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount', message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})` }, true);
    const created: StripeRefund = { id: randomId('re_'), amount, status: 'succeeded', metadata, created: nowSec() };
    pi.refunds.push(created);
    emit('charge.refunded', renderCharge(pi), request);
    settle(pi, 'refund', -amount, created.id);
    return result(jsonResponse(200, renderRefund(pi, created)), true);
  }

  function search(request: ApiRequest): ApiResult {
    const query = request.query.get('query') ?? '';
    const match = /^metadata\[(['"])([^'"]+)\1\]:(['"])((?:[^'"\\]|\\.)*)\3$/.exec(query.trim());
    if (match === null) throw invalid(`Unsupported search query (the sandbox supports metadata['key']:'value'): ${query}`, 'query');
    const limitText = request.query.get('limit');
    const limit = limitText === null ? 10 : Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) throw invalid(`limit must be between 1 and ${SEARCH_LIMIT_MAX}`, 'limit');
    const value = (match[4] ?? '').replace(/\\(.)/g, '$1');
    const ids = metadataIndex.get(`${match[2]}=${value}`) ?? [];
    const data = ids.slice(-limit).reverse().map((piId) => renderIntent(intents.get(piId) as StripePaymentIntent));
    return result(jsonResponse(200, { object: 'search_result', data, has_more: ids.length > limit, next_page: null, url: '/v1/payment_intents/search' }), true);
  }

  function indexMetadata(key: string, value: string, id: string): void {
    const indexKey = `${key}=${value}`;
    const ids = metadataIndex.get(indexKey) ?? [];
    ids.push(id);
    metadataIndex.set(indexKey, ids);
  }

  function route(request: ApiRequest): ApiResult {
    const { method, path } = request;
    if (method === 'POST' && path === '/v1/payment_intents') return createIntent(request);
    if (method === 'GET' && path === '/v1/payment_intents/search') return search(request);
    if (method === 'POST' && path === '/v1/refunds') return refund(request);
    const action = /^\/v1\/payment_intents\/([^/]+)(?:\/(capture|cancel))?$/.exec(path);
    if (action !== null) {
      const id = decodeURIComponent(action[1] ?? '');
      if (method === 'GET' && action[2] === undefined) return result(jsonResponse(200, renderIntent(findIntent(id))), true);
      if (method === 'POST' && action[2] === 'capture') return capture(request, id);
      if (method === 'POST' && action[2] === 'cancel') return cancel(request, id);
    }
    throw new StripeRequestError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` }, false);
  }

  return {
    psp: 'stripe',
    authenticate(request) {
      const authorization = headerValue(request.headers, 'authorization') ?? '';
      const key = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
      const accepted = options.apiKey === undefined ? /^sk_test_\w+$/.test(key) : key === options.apiKey;
      if (accepted) return { scope: key };
      return { response: jsonResponse(401, { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${key.slice(0, 8)}***` } }) };
    },
    handle(request) {
      try {
        return route(request);
      } catch (error) {
        if (error instanceof StripeRequestError) return result(jsonResponse(error.status, { error: error.body }), error.processed);
        if (error instanceof SandboxInputError) return result(jsonResponse(400, { error: { type: 'invalid_request_error', message: error.message } }), false);
        throw error;
      }
    },
    serverError(phase) {
      // `Stripe-Should-Retry: true` is how Stripe tells a client a retry is safe; the sandbox sends it
      // only when nothing was done, so the connector may treat the failure as "not processed".
      const shouldRetry = phase === 'before' ? 'true' : 'false';
      const message = phase === 'before'
        ? 'Sandbox: the request failed before processing; nothing was done.'
        : 'An unknown error occurred';
      return jsonResponse(phase === 'before' ? 503 : 500, { error: { type: 'api_error', message } }, { 'stripe-should-retry': shouldRetry });
    },
    idempotencyRefusal(kind) {
      if (kind === 'in_progress') {
        return jsonResponse(409, { error: { type: 'idempotency_error', code: 'idempotency_key_in_use', message: 'There is currently another in-progress request using this Idempotent Key.' } }, { 'stripe-should-retry': 'true' });
      }
      return jsonResponse(400, { error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' } });
    },
    challenge(id): ChallengeView | null {
      const pi = intents.get(id);
      if (pi === undefined) return null;
      const currency = pi.currency.toUpperCase();
      const override = STRIPE_EXPONENT_OVERRIDES[currency];
      const exponent = currencyOf(currency).exponent;
      // Stripe's wire amount to ISO minor units (ISK travels with two decimals it does not have).
      const amountMinor = override !== undefined && override > exponent ? pi.amount / 10 ** (override - exponent) : pi.amount;
      const authenticated = pi.status === 'requires_capture' || pi.status === 'succeeded';
      return {
        waiting: pi.status === 'requires_action',
        amountMinor,
        currency,
        // As Stripe's redirect: the PaymentIntent and how the authentication ended.
        returnUrl: pi.returnUrl === null ? null : withQuery(pi.returnUrl, { payment_intent: pi.id, redirect_status: authenticated ? 'succeeded' : 'failed' }),
      };
    },
    completeChallenge(id, outcome) {
      const pi = intents.get(id);
      if (pi === undefined || pi.status !== 'requires_action') return false;
      if (outcome === 'success') authorize(pi, null);
      else decline(pi, authenticationFailure, null);
      return true;
    },
    createDispute(id, options) {
      const pi = intents.get(id);
      if (pi === undefined || pi.status !== 'succeeded' || pi.disputed) return false;
      openDispute(pi, options?.inquiry === true);
      return true;
    },
    escalateDispute(id) {
      const pi = intents.get(id);
      if (pi?.dispute?.status !== 'warning_needs_response') return false;
      pi.dispute.status = 'needs_response';
      emit('charge.dispute.updated', renderDispute(pi, pi.dispute), null);
      emit('charge.dispute.funds_withdrawn', renderDispute(pi, pi.dispute), null);
      settle(pi, 'dispute', -pi.dispute.amount, pi.dispute.id);
      return true;
    },
    closeDispute(id, outcome) {
      const dispute = intents.get(id)?.dispute;
      if (dispute?.status === 'warning_needs_response') {
        // An inquiry ends without funds moving; only "won" (closed in the merchant's favour) applies.
        if (outcome !== 'won') return false;
        dispute.status = 'warning_closed';
        emit('charge.dispute.closed', renderDispute(intents.get(id) as StripePaymentIntent, dispute), null);
        return true;
      }
      if (dispute === undefined || dispute === null || dispute.status !== 'needs_response') return false;
      dispute.status = outcome;
      const pi = intents.get(id) as StripePaymentIntent;
      emit('charge.dispute.closed', renderDispute(pi, dispute), null);
      // As at Stripe, a won dispute's funds come back with their own event (Tally acts on `closed`).
      if (outcome === 'won') {
        emit('charge.dispute.funds_reinstated', renderDispute(pi, dispute), null);
        settle(pi, 'dispute_reversal', dispute.amount, dispute.id);
      }
      return true;
    },
    refundedMinor: (id) => {
      const pi = intents.get(id);
      return pi === undefined ? null : refundedAmount(pi);
    },
    paymentCount: () => intents.size,
    reset() {
      intents.clear();
      metadataIndex.clear();
      settlement.length = 0;
    },
    settlementReport({ batchNumber, sinceMs }) {
      return stripePayoutReconciliationReport(settlement.filter((e) => e.atMs >= sinceMs), { payoutId: `po_sandbox${batchNumber}` });
    },
  };
}

/** The sandbox's Stripe idempotency fingerprint: endpoint plus the parameters, order-insensitive. */
export function stripeFingerprint(request: ApiRequest): string {
  const pairs = [...new URLSearchParams(request.body)].map(([k, v]) => `${k}=${v}`).sort();
  return `${request.method} ${request.path}?${pairs.join('&')}`;
}

function declineFields(decline: DeclineSpec): Record<string, unknown> {
  return {
    type: 'card_error',
    code: decline.stripeCode,
    ...(decline.stripeDeclineCode === null ? {} : { decline_code: decline.stripeDeclineCode }),
    message: decline.stripeMessage,
  };
}

function refundedAmount(pi: StripePaymentIntent): number {
  return pi.refunds.reduce((total, r) => total + r.amount, 0);
}

/** Form bodies in Stripe's bracket notation (`metadata[key]=value`) as nested objects of strings. */
export function parseForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = rawKey.split('[').map((part, i) => (i === 0 ? part : part.replace(/\]$/, '')));
    if (parts.some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype')) {
      throw new SandboxInputError(`Invalid parameter name: ${rawKey}`);
    }
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (typeof next !== 'object' || next === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return root;
}

function parseString(value: unknown, param: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`Missing required param: ${param}.`, param, 'parameter_missing');
  return value;
}

function parseAmount(value: unknown, param: string): number {
  const text = parseString(value, param);
  if (!/^\d{1,15}$/.test(text)) throw invalid(`Invalid integer: ${text}`, param, 'parameter_invalid_integer');
  const amount = Number(text);
  if (amount < 1) throw invalid('Amount must be at least 1.', param, 'amount_too_small');
  if (amount > STRIPE_AMOUNT_MAX) throw invalid(`Amount must be no more than ${STRIPE_AMOUNT_MAX}.`, param, 'amount_too_large');
  return amount;
}

function parseCurrency(value: unknown, amount: number): string {
  const text = parseString(value, 'currency');
  // Stripe wants lowercase ISO 4217 codes on the wire; the exponent decides what "minor unit" means.
  if (!/^[a-z]{3}$/.test(text)) throw invalid(`Invalid currency: ${text}. Stripe currencies are lowercase ISO 4217 codes.`, 'currency');
  let exponent: number;
  try {
    exponent = currencyOf(text.toUpperCase()).exponent;
  } catch {
    throw invalid(`Invalid currency: ${text}.`, 'currency');
  }
  const override = STRIPE_EXPONENT_OVERRIDES[text.toUpperCase()];
  // Stripe's rules for the odd cases: three-decimal currencies must end in 0, and ISK must be whole.
  if (exponent === 3 && amount % 10 !== 0) throw invalid(`Amounts in ${text} must be divisible by 10.`, 'amount');
  if (override !== undefined && override > exponent && amount % 10 ** (override - exponent) !== 0) {
    throw invalid(`Amounts in ${text} must be divisible by ${10 ** (override - exponent)}.`, 'amount');
  }
  return text;
}

function parseEnum<T extends string>(value: unknown, allowed: readonly T[], param: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(`Invalid ${param}: must be one of ${allowed.join(', ')}`, param);
}

function parseBoolean(value: unknown, param: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalid(`Invalid boolean: ${String(value)}`, param);
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || value === null) throw invalid('Invalid metadata: must be a hash', 'metadata');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > METADATA_KEYS_MAX) throw invalid(`Metadata can have at most ${METADATA_KEYS_MAX} keys.`, 'metadata');
  const metadata: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (typeof v !== 'string') throw invalid(`Invalid metadata[${key}]: must be a string`, 'metadata');
    metadata[key] = v;
  }
  return metadata;
}
