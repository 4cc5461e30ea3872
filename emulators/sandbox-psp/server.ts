/**
 * The sandbox PSP's HTTP server: one `node:http` server on 127.0.0.1 speaking Stripe (`/v1/...`)
 * and Adyen Checkout (`/v71/...`), plus the control API (`/_control/...`) and the sandbox-only
 * pages (`/_sandbox/...`). The server owns what both protocols share: authentication order,
 * injected latency and errors, idempotency, the held responses of the timeout cases, and the
 * bounded logs tests assert on.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../../functions/src/ports/clock.js';
import { createAdyenWire } from './adyen-wire.js';
import { CardTokenVault, cardFieldsHeaders, cardFieldsPage, checkCardInput, newNonce, parseCardInput, parseParentOrigin } from './card-fields.js';
import { challengeHeaders, challengePage } from './challenge-page.js';
import {
  type ApiFaultDecision, type SandboxFaults, type SandboxFaultsPatch, type SandboxPspName, SandboxInputError,
  applyFaultsPatch, createSeededRandom, decideApiFault, noFaults, sandboxPsps,
} from './faults.js';
import { IdempotencyCache, type StoredResponse } from './idempotency.js';
import { createStripeWire, stripeFingerprint } from './stripe-wire.js';
import { type SandboxWebhookRecord, WebhookDispatcher, type WebhookLimits } from './webhooks.js';
import { type ApiRequest, type ApiResult, type WireContext, type WireProtocol, headerValue, jsonResponse } from './wire.js';

/** Every bound of the sandbox, with documented defaults (`defaultSandboxLimits`). */
export interface SandboxLimits {
  /** Largest request body accepted (413 beyond). */
  requestBytesMax: number;
  /** Payments held per PSP; more are refused with the PSP's error. */
  paymentsMax: number;
  /** Idempotency keys remembered (oldest forgotten first, like the PSPs' key expiry). */
  idempotencyKeysMax: number;
  /** Entries kept in the request log and in the webhook log (oldest dropped first). */
  logEntriesMax: number;
  /** How long a timed-out request's response is held before it is finally written. */
  timeoutHoldMs: number;
  /** Card tokens minted by the hosted card fields kept per PSP (oldest forgotten first). */
  cardTokensMax: number;
  webhooks: WebhookLimits;
}

export const defaultSandboxLimits: Readonly<SandboxLimits> = Object.freeze({
  requestBytesMax: 1024 * 1024,
  paymentsMax: 200_000,
  idempotencyKeysMax: 400_000,
  logEntriesMax: 5_000,
  timeoutHoldMs: 30_000,
  cardTokensMax: 100_000,
  webhooks: Object.freeze({
    attemptsMax: 5,
    retryDelayMsBase: 100,
    retryDelayMsMax: 2_000,
    timeoutMs: 5_000,
    pendingMax: 10_000,
    heldMax: 1_000,
    concurrencyMax: 8,
  }),
});

export interface SandboxPspOptions {
  /** TCP port on 127.0.0.1; 0 (the default) lets the OS choose. */
  port?: number;
  /** Where each PSP's webhooks go; a PSP without a target records `no_target`. Changeable via control. */
  webhookTargets: { stripe?: string; adyen?: string };
  /** The `whsec_...` secret Stripe webhooks are signed with. */
  stripeWebhookSecret: string;
  /** The hex HMAC key Adyen notifications are signed with. */
  adyenHmacKeyHex: string;
  /** When set, the only Stripe secret key accepted (otherwise any `sk_test_...`). */
  stripeApiKey?: string;
  /** When set, the only Adyen `X-API-Key` accepted (otherwise any non-empty one). */
  adyenApiKey?: string;
  /** When set, the only Adyen merchant account accepted. */
  adyenMerchantAccount?: string;
  /** Time for objects, events and signatures. Default: the system clock. */
  clock?: Clock;
  /** Seed of the fault-injection random sequence. Default 1. */
  seed?: number;
  limits?: Partial<Omit<SandboxLimits, 'webhooks'>> & { webhooks?: Partial<WebhookLimits> };
}

/** One API request as the sandbox saw it. */
export interface SandboxRequestRecord {
  psp: SandboxPspName;
  method: string;
  path: string;
  idempotencyKey: string | null;
  status: number;
  /** The response was replayed from the idempotency cache. */
  replayed: boolean;
  /** The fault applied, injected or asked for by the card. */
  fault: ApiFaultDecision;
  atMs: number;
}

/** The control API, in process. Every method has an HTTP twin under `/_control/` (see README). */
export interface SandboxControl {
  faults(): SandboxFaults;
  /** Changes faults (absent fields unchanged); returns the new faults. Throws SandboxInputError. */
  setFaults(patch: SandboxFaultsPatch): SandboxFaults;
  /** Clears faults, logs, held webhooks and idempotency keys; with `state`, the payments too. */
  reset(options?: { state?: boolean }): void;
  requests(psp?: SandboxPspName): readonly SandboxRequestRecord[];
  webhooks(psp?: SandboxPspName): readonly SandboxWebhookRecord[];
  /**
   * Sends held webhooks (all PSPs when absent), newest first by default; with `max`, only that many
   * (the newest, or the oldest for fifo), the rest stay held. Returns how many.
   */
  releaseWebhooks(psp?: SandboxPspName, order?: 'reverse' | 'fifo', max?: number): number;
  heldWebhooks(psp: SandboxPspName): number;
  /** Resolves true once no webhook is waiting or in flight (held ones excepted), false after `timeoutMs`. */
  webhooksIdle(timeoutMs?: number): Promise<boolean>;
  /** Completes a 3DS-style challenge as the shopper would; false if the payment is not waiting for one. */
  completeChallenge(psp: SandboxPspName, id: string, result: 'success' | 'failure'): boolean;
  /**
   * Opens a dispute (Stripe) / chargeback (Adyen) on a captured payment; Adyen, after a won one:
   * SECOND_CHARGEBACK. Stripe with `inquiry`: an inquiry (`warning_needs_response`), which takes no
   * funds until escalated.
   */
  createDispute(psp: SandboxPspName, id: string, options?: { inquiry?: boolean }): boolean;
  /** Stripe: an open inquiry becomes a chargeback (`charge.dispute.funds_withdrawn`); Adyen: false. */
  escalateDispute(psp: SandboxPspName, id: string): boolean;
  /**
   * Closes an open dispute. Stripe: `charge.dispute.closed` (won or lost), and for won also
   * `charge.dispute.funds_reinstated`; an open inquiry closes as `warning_closed` (won only).
   * Adyen: won sends CHARGEBACK_REVERSED; lost sends nothing
   * (the chargeback stands) and answers false.
   */
  closeDispute(psp: SandboxPspName, id: string, outcome: 'won' | 'lost'): boolean;
  setWebhookTargets(targets: { stripe?: string; adyen?: string }): void;
  /** What the PSP refunded on a payment (its id: Stripe PaymentIntent, Adyen pspReference), minor units; null when unknown. */
  refundedMinor(psp: SandboxPspName, id: string): number | null;
  /** The PSP's settlement report (CSV) of what it settled since `sinceMs`; null when the sandbox does not write that PSP's format. */
  settlementReport(psp: SandboxPspName, options: { batchNumber: number; sinceMs: number }): string | null;
}

export interface SandboxPsp {
  /** `http://127.0.0.1:<port>`; Stripe's API is at `/v1`, Adyen Checkout's at `/v71`. */
  url: string;
  port: number;
  control: SandboxControl;
  stop(): Promise<void>;
}

const IDLE_TIMEOUT_MS_DEFAULT = 10_000;

/** Starts the sandbox PSP on 127.0.0.1. */
export async function startSandboxPsp(options: SandboxPspOptions): Promise<SandboxPsp> {
  const clock = options.clock ?? systemClock;
  const limits: SandboxLimits = {
    ...defaultSandboxLimits,
    ...options.limits,
    webhooks: { ...defaultSandboxLimits.webhooks, ...options.limits?.webhooks },
  };
  let faults: SandboxFaults = { stripe: { ...noFaults }, adyen: { ...noFaults } };
  let random = createSeededRandom(options.seed ?? 1);
  let targets: Partial<Record<SandboxPspName, string>> = { ...options.webhookTargets };
  let baseUrl = '';
  const requestLog: SandboxRequestRecord[] = [];
  const webhookLog: SandboxWebhookRecord[] = [];
  const heldResponses = new Set<NodeJS.Timeout>();
  const deferred = new Set<NodeJS.Immediate>();
  const idempotency = new IdempotencyCache(limits.idempotencyKeysMax);
  const cardTokens = new CardTokenVault(limits.cardTokensMax);

  const dispatcher = new WebhookDispatcher({
    targets: () => targets,
    faults: (psp) => faults[psp],
    random: () => random(),
    clock,
    limits: limits.webhooks,
    record: (record) => pushBounded(webhookLog, record, limits.logEntriesMax),
  });
  const context: WireContext = {
    nowMs: () => clock.nowMs(),
    baseUrl: () => baseUrl,
    emit: (event) => dispatcher.emit(event),
    defer: (fn) => {
      const immediate = setImmediate(() => {
        deferred.delete(immediate);
        fn();
      });
      deferred.add(immediate);
    },
  };
  const protocols: Record<SandboxPspName, WireProtocol> = {
    stripe: createStripeWire({ context, clock, webhookSecret: options.stripeWebhookSecret, apiKey: options.stripeApiKey, paymentsMax: limits.paymentsMax, cardTokens }),
    adyen: createAdyenWire({ context, clock, hmacKeyHex: options.adyenHmacKeyHex, apiKey: options.adyenApiKey, merchantAccount: options.adyenMerchantAccount, paymentsMax: limits.paymentsMax, cardTokens }),
  };

  const control: SandboxControl = {
    faults: () => structuredClone(faults),
    setFaults(patch) {
      const applied = applyFaultsPatch(faults, patch);
      faults = applied.faults;
      if (applied.seed !== undefined) random = createSeededRandom(applied.seed);
      return structuredClone(faults);
    },
    reset(resetOptions) {
      faults = { stripe: { ...noFaults }, adyen: { ...noFaults } };
      random = createSeededRandom(options.seed ?? 1);
      requestLog.length = 0;
      webhookLog.length = 0;
      dispatcher.clear();
      idempotency.clear();
      if (resetOptions?.state === true) {
        for (const psp of sandboxPsps) protocols[psp].reset();
        cardTokens.clear();
      }
    },
    requests: (psp) => requestLog.filter((r) => psp === undefined || r.psp === psp),
    webhooks: (psp) => webhookLog.filter((r) => psp === undefined || r.psp === psp),
    releaseWebhooks(psp, order = 'reverse', max) {
      if (max !== undefined && !(Number.isSafeInteger(max) && max >= 1)) throw new SandboxInputError('max: expected a positive integer');
      return dispatcher.release(psp, order, max);
    },
    heldWebhooks: (psp) => dispatcher.heldCount(psp),
    webhooksIdle: (timeoutMs = IDLE_TIMEOUT_MS_DEFAULT) => dispatcher.idle(timeoutMs),
    completeChallenge: (psp, id, outcome) => protocols[psp].completeChallenge(id, outcome),
    createDispute: (psp, id, options) => protocols[psp].createDispute(id, options),
    escalateDispute: (psp, id) => protocols[psp].escalateDispute(id),
    refundedMinor: (psp, id) => protocols[psp].refundedMinor(id),
    settlementReport: (psp, options) => protocols[psp].settlementReport?.(options) ?? null,
    closeDispute: (psp, id, outcome) => protocols[psp].closeDispute(id, outcome),
    setWebhookTargets(next) {
      targets = { ...next };
    },
  };

  async function handleApi(protocol: WireProtocol, request: ApiRequest, res: http.ServerResponse): Promise<void> {
    const record = (status: number, replayed: boolean, fault: ApiFaultDecision, idempotencyKey: string | null): void => {
      pushBounded(requestLog, { psp: protocol.psp, method: request.method, path: request.path, idempotencyKey, status, replayed, fault, atMs: clock.nowMs() }, limits.logEntriesMax);
    };
    const auth = protocol.authenticate(request);
    if ('response' in auth) {
      record(auth.response.status, false, 'none', null);
      send(res, auth.response);
      return;
    }
    const key = request.method === 'POST' ? (headerValue(request.headers, 'idempotency-key') ?? null) : null;
    const scopedKey = key === null ? null : `${protocol.psp}\u0000${auth.scope}\u0000${key}`;
    if (scopedKey !== null) {
      const fingerprint = protocol.psp === 'stripe' ? stripeFingerprint(request) : `${request.method} ${request.path} ${request.body}`;
      const begun = idempotency.begin(scopedKey, fingerprint);
      if (begun.kind !== 'new') {
        const response = begun.kind === 'replay' ? withHeader(begun.response, 'idempotent-replayed', 'true') : protocol.idempotencyRefusal(begun.kind);
        record(response.status, begun.kind === 'replay', 'none', key);
        send(res, withHeader(response, 'idempotency-key', key as string));
        return;
      }
    }
    // Latency after claiming the key, so a concurrent retry with the same key sees "in progress".
    const { latencyMs } = faults[protocol.psp];
    if (latencyMs > 0) await sleep(latencyMs);
    const injected = request.method === 'POST' ? decideApiFault(faults[protocol.psp], random) : 'none';
    let outcome: ApiResult | null = null;
    try {
      outcome = injected === 'error_before' ? null : protocol.handle(request);
    } catch (error) {
      if (scopedKey !== null) idempotency.abandon(scopedKey);
      throw error;
    }
    const fault: ApiFaultDecision = injected !== 'none' ? injected : (outcome?.cardFault ?? 'none');
    if (outcome === null || fault === 'error_before') {
      if (scopedKey !== null) idempotency.abandon(scopedKey);
      const response = protocol.serverError('before');
      record(response.status, false, 'error_before', key);
      send(res, response);
      return;
    }
    let response = fault === 'error_after' ? protocol.serverError('after') : outcome.response;
    if (key !== null) response = withHeader(response, 'idempotency-key', key);
    if (scopedKey !== null) {
      if (outcome.processed) idempotency.complete(scopedKey, response);
      else idempotency.abandon(scopedKey);
    }
    record(response.status, false, fault, key);
    if (fault === 'timeout') holdThenSend(res, response);
    else send(res, response);
  }

  /** The ambiguous case: the work is done, but the answer comes later than any client waits. */
  function holdThenSend(res: http.ServerResponse, response: StoredResponse): void {
    const timer = setTimeout(() => {
      heldResponses.delete(timer);
      if (!res.destroyed) send(res, response);
    }, limits.timeoutHoldMs);
    heldResponses.add(timer);
    res.once('close', () => {
      clearTimeout(timer);
      heldResponses.delete(timer);
    });
  }

  async function handleControl(request: ApiRequest, res: http.ServerResponse): Promise<void> {
    const { method, path } = request;
    const body = (): Record<string, unknown> => parseControlBody(request.body);
    const psp = (value: unknown): SandboxPspName | undefined => {
      if (value === undefined || value === null || value === '') return undefined;
      if (typeof value === 'string' && (sandboxPsps as readonly string[]).includes(value)) return value as SandboxPspName;
      throw new SandboxInputError(`psp: expected one of ${sandboxPsps.join(', ')}`);
    };
    if (path === '/_control/faults' && method === 'GET') return send(res, jsonResponse(200, control.faults()));
    if (path === '/_control/faults' && method === 'POST') return send(res, jsonResponse(200, control.setFaults(body() as SandboxFaultsPatch)));
    if (path === '/_control/reset' && method === 'POST') {
      control.reset({ state: body().state === true });
      return send(res, jsonResponse(200, { reset: true }));
    }
    if (path === '/_control/requests' && method === 'GET') return send(res, jsonResponse(200, { requests: control.requests(psp(request.query.get('psp'))) }));
    if (path === '/_control/webhooks' && method === 'GET') return send(res, jsonResponse(200, { webhooks: control.webhooks(psp(request.query.get('psp'))) }));
    if (path === '/_control/settlement-report' && method === 'GET') {
      const name = psp(request.query.get('psp'));
      const batch = request.query.get('batch') ?? '1';
      const since = request.query.get('since') ?? '0';
      if (name === undefined || !/^\d{1,9}$/.test(batch) || !/^\d{1,15}$/.test(since)) throw new SandboxInputError('expected ?psp=adyen&batch=N[&since=epochMs]');
      const csv = control.settlementReport(name, { batchNumber: Number(batch), sinceMs: Number(since) });
      if (csv === null) return send(res, jsonResponse(404, { error: `the sandbox writes no ${name} settlement report` }));
      return send(res, { status: 200, headers: { 'content-type': 'text/csv; charset=utf-8' }, body: csv });
    }
    if (path === '/_control/refunded' && method === 'GET') {
      const name = psp(request.query.get('psp'));
      const id = request.query.get('id');
      if (name === undefined || id === null) throw new SandboxInputError('expected ?psp=&id=');
      const refundedMinor = control.refundedMinor(name, id);
      return send(res, jsonResponse(refundedMinor === null ? 404 : 200, { psp: name, id, refundedMinor }));
    }
    if (path === '/_control/webhooks/release' && method === 'POST') {
      const input = body();
      const order = input.order === 'fifo' ? 'fifo' : 'reverse';
      if (input.max !== undefined && typeof input.max !== 'number') throw new SandboxInputError('max: expected a positive integer');
      return send(res, jsonResponse(200, { released: control.releaseWebhooks(psp(input.psp), order, input.max) }));
    }
    if (path === '/_control/webhooks/idle' && method === 'POST') {
      const timeoutMs = Number(body().timeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT);
      if (!(timeoutMs >= 0 && timeoutMs <= 60_000)) throw new SandboxInputError('timeoutMs: expected 0..60000');
      return send(res, jsonResponse(200, { idle: await control.webhooksIdle(timeoutMs) }));
    }
    if (path === '/_control/disputes' && method === 'POST') {
      const input = body();
      const name = psp(input.psp);
      if (name === undefined || typeof input.id !== 'string' || (input.inquiry !== undefined && typeof input.inquiry !== 'boolean')) {
        throw new SandboxInputError('expected { psp, id, inquiry?: boolean }');
      }
      return send(res, jsonResponse(control.createDispute(name, input.id, { inquiry: input.inquiry === true }) ? 200 : 409, { psp: name, id: input.id }));
    }
    if (path === '/_control/disputes/escalate' && method === 'POST') {
      const input = body();
      const name = psp(input.psp);
      if (name === undefined || typeof input.id !== 'string') throw new SandboxInputError('expected { psp, id }');
      return send(res, jsonResponse(control.escalateDispute(name, input.id) ? 200 : 409, { psp: name, id: input.id }));
    }
    if (path === '/_control/disputes/close' && method === 'POST') {
      const input = body();
      const name = psp(input.psp);
      if (name === undefined || typeof input.id !== 'string' || (input.outcome !== 'won' && input.outcome !== 'lost')) throw new SandboxInputError("expected { psp, id, outcome: 'won' | 'lost' }");
      return send(res, jsonResponse(control.closeDispute(name, input.id, input.outcome) ? 200 : 409, { psp: name, id: input.id, outcome: input.outcome }));
    }
    if (path === '/_control/webhook-targets' && method === 'POST') {
      const input = body();
      const next: { stripe?: string; adyen?: string } = {};
      for (const name of sandboxPsps) {
        const value = input[name];
        if (typeof value === 'string') next[name] = value;
        else if (value !== undefined) throw new SandboxInputError(`${name}: expected a URL string`);
      }
      control.setWebhookTargets(next);
      return send(res, jsonResponse(200, next));
    }
    const challenge = /^\/_sandbox\/challenge\/(stripe|adyen)\/([^/]+)$/.exec(path);
    if (challenge !== null) return handleChallenge(challenge[1] as SandboxPspName, decodeURIComponent(challenge[2] ?? ''), request, res);
    send(res, jsonResponse(404, { error: `no control route ${method} ${path}` }));
  }

  /**
   * The shopper's 3DS-style page: GET shows it, POST `result=success|failure` completes it. A
   * browser's post (it accepts text/html) is redirected (303) to the payment's return URL, also
   * when the challenge was already finished (a reload or the back button must not strand the
   * shopper); scripts get JSON.
   */
  function handleChallenge(name: SandboxPspName, id: string, request: ApiRequest, res: http.ServerResponse): void {
    const view = protocols[name].challenge(id);
    if (request.method === 'GET') {
      if (view === null) return send(res, jsonResponse(404, { error: `no ${name} payment ${id}` }));
      const nonce = newNonce();
      send(res, { status: 200, headers: challengeHeaders(nonce), body: challengePage(name, id, view, nonce) });
      return;
    }
    if (request.method !== 'POST') return send(res, jsonResponse(405, { error: 'expected GET or POST' }));
    const form = new URLSearchParams(request.body);
    const fromJson = request.headers['content-type']?.includes('json') === true ? parseControlBody(request.body).result : undefined;
    const outcome = fromJson ?? form.get('result') ?? 'success';
    if (outcome !== 'success' && outcome !== 'failure') throw new SandboxInputError('result: expected success or failure');
    const completed = control.completeChallenge(name, id, outcome);
    const returnUrl = protocols[name].challenge(id)?.returnUrl ?? null;
    if (request.headers.accept?.includes('text/html') === true && returnUrl !== null) {
      return send(res, { status: 303, headers: { location: returnUrl, 'cache-control': 'no-store' }, body: '' });
    }
    send(res, jsonResponse(completed ? 200 : 409, { psp: name, id, result: outcome, completed, returnUrl }));
  }

  /** The hosted card fields page, framed by the checkout at `?origin=` (see card-fields.ts). */
  function handleElements(request: ApiRequest, res: http.ServerResponse): void {
    if (request.path === '/elements/card' && request.method === 'GET') {
      const parentOrigin = parseParentOrigin(request.query.get('origin'));
      const nonce = newNonce();
      return send(res, { status: 200, headers: cardFieldsHeaders(parentOrigin, nonce), body: cardFieldsPage(parentOrigin, nonce) });
    }
    if (request.path === '/elements/tokenize' && request.method === 'POST') {
      // Only the card fields page itself (the sandbox's own origin) may tokenize: a merchant page's
      // script posting card numbers here directly is refused, as it would take them into its scope.
      const host = request.headers.host ?? '';
      if (request.headers.origin !== `http://${host}`) {
        return send(res, jsonResponse(403, { error: { code: 'origin_refused', message: 'tokenize is only for the hosted card fields page' } }));
      }
      if (request.headers['content-type']?.startsWith('application/json') !== true) throw new SandboxInputError('expected content-type application/json');
      const checked = checkCardInput(parseCardInput(request.body), clock.nowMs());
      if ('error' in checked) return send(res, jsonResponse(402, { error: checked.error }));
      return send(res, { ...jsonResponse(200, cardTokens.mint(checked.card)), headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
    }
    send(res, jsonResponse(404, { error: `no elements route ${request.method} ${request.path}` }));
  }

  const server = http.createServer((req, res) => {
    readBody(req, limits.requestBytesMax)
      .then(async (body) => {
        if (body === null) {
          send(res, jsonResponse(413, { error: { type: 'invalid_request_error', message: 'Request body too large' } }));
          return;
        }
        const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
        const request: ApiRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body };
        if (url.pathname.startsWith('/v1/')) return handleApi(protocols.stripe, request, res);
        if (url.pathname.startsWith('/v71/') || url.pathname.startsWith('/_sandbox/adyen/')) return handleApi(protocols.adyen, request, res);
        if (url.pathname.startsWith('/_control/') || url.pathname.startsWith('/_sandbox/')) return handleControl(request, res);
        if (url.pathname.startsWith('/elements/')) return handleElements(request, res);
        if (url.pathname === '/healthz') return send(res, { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' });
        send(res, jsonResponse(404, { error: `not found: ${url.pathname}` }));
      })
      .catch((error: unknown) => {
        if (error instanceof SandboxInputError) {
          send(res, jsonResponse(400, { error: error.message }));
          return;
        }
        // A sandbox bug: say so loudly rather than pretend to be a PSP error.
        send(res, jsonResponse(500, { error: `sandbox bug: ${(error as Error).stack ?? String(error)}` }));
      });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    port,
    control,
    stop: async () => {
      dispatcher.stop();
      for (const timer of heldResponses) clearTimeout(timer);
      heldResponses.clear();
      for (const immediate of deferred) clearImmediate(immediate);
      deferred.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function send(res: http.ServerResponse, response: StoredResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(response.status, { ...response.headers, 'request-id': `req_sandbox_${Date.now().toString(36)}` });
  res.end(response.body);
}

function withHeader(response: StoredResponse, name: string, value: string): StoredResponse {
  return { ...response, headers: { ...response.headers, [name]: value } };
}

/** The body as text, or null when it is larger than `bytesMax` (the rest is not read). */
function readBody(req: http.IncomingMessage, bytesMax: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > bytesMax) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseControlBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SandboxInputError('expected a JSON body');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SandboxInputError('expected a JSON object');
  return parsed as Record<string, unknown>;
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

