/**
 * The Adyen connector: `PspGateway` speaking Checkout API v71 JSON over `fetch` (`X-API-Key`,
 * `Idempotency-Key` on every POST, amounts in ISO minor units, `reference` = our payment id).
 *
 * Adyen modifications (capture, cancel, refund) are asynchronous: the API answers
 * `status: received` and the outcome arrives as a CAPTURE / CANCELLATION / REFUND webhook. A cancel
 * answers `pending`: it stays in flight until CANCELLATION says canceled or `cancel_failed`.
 * Captures and refunds still map `received` to the outcome the request asks for, and a failure
 * arrives later as `capture_failed` / `refund_failed` (CAPTURE or REFUND success=false, or a card
 * scheme's rejection days later: CAPTURE_FAILED / REFUND_FAILED). The core reverses the refund,
 * and unwinds the capture unless it was refunded or disputed since (then an anomaly is reported).
 * A capture is answered `provisional`: its CAPTURE webhook confirms it.
 */
import { createHash } from 'node:crypto';
import { TallyError, assert } from '../../../domain/errors.js';
import type {
  AuthorizeRequest, CancelRequest, CaptureRequest, LookupRequest, PspGateway, PspOutcome, PspWebhookEvent, RefundRequest,
} from '../../../ports/psp-gateway.js';
import { WebhookSignatureError } from '../../../ports/psp-gateway.js';
import {
  type AdyenAmount, type AdyenLookupRecord, type AdyenNotificationItem, type AdyenPaymentResponse, adyenLimits, adyenReferenceShape, lookupRank,
  lookupRecordToOutcome, normalizeAdyenItem, paymentResponseToOutcome, refundReference, toAdyenAmount,
} from './transformers.js';
import { assertAdyenHmacKeys, verifyAdyenItem } from './webhook-signature.js';

export interface AdyenGatewayOptions {
  /** The web service user's API key (`X-API-Key`). */
  apiKey: string;
  merchantAccount: string;
  /** HMAC key(s) of the webhook endpoint, hex; several while a key is being rotated. */
  hmacKeyHex: string | readonly string[];
  /** Checkout API base including the version, e.g. `https://checkout-test.adyen.com/v71` or `<sandbox>/v71`. */
  baseUrl: string;
  /** Per-request timeout; after it the outcome is `unknown` (the request may have been processed). */
  timeoutMs: number;
  /**
   * Adyen Checkout has no "get payment" endpoint. The sandbox PSP offers a sandbox-only one
   * (`<sandbox>/_sandbox/adyen`); without it `lookup` answers `unknown` and the payment is resolved
   * by its AUTHORISATION webhook (or by retrying the original request with the same idempotency key).
   */
  sandboxLookupUrl?: string;
  /** Accept notifications whose `live` flag says this; default false (test). */
  live?: boolean;
}

/** Adyen keeps idempotency keys of at most 64 characters. */
const IDEMPOTENCY_KEY_LENGTH_MAX = 64;
/** Adyen batches notifications; we refuse absurd batches rather than loop over them. */
const NOTIFICATION_ITEMS_MAX = 100;
/** Responses larger than this are not Adyen's (and are not buffered further). */
const RESPONSE_BYTES_MAX = 1024 * 1024;

type LookupOutcome = PspOutcome | { kind: 'not_found' };

interface HttpAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

// Failures to connect at all: the request never left, so Adyen cannot have acted on it.
const notSentCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** A deterministic key within Adyen's limit: the caller's key, or its SHA-256 when too long. */
export function adyenIdempotencyKey(key: string): string {
  return key.length <= IDEMPOTENCY_KEY_LENGTH_MAX ? key : createHash('sha256').update(key).digest('hex');
}

export function createAdyenGateway(options: AdyenGatewayOptions): PspGateway {
  const hmacKeys = typeof options.hmacKeyHex === 'string' ? [options.hmacKeyHex] : [...options.hmacKeyHex];
  assertAdyenHmacKeys(hmacKeys); // fail at start-up, not at the first webhook (ADR 0019)
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const liveFlag = options.live === true ? 'true' : 'false';

  /**
   * One HTTP exchange; a transport failure comes back as the outcome it implies. The request is
   * built (URL parsed, headers validated, body serialized) before anything is sent, so a failure
   * there is certainly not processed: `retryable` / `request_invalid`, never `unknown`.
   */
  async function exchange(method: 'GET' | 'POST', url: string, body: () => unknown, idempotencyKey: string | null, callerSignal: AbortSignal): Promise<HttpAnswer | PspOutcome> {
    if (callerSignal.aborted) return { kind: 'retryable', reason: 'unavailable', detail: 'aborted before the request was sent' };
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let request: Request;
    try {
      const payload = body();
      const headers: Record<string, string> = { 'x-api-key': options.apiKey, accept: 'application/json' };
      if (payload !== undefined) headers['content-type'] = 'application/json';
      if (idempotencyKey !== null) headers['idempotency-key'] = adyenIdempotencyKey(idempotencyKey);
      request = new Request(url, {
        method, headers, body: payload === undefined ? undefined : JSON.stringify(payload), signal: AbortSignal.any([callerSignal, timeout]),
      });
    } catch (error) {
      return notSent(error);
    }
    try {
      const response = await fetch(request);
      const textBody = await readText(response);
      let json: Record<string, unknown> = {};
      try {
        const parsed: unknown = textBody === '' ? {} : JSON.parse(textBody);
        if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
      } catch {
        // A non-JSON body (an HTML error page from a proxy): the status decides.
      }
      return { status: response.status, headers: response.headers, json };
    } catch (error) {
      return transportFailure(error, timeout.aborted, callerSignal.aborted);
    }
  }

  async function post(path: string, body: () => unknown, idempotencyKey: string, signal: AbortSignal, onSuccess: (json: Record<string, unknown>) => PspOutcome): Promise<PspOutcome> {
    const answer = await exchange('POST', `${baseUrl}${path}`, body, idempotencyKey, signal);
    if (!('status' in answer)) return answer;
    if (answer.status === 200 || answer.status === 201) return onSuccess(answer.json);
    const outcome = httpErrorOutcome(answer);
    return outcome.kind === 'not_found' ? { kind: 'declined', pspReference: null, reason: 'other', pspCode: 'not_found' } : outcome;
  }

  function checkReference(paymentId: string): void {
    assert(adyenReferenceShape.test(paymentId), `Adyen references are Tally ids (got ${JSON.stringify(paymentId)})`);
  }

  return {
    name: 'adyen',
    limits: adyenLimits,
    // Adyen answers an auto-captured payment with "Authorised" (its AUTHORISATION webhook may even
    // arrive before the API answer): the core authorizes with manual capture and captures itself.
    capturesExplicitly: true,

    async authorize(request: AuthorizeRequest) {
      // Built inside the exchange: a refusal of ours (reference shape, amount) is `request_invalid`.
      let amount: AdyenAmount | null = null;
      const body = () => {
        checkReference(request.paymentId);
        amount = toAdyenAmount(request.amountMinor, request.currency);
        return {
          merchantAccount: options.merchantAccount,
          amount,
          reference: request.paymentId,
          paymentMethod: { type: 'scheme', storedPaymentMethodId: request.paymentMethodToken },
          returnUrl: request.returnUrl,
          // Redirect-based 3DS, so `requires_action` always comes with a URL for the shopper.
          authenticationData: { threeDSRequestData: { nativeThreeDS: 'disabled' } },
          metadata: { tenantId: request.tenantId },
          ...(request.captureMethod === 'manual' ? { additionalData: { manualCapture: 'true' } } : { captureDelayHours: 0 }),
        };
      };
      return post('/payments', body, request.idempotencyKey, request.signal, (json) => {
        assert(amount !== null, 'an answered request had its body built');
        return paymentResponseToOutcome(json as AdyenPaymentResponse, request.captureMethod, amount);
      });
    },

    async capture(request: CaptureRequest) {
      const body = () => {
        checkReference(request.paymentId);
        return { merchantAccount: options.merchantAccount, amount: toAdyenAmount(request.amountMinor, request.currency), reference: request.paymentId };
      };
      return post(`/payments/${encodeURIComponent(request.pspReference)}/captures`, body, request.idempotencyKey, request.signal, () => ({
        kind: 'captured', pspReference: request.pspReference, amountMinor: request.amountMinor, currency: request.currency, provisional: true,
      }));
    },

    async cancel(request: CancelRequest) {
      const body = () => {
        checkReference(request.paymentId);
        return { merchantAccount: options.merchantAccount, reference: request.paymentId };
      };
      return post(`/payments/${encodeURIComponent(request.pspReference)}/cancels`, body, request.idempotencyKey, request.signal, (json) => ({
        kind: 'pending', pspReference: request.pspReference, detail: 'Adyen cancellation received: the CANCELLATION webhook decides',
        // Its CANCELLATION webhook carries it: a late one for an earlier cancel is told apart.
        ...(typeof json.pspReference === 'string' && json.pspReference !== '' ? { modificationReference: json.pspReference } : {}),
      }));
    },

    async refund(request: RefundRequest) {
      const body = () => ({
        merchantAccount: options.merchantAccount, amount: toAdyenAmount(request.amountMinor, request.currency), reference: refundReference(request.paymentId, request.refundId),
      });
      return post(`/payments/${encodeURIComponent(request.pspReference)}/refunds`, body, request.idempotencyKey, request.signal, (json) => {
        const refundPspReference = typeof json.pspReference === 'string' ? json.pspReference : null;
        if (refundPspReference === null) return { kind: 'unknown', reason: 'ambiguous_server_error', detail: 'Adyen refund answer without pspReference' };
        return { kind: 'refunded', pspReference: request.pspReference, refundReference: refundPspReference, amountMinor: request.amountMinor, currency: request.currency };
      });
    },

    async lookup(request: LookupRequest): Promise<LookupOutcome> {
      if (options.sandboxLookupUrl === undefined) {
        // Synthetic: nothing was asked of Adyen, so it must not count against its circuit breaker.
        return { kind: 'unknown', reason: 'no_lookup', detail: 'Adyen Checkout has no payment lookup: wait for the AUTHORISATION webhook' };
      }
      const lookupBase = options.sandboxLookupUrl.replace(/\/+$/, '');
      const url = request.pspReference !== null
        ? `${lookupBase}/payments/${encodeURIComponent(request.pspReference)}`
        : `${lookupBase}/payments?merchantReference=${encodeURIComponent(request.paymentId)}`;
      const answer = await exchange('GET', url, () => undefined, null, request.signal);
      if (!('status' in answer)) return answer;
      if (answer.status !== 200) return httpErrorOutcome(answer);
      const records = request.pspReference !== null ? [answer.json as unknown as AdyenLookupRecord] : ((answer.json.payments ?? []) as AdyenLookupRecord[]);
      const best = [...records].sort((a, b) => lookupRank(b) - lookupRank(a) || Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
      return best === undefined ? { kind: 'not_found' } : lookupRecordToOutcome(best);
    },

    verifyWebhook(rawBody: Buffer, _headers: Readonly<Record<string, string | undefined>>, _nowMs: number): PspWebhookEvent[] {
      // Adyen signs each item's fields, not the body, and puts no timestamp under the signature: a
      // stale notification cannot be told from a legitimate retry (Adyen retries for days). Replays
      // are harmless because the inbox is keyed by the notification's identity (pspEventId).
      const items = parseNotification(rawBody, liveFlag);
      for (const item of items) verifyAdyenItem(item, hmacKeys);
      return items.flatMap((item) => normalizeAdyenItem(item) ?? []);
    },
  };
}

function parseNotification(rawBody: Buffer, liveFlag: string): AdyenNotificationItem[] {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookSignatureError('Adyen notification is not JSON');
  }
  const body = json as { live?: unknown; notificationItems?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(body.notificationItems)) throw new WebhookSignatureError('not an Adyen notification');
  if (body.live !== liveFlag) throw new WebhookSignatureError(`Adyen notification live=${String(body.live)} sent to a live=${liveFlag} endpoint`);
  if (body.notificationItems.length === 0 || body.notificationItems.length > NOTIFICATION_ITEMS_MAX) {
    throw new WebhookSignatureError(`Adyen notification has ${body.notificationItems.length} items (1..${NOTIFICATION_ITEMS_MAX})`);
  }
  return body.notificationItems.map((wrapper: unknown) => {
    const item = (wrapper as { NotificationRequestItem?: unknown } | null)?.NotificationRequestItem;
    if (typeof item !== 'object' || item === null) throw new WebhookSignatureError('Adyen notification item missing');
    return item as AdyenNotificationItem;
  });
}

/** A non-2xx Adyen answer as our outcome. */
function httpErrorOutcome(answer: HttpAnswer): LookupOutcome {
  const { status, json } = answer;
  const errorCode = typeof json.errorCode === 'string' ? json.errorCode : '';
  const message = typeof json.message === 'string' ? json.message : '';
  const detail = `Adyen ${status} ${errorCode} ${message}`.trim();
  if (status === 401 || status === 403) return { kind: 'retryable', reason: 'unavailable', detail };
  if (status === 429) return { kind: 'retryable', reason: 'rate_limited', detail };
  if (status === 404) return { kind: 'not_found' };
  // 704: a request with this idempotency key is still running (or ran with other parameters).
  if (errorCode === '704') return { kind: 'unknown', reason: 'request_conflict', detail };
  if (status >= 500) {
    // Adyen marks errors that are safe to retry with `Transient-Error: true`.
    if (answer.headers.get('transient-error') === 'true') return { kind: 'retryable', reason: 'server_error', detail };
    return { kind: 'unknown', reason: 'ambiguous_server_error', detail };
  }
  return { kind: 'declined', pspReference: null, reason: 'other', pspCode: errorCode === '' ? `http_${status}` : errorCode };
}

/** A request refused before it was sent (see `exchange`). */
function notSent(error: unknown): PspOutcome {
  const what = error instanceof TallyError ? `${error.reason}: ${error.message}` : error instanceof Error ? error.message : String(error);
  return { kind: 'retryable', reason: 'request_invalid', detail: `refused before sending: ${what}` };
}

/** A fetch that threw: never connected (retryable) or maybe processed (unknown). */
function transportFailure(error: unknown, timedOut: boolean, callerAborted: boolean): PspOutcome {
  if (timedOut) return { kind: 'unknown', reason: 'timeout', detail: 'Adyen did not answer in time' };
  if (callerAborted) return { kind: 'unknown', reason: 'timeout', detail: 'aborted by the caller after the request was sent' };
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  if (notSentCodes.has(code)) return { kind: 'retryable', reason: 'unavailable', detail: `${code}: ${(error as Error).message}` };
  return { kind: 'unknown', reason: 'connection_lost', detail: `${code || 'network error'}: ${(error as Error).message}` };
}

/** The body as text, refusing to buffer more than RESPONSE_BYTES_MAX. */
async function readText(response: Response): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > RESPONSE_BYTES_MAX) {
    await response.body?.cancel();
    return '';
  }
  const text = await response.text();
  return text.length > RESPONSE_BYTES_MAX ? '' : text;
}
