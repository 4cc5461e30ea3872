/**
 * The Stripe connector: `PspGateway` on the official `stripe` package. The SDK's own retries are
 * off (`maxNetworkRetries: 0`): retrying, re-routing and resolving ambiguity are the core's job,
 * and it can only do that if every failure comes back classified. Every POST carries the caller's
 * idempotency key, so a retry of ours (or the SDK's one automatic retry of a reset connection)
 * never charges twice.
 */
import Stripe from 'stripe';
import type {
  AuthorizeRequest, CancelRequest, CaptureRequest, LookupRequest, PspGateway, PspOutcome, PspWebhookEvent, RefundRequest,
} from '../../../ports/psp-gateway.js';
import { TallyError } from '../../../domain/errors.js';
import { WebhookSignatureError } from '../../../ports/psp-gateway.js';
import {
  intentRank, intentToOutcome, normalizeStripeEvent, refundToOutcome, stripeErrorToOutcome, stripeLimits, stripeMetadataKeys, toStripeAmount,
} from './transformers.js';
import { STRIPE_SIGNATURE_TOLERANCE_SEC, assertStripeWebhookSecrets, verifyStripeSignature } from './webhook-signature.js';

export interface StripeGatewayOptions {
  /** Secret API key (`sk_...`). */
  apiKey: string;
  /** Webhook signing secret(s) (`whsec_...`); several while a secret is being rolled. */
  webhookSecret: string | readonly string[];
  /** Per-request timeout; after it the outcome is `unknown` (the request may have been processed). */
  timeoutMs: number;
  /** API host; default api.stripe.com. The sandbox: `127.0.0.1`. */
  host?: string;
  port?: number;
  protocol?: 'http' | 'https';
  /** Webhook timestamp tolerance; default Stripe's 300 s. */
  webhookToleranceSec?: number;
}

/** Most PaymentIntents one lookup reads when our payment id matches several (one per attempt). */
const LOOKUP_SEARCH_LIMIT = 20;

type LookupOutcome = PspOutcome | { kind: 'not_found' };

const abortedAfterSending = Symbol('aborted');

/** Resolves like `work`, or rejects with `abortedAfterSending` as soon as `signal` aborts. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedAfterSending);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createStripeGateway(options: StripeGatewayOptions): PspGateway {
  const stripe = new Stripe(options.apiKey, {
    host: options.host,
    port: options.port,
    protocol: options.protocol,
    maxNetworkRetries: 0,
    timeout: options.timeoutMs,
    telemetry: false,
  });
  const secrets = typeof options.webhookSecret === 'string' ? [options.webhookSecret] : [...options.webhookSecret];
  assertStripeWebhookSecrets(secrets); // fail at start-up, not at the first webhook (ADR 0019)
  const toleranceSec = options.webhookToleranceSec ?? STRIPE_SIGNATURE_TOLERANCE_SEC;
  const requestOptions = (idempotencyKey?: string): Stripe.RequestOptions => ({
    timeout: options.timeoutMs,
    maxNetworkRetries: 0,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });

  /**
   * Runs one SDK call and classifies whatever happens. Once a request is sent, the SDK reports
   * every failure as a `StripeError` (an API answer, or `StripeConnectionError` for the transport);
   * anything else it (or `prepare`, our own conversion) throws was raised before sending: argument
   * or path validation, serialization, an amount outside `stripeLimits`. That is certainly not
   * processed, and says nothing about Stripe's health: `retryable` / `request_invalid`, never `unknown`.
   * A throw from `toOutcome` reads an answer Stripe gave, so it is a bug and is thrown.
   */
  async function call<T>(signal: AbortSignal, work: () => Promise<T>, toOutcome: (value: T) => LookupOutcome): Promise<LookupOutcome> {
    if (signal.aborted) return { kind: 'retryable', reason: 'unavailable', detail: 'aborted before the request was sent' };
    let value: T;
    try {
      value = await raceAbort(work(), signal);
    } catch (error) {
      if (error === abortedAfterSending) return { kind: 'unknown', reason: 'timeout', detail: 'aborted by the caller after the request was sent' };
      if (error instanceof Stripe.errors.StripeError) return stripeErrorToOutcome(error);
      return notSent(error);
    }
    return toOutcome(value);
  }

  /** Mutations never answer `not_found` to the core: a missing object is a decline of the request. */
  async function mutate<T>(signal: AbortSignal, work: () => Promise<T>, toOutcome: (value: T) => PspOutcome): Promise<PspOutcome> {
    const outcome = await call(signal, work, toOutcome);
    if (outcome.kind === 'not_found') return { kind: 'declined', pspReference: null, reason: 'other', pspCode: 'resource_missing' };
    return outcome;
  }

  return {
    name: 'stripe',
    limits: stripeLimits,

    async authorize(request: AuthorizeRequest) {
      return mutate(request.signal, () => stripe.paymentIntents.create({
        ...toStripeAmount(request.amountMinor, request.currency),
        payment_method: request.paymentMethodToken,
        confirm: true,
        capture_method: request.captureMethod,
        return_url: request.returnUrl,
        metadata: { [stripeMetadataKeys.paymentId]: request.paymentId, [stripeMetadataKeys.tenantId]: request.tenantId },
      }, requestOptions(request.idempotencyKey)), intentToOutcome);
    },

    async capture(request: CaptureRequest) {
      return mutate(request.signal, () => stripe.paymentIntents.capture(request.pspReference, {
        amount_to_capture: toStripeAmount(request.amountMinor, request.currency).amount,
      }, requestOptions(request.idempotencyKey)), intentToOutcome);
    },

    async cancel(request: CancelRequest) {
      return mutate(request.signal, () => stripe.paymentIntents.cancel(request.pspReference, {}, requestOptions(request.idempotencyKey)), intentToOutcome);
    },

    async refund(request: RefundRequest) {
      return mutate(request.signal, () => stripe.refunds.create({
        payment_intent: request.pspReference,
        amount: toStripeAmount(request.amountMinor, request.currency).amount,
        metadata: { [stripeMetadataKeys.paymentId]: request.paymentId, [stripeMetadataKeys.refundId]: request.refundId },
      }, requestOptions(request.idempotencyKey)), (refund) => refundToOutcome(refund, request.pspReference));
    },

    async lookup(request: LookupRequest) {
      if (request.pspReference !== null) {
        const id = request.pspReference;
        return call(request.signal, () => stripe.paymentIntents.retrieve(id, {}, requestOptions()), intentToOutcome);
      }
      // Without a PaymentIntent id (the create timed out), search our metadata. Stripe's search is
      // eventually consistent (new objects can take up to a minute to appear), so a `not_found` from
      // it is only trustworthy for payments older than that: the janitor waits before asking.
      const query = `metadata['${stripeMetadataKeys.paymentId}']:'${request.paymentId.replace(/['\\]/g, (c) => `\\${c}`)}'`;
      return call(request.signal, () => stripe.paymentIntents.search({ query, limit: LOOKUP_SEARCH_LIMIT }, requestOptions()), (found) => {
        const best = [...found.data].sort((a, b) => intentRank(b) - intentRank(a) || b.created - a.created)[0];
        return best === undefined ? { kind: 'not_found' } : intentToOutcome(best);
      });
    },

    verifyWebhook(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>, nowMs: number): PspWebhookEvent[] {
      verifyStripeSignature(rawBody, headerValue(headers, 'stripe-signature'), secrets, toleranceSec, nowMs);
      let json: unknown;
      try {
        json = JSON.parse(rawBody.toString('utf8'));
      } catch {
        // Correctly signed but not JSON: not something Stripe sends. Refused like a bad signature
        // (4xx), since retrying the same bytes can never succeed.
        throw new WebhookSignatureError('signed Stripe payload is not JSON');
      }
      return normalizeStripeEvent(json);
    },
  };
}

/** A request refused before it was sent (see `call`). */
function notSent(error: unknown): PspOutcome {
  const what = error instanceof TallyError ? `${error.reason}: ${error.message}` : error instanceof Error ? error.message : String(error);
  return { kind: 'retryable', reason: 'request_invalid', detail: `refused before sending: ${what}` };
}

/** Header lookup that does not depend on the caller having lowercased the names. */
function headerValue(headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const exact = headers[name];
  if (exact !== undefined) return exact;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}
