/**
 * The Stripe and Adyen connectors against the sandbox PSP: every outcome of the closed `PspOutcome`
 * union they can produce, decline mapping, ambiguity resolved by `lookup`, idempotency, and webhook
 * verification + normalization. Signatures are cross-checked both ways with the official SDKs
 * (`stripe.webhooks`, `@adyen/api-library`'s HmacValidator) as oracles.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hmacValidator } from '@adyen/api-library';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxPsp, startSandboxPsp } from '../emulators/sandbox-psp/index.js';
import { eventually } from './support/eventually.js';
import { adyenHmac, createAdyenGateway } from '../functions/src/adapters/psp/adyen/index.js';
import { createStripeGateway } from '../functions/src/adapters/psp/stripe/index.js';
import { callPsp, type PspCallDeps } from '../functions/src/app/payments/psp-calls.js';
import { createCircuitBreaker, createConcurrencyLimiter, systemTimers } from '../functions/src/platform/resilience/index.js';
import { systemClock } from '../functions/src/ports/clock.js';
import { newId } from '../functions/src/domain/ids.js';
import {
  type AuthorizeRequest, type DeclineReason, type PspGateway, type PspName, type PspOutcome, type PspWebhookEvent, WebhookSignatureError,
} from '../functions/src/ports/psp-gateway.js';

const stripeSecret = 'whsec_connector_test_secret';
const adyenKeyHex = '7C5B8E0F2A9D4C3B1E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5';
const merchantAccount = 'TallyConnectorTest';

interface Received {
  psp: PspName;
  rawBody: Buffer;
  headers: Record<string, string | undefined>;
}

async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
      received.push({ psp: req.url === '/adyen' ? 'adyen' : 'stripe', rawBody: Buffer.concat(chunks), headers });
      res.writeHead(200).end('[accepted]');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }) };
}

let sandbox: SandboxPsp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const gateways = {} as Record<PspName, PspGateway>;
/** Same connectors with a 300 ms timeout, for the cards whose answer never comes in time. */
const quickGateways = {} as Record<PspName, PspGateway>;

beforeAll(async () => {
  receiver = await startReceiver();
  sandbox = await startSandboxPsp({
    webhookTargets: { stripe: `${receiver.url}/stripe`, adyen: `${receiver.url}/adyen` },
    stripeWebhookSecret: stripeSecret,
    adyenHmacKeyHex: adyenKeyHex,
    adyenMerchantAccount: merchantAccount,
    limits: { timeoutHoldMs: 1_500, webhooks: { concurrencyMax: 1, retryDelayMsBase: 10, retryDelayMsMax: 50 } },
  });
  for (const [target, timeoutMs] of [[gateways, 3_000], [quickGateways, 300]] as const) {
    target.stripe = createStripeGateway({ apiKey: 'sk_test_connectors', webhookSecret: stripeSecret, host: '127.0.0.1', port: sandbox.port, protocol: 'http', timeoutMs });
    target.adyen = createAdyenGateway({
      apiKey: 'adyen_test_key', merchantAccount, hmacKeyHex: adyenKeyHex, baseUrl: `${sandbox.url}/v71`, timeoutMs, sandboxLookupUrl: `${sandbox.url}/_sandbox/adyen`,
    });
  }
});

afterAll(async () => {
  await sandbox?.stop();
  await receiver?.close();
});

beforeEach(() => {
  sandbox.control.reset();
  receiver.received.length = 0;
});

const signal = (): AbortSignal => AbortSignal.timeout(10_000);

function authorizeRequest(token: string, overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  const paymentId = overrides.paymentId ?? newId('pay');
  return {
    idempotencyKey: `${paymentId}:authorize:1`, paymentId, tenantId: 'ten_connectors', amountMinor: 1999n, currency: 'EUR',
    paymentMethodToken: token, captureMethod: 'automatic', returnUrl: 'https://shop.example/return', signal: signal(), ...overrides,
  };
}

/** The verified, normalized webhook events the receiver got for one payment. */
function eventsFor(psp: PspName, paymentId: string): PspWebhookEvent[] {
  return receiver.received
    .filter((r) => r.psp === psp)
    .flatMap((r) => gateways[psp].verifyWebhook(r.rawBody, r.headers, Date.now()))
    .filter((e) => e.paymentId === paymentId);
}

/** How long the sandbox's webhooks may take to arrive here. */
const WEBHOOKS_ARRIVE = { timeoutMs: 3_000, intervalMs: 10 } as const;

function waitForEvents(psp: PspName, paymentId: string, predicate: (events: PspWebhookEvent[]) => boolean): Promise<PspWebhookEvent[]> {
  return eventually(() => {
    const events = eventsFor(psp, paymentId);
    if (!predicate(events)) throw new Error(`events so far: ${JSON.stringify(events.map((e) => e.action))}`);
    return events;
  }, WEBHOOKS_ARRIVE);
}

function pspReferenceOf(outcome: PspOutcome): string {
  if (!('pspReference' in outcome) || outcome.pspReference === null) throw new Error(`no pspReference in ${JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  return outcome.pspReference;
}

interface PspCase {
  psp: PspName;
  tokens: { success: string; challenge: string; timeout: string; errorBefore: string; errorAfter: string; dispute: string; cancelRefused: string };
  declines: ReadonlyArray<readonly [string, DeclineReason]>;
}

const cases: PspCase[] = [
  {
    psp: 'stripe',
    tokens: {
      success: 'pm_card_visa', challenge: 'pm_card_threeDSecure2Required', timeout: 'pm_card_sandboxTimeout',
      errorBefore: 'pm_card_sandboxErrorBeforeProcessing', errorAfter: 'pm_card_sandboxErrorAfterProcessing', dispute: 'pm_card_createDispute',
      cancelRefused: 'pm_card_sandboxCancelRefused',
    },
    declines: [
      ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
      ['pm_card_chargeDeclined', 'card_declined'],
      ['pm_card_chargeDeclinedDoNotHonor', 'do_not_honor'],
      ['pm_card_chargeDeclinedExpiredCard', 'expired_card'],
      ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc'],
      ['pm_card_chargeDeclinedFraudulent', 'fraud_suspected'],
    ],
  },
  {
    psp: 'adyen',
    tokens: {
      success: 'adyen_success', challenge: 'adyen_3ds_challenge', timeout: 'adyen_timeout',
      errorBefore: 'adyen_error_before', errorAfter: 'adyen_error_after', dispute: 'adyen_dispute',
      cancelRefused: 'adyen_cancel_refused',
    },
    declines: [
      ['adyen_refused_insufficient_funds', 'insufficient_funds'],
      ['adyen_refused_generic', 'card_declined'],
      ['adyen_refused_do_not_honor', 'do_not_honor'],
      ['adyen_refused_expired_card', 'expired_card'],
      ['adyen_refused_incorrect_cvc', 'incorrect_cvc'],
      ['adyen_refused_fraud', 'fraud_suspected'],
    ],
  },
];

describe.each(cases)('$psp connector against the sandbox', ({ psp, tokens, declines }) => {
  const gateway = (): PspGateway => gateways[psp];

  it('automatic capture: captured, confirmed by a verified webhook', async () => {
    const request = authorizeRequest(tokens.success);
    const outcome = await gateway().authorize(request);
    expect(outcome).toMatchObject({ kind: 'captured', amountMinor: 1999n, currency: 'EUR' });
    const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'captured'));
    expect(events.find((e) => e.action === 'captured')).toMatchObject({ psp, pspReference: pspReferenceOf(outcome), amountMinor: 1999n, currency: 'EUR', refundId: null });
    expect(new Set(events.map((e) => e.pspEventId)).size).toBe(events.length);
  });

  it('manual capture with a partial amount', async () => {
    const request = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    const authorized = await gateway().authorize(request);
    expect(authorized).toMatchObject({ kind: 'authorized', amountMinor: 1999n });
    const pspReference = pspReferenceOf(authorized);
    const captured = await gateway().capture({ idempotencyKey: `${request.paymentId}:capture:1`, paymentId: request.paymentId, pspReference, amountMinor: 1500n, currency: 'EUR', signal: signal() });
    // Adyen only accepts it (`received`): provisional until its CAPTURE webhook confirms it.
    expect(captured).toEqual({ kind: 'captured', pspReference, amountMinor: 1500n, currency: 'EUR', ...(psp === 'adyen' ? { provisional: true } : {}) });
    const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'captured'));
    expect(events.find((e) => e.action === 'authorized')).toMatchObject({ amountMinor: 1999n });
    expect(events.find((e) => e.action === 'captured')).toMatchObject({ pspReference, amountMinor: 1500n });
  });

  it('cancel of an authorization', async () => {
    const request = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    const pspReference = pspReferenceOf(await gateway().authorize(request));
    const canceled = await gateway().cancel({ idempotencyKey: `${request.paymentId}:cancel:1`, paymentId: request.paymentId, pspReference, signal: signal() });
    // Stripe cancels synchronously; Adyen accepts (`received`) and its CANCELLATION webhook decides.
    expect(canceled).toMatchObject(psp === 'stripe' ? { kind: 'canceled', pspReference } : { kind: 'pending', pspReference });
    await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'canceled' && x.pspReference === pspReference));
  });

  it('a cancellation the PSP refuses after accepting it arrives as cancel_failed (Adyen; Stripe has no such event)', async () => {
    const request = authorizeRequest(tokens.cancelRefused, { captureMethod: 'manual' });
    const pspReference = pspReferenceOf(await gateway().authorize(request));
    const answer = await gateway().cancel({ idempotencyKey: `${request.paymentId}:cancel:1`, paymentId: request.paymentId, pspReference, signal: signal() });
    if (psp === 'stripe') {
      expect(answer).toEqual({ kind: 'canceled', pspReference });
      return;
    }
    expect(answer).toMatchObject({ kind: 'pending', pspReference });
    // The cancel's own pspReference, which its CANCELLATION names (the payment's is the original).
    const modificationReference = (answer as { modificationReference?: string }).modificationReference;
    expect(modificationReference).toMatch(/^\w{16}$/);
    expect(modificationReference).not.toBe(pspReference);
    const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'cancel_failed'));
    expect(events.find((e) => e.action === 'cancel_failed')).toMatchObject({ pspReference, paymentId: request.paymentId, modificationReference });
    expect(events.some((e) => e.action === 'canceled')).toBe(false);
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference, signal: signal() })).toMatchObject({ kind: 'authorized' });
  });

  it('several partial refunds, each named in its webhook; a refund beyond the captured amount fails', async () => {
    const request = authorizeRequest(tokens.success);
    const pspReference = pspReferenceOf(await gateway().authorize(request));
    const refund = (refundId: string, amountMinor: bigint): Promise<PspOutcome> =>
      gateway().refund({ idempotencyKey: `${request.paymentId}:refund:${refundId}`, paymentId: request.paymentId, refundId, pspReference, amountMinor, currency: 'EUR', signal: signal() });
    const first = await refund('ref_one', 500n);
    const second = await refund('ref_two', 700n);
    expect(first).toMatchObject({ kind: 'refunded', pspReference, amountMinor: 500n, currency: 'EUR' });
    expect(second).toMatchObject({ kind: 'refunded', pspReference, amountMinor: 700n });
    expect((first as { refundReference: string }).refundReference).not.toBe((second as { refundReference: string }).refundReference);
    const over = await refund('ref_three', 1000n);
    if (psp === 'stripe') {
      // Stripe refuses synchronously.
      expect(over).toMatchObject({ kind: 'declined', reason: 'other', pspCode: 'amount_too_large' });
    } else {
      // Adyen accepts the request and reports the failure by webhook.
      expect(over.kind).toBe('refunded');
      const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'refund_failed'));
      expect(events.find((e) => e.action === 'refund_failed')).toMatchObject({ refundId: 'ref_three', amountMinor: 1000n });
    }
    const events = await waitForEvents(psp, request.paymentId, (e) => e.filter((x) => x.action === 'refunded').length === 2);
    const refunds = events.filter((e) => e.action === 'refunded').map((e) => [e.refundId, e.amountMinor]);
    expect(refunds).toEqual(expect.arrayContaining([['ref_one', 500n], ['ref_two', 700n]]));
  });

  it.each(declines)('decline %s maps to %s (answer and webhook)', async (token, reason) => {
    const request = authorizeRequest(token);
    const outcome = await gateway().authorize(request);
    expect(outcome).toMatchObject({ kind: 'declined', reason });
    expect((outcome as { pspReference: string | null }).pspReference).not.toBeNull();
    const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'authorization_failed'));
    expect(events.find((e) => e.action === 'authorization_failed')?.declineReason).toBe(reason);
  });

  it('requires_action: the challenge completes, the webhook and lookup say authorized', async () => {
    const request = authorizeRequest(tokens.challenge, { captureMethod: 'manual' });
    const outcome = await gateway().authorize(request);
    expect(outcome.kind).toBe('requires_action');
    const { actionUrl } = outcome as { actionUrl: string };
    const pspReference = pspReferenceOf(outcome);
    expect(actionUrl).toContain(`/_sandbox/challenge/${psp}/${pspReference}`);
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference, signal: signal() })).toMatchObject({ kind: 'requires_action' });
    const done = await fetch(actionUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ result: 'success' }) });
    expect(done.status).toBe(200);
    await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'authorized'));
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference, signal: signal() })).toMatchObject({ kind: 'authorized', amountMinor: 1999n });
  });

  it('a failed challenge is an authentication_failed decline', async () => {
    const request = authorizeRequest(tokens.challenge);
    const pspReference = pspReferenceOf(await gateway().authorize(request));
    await fetch(`${sandbox.url}/_sandbox/challenge/${psp}/${pspReference}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"result":"failure"}' });
    const events = await waitForEvents(psp, request.paymentId, (e) => e.some((x) => x.action === 'authorization_failed'));
    expect(events.find((e) => e.action === 'authorization_failed')?.declineReason).toBe('authentication_failed');
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference, signal: signal() })).toMatchObject({ kind: 'declined', reason: 'authentication_failed' });
  });

  it('timeout after sending is unknown; lookup by payment id finds it captured', async () => {
    const request = authorizeRequest(tokens.timeout);
    const outcome = await quickGateways[psp].authorize(request);
    expect(outcome).toMatchObject({ kind: 'unknown', reason: 'timeout' });
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference: null, signal: signal() })).toMatchObject({ kind: 'captured', amountMinor: 1999n, currency: 'EUR' });
  });

  it('a retry of a timed-out request with the same key returns the first result without a second payment', async () => {
    const request = authorizeRequest(tokens.timeout, { captureMethod: 'manual' });
    expect((await quickGateways[psp].authorize(request)).kind).toBe('unknown');
    const retried = await gateway().authorize({ ...request, signal: signal() });
    expect(retried).toMatchObject({ kind: 'authorized', amountMinor: 1999n });
    const requests = sandbox.control.requests(psp).filter((r) => r.method === 'POST');
    expect(requests.map((r) => [r.fault, r.replayed])).toEqual([['timeout', false], ['none', true]]);
  });

  it('5xx before processing is retryable and nothing exists at the PSP', async () => {
    const request = authorizeRequest(tokens.errorBefore);
    expect(await gateway().authorize(request)).toMatchObject({ kind: 'retryable', reason: 'server_error' });
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference: null, signal: signal() })).toEqual({ kind: 'not_found' });
  });

  it('5xx after processing is unknown (also on retry); lookup finds the payment', async () => {
    const request = authorizeRequest(tokens.errorAfter);
    expect(await gateway().authorize(request)).toMatchObject({ kind: 'unknown', reason: 'ambiguous_server_error' });
    expect(await gateway().authorize({ ...request, signal: signal() })).toMatchObject({ kind: 'unknown', reason: 'ambiguous_server_error' });
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference: null, signal: signal() })).toMatchObject({ kind: 'captured' });
  });

  it('injected faults from the control API: 5xx-before retryable, timeout unknown', async () => {
    const set = await fetch(`${sandbox.url}/_control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [psp]: { serverErrorBeforeRate: 1 } }) });
    expect(set.status).toBe(200);
    expect(await gateway().authorize(authorizeRequest(tokens.success))).toMatchObject({ kind: 'retryable' });
    sandbox.control.setFaults({ [psp]: { serverErrorBeforeRate: 0, timeoutRate: 1 } });
    const request = authorizeRequest(tokens.success);
    expect(await quickGateways[psp].authorize(request)).toMatchObject({ kind: 'unknown', reason: 'timeout' });
    sandbox.control.setFaults({ [psp]: { timeoutRate: 0 } });
    expect(await gateway().lookup({ paymentId: request.paymentId, pspReference: null, signal: signal() })).toMatchObject({ kind: 'captured' });
  });

  it('idempotency keys dedupe at the sandbox', async () => {
    const request = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    const first = await gateway().authorize(request);
    const again = await Promise.all([1, 2].map(() => gateway().authorize({ ...request, signal: signal() })));
    expect(again.map(pspReferenceOf)).toEqual([pspReferenceOf(first), pspReferenceOf(first)]);
    const logged = sandbox.control.requests(psp).filter((r) => r.method === 'POST');
    expect(logged.filter((r) => !r.replayed && r.status === 200)).toHaveLength(1);
    expect(logged.every((r) => r.idempotencyKey !== null)).toBe(true);
  });

  it('a dispute arrives as a chargeback of the PSP payment (a Stripe dispute names no payment of ours, as at Stripe)', async () => {
    const request = authorizeRequest(tokens.dispute);
    const outcome = await gateway().authorize(request);
    expect(outcome.kind).toBe('captured');
    const pspReference = pspReferenceOf(outcome);
    const chargebacks = (count: number): Promise<PspWebhookEvent[]> => eventually(() => {
      const found = receiver.received.filter((r) => r.psp === psp)
        .flatMap((r) => gateways[psp].verifyWebhook(r.rawBody, r.headers, Date.now()))
        .filter((e) => e.action === 'chargeback' && e.pspReference === pspReference);
      expect(found.length).toBeGreaterThanOrEqual(count);
      return found;
    }, WEBHOOKS_ARRIVE);
    const [created] = await chargebacks(1);
    expect(created).toMatchObject({ amountMinor: 1999n, currency: 'EUR', paymentId: psp === 'stripe' ? null : request.paymentId });
    // Stripe: closing the dispute as lost repeats the chargeback (a no-op for the core); Adyen sends nothing for a lost defence.
    expect(sandbox.control.closeDispute(psp, pspReference, 'lost')).toBe(psp === 'stripe');
    if (psp === 'stripe') expect((await chargebacks(2))[1]).toMatchObject({ paymentId: null, amountMinor: 1999n, pspEventId: expect.not.stringMatching(created?.pspEventId ?? '') });
  });

  it('a won dispute arrives as chargeback_reversed; at Adyen a further dispute is a second_chargeback', async () => {
    const request = authorizeRequest(tokens.dispute);
    const pspReference = pspReferenceOf(await gateway().authorize(request));
    const events = (action: PspWebhookEvent['action'], countMin = 1): Promise<PspWebhookEvent[]> => eventually(() => {
      const found = receiver.received.filter((r) => r.psp === psp)
        .flatMap((r) => gateways[psp].verifyWebhook(r.rawBody, r.headers, Date.now()))
        .filter((e) => e.action === action && e.pspReference === pspReference);
      expect(found.length).toBeGreaterThanOrEqual(countMin);
      return found;
    }, WEBHOOKS_ARRIVE);
    // Stripe: the dispute's `created` and the withdrawal of its funds; Adyen: one CHARGEBACK.
    const chargebacks = psp === 'stripe' ? 2 : 1;
    expect(await events('chargeback', chargebacks)).toHaveLength(chargebacks);
    expect(sandbox.control.closeDispute(psp, pspReference, 'won')).toBe(true);
    expect(await events('chargeback_reversed')).toMatchObject([{ amountMinor: 1999n, currency: 'EUR' }]);
    expect(sandbox.control.createDispute(psp, pspReference)).toBe(psp === 'adyen');
    if (psp === 'adyen') expect(await events('second_chargeback')).toMatchObject([{ amountMinor: 1999n, paymentId: request.paymentId }]);
  });

  it('lookup of a payment the PSP never saw is not_found; a closed port is retryable; an aborted caller is handled', async () => {
    expect(await gateway().lookup({ paymentId: newId('pay'), pspReference: null, signal: signal() })).toEqual({ kind: 'not_found' });
    const aborted = new AbortController();
    aborted.abort();
    expect(await gateway().authorize(authorizeRequest(tokens.success, { signal: aborted.signal }))).toMatchObject({ kind: 'retryable' });
    // The caller's own deadline (100 ms) ends a call the PSP never answers: real time is the behaviour.
    const midway = AbortSignal.timeout(100);
    expect(await gateway().authorize(authorizeRequest(tokens.timeout, { signal: midway }))).toMatchObject({ kind: 'unknown', reason: 'timeout' });
  });

  it('webhook faults (duplicate, hold + reverse release, drop) are observable via the control API', async () => {
    const post = (body: unknown, path = 'faults'): Promise<Response> => fetch(`${sandbox.url}/_control/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    await post({ [psp]: { webhookDuplicateRate: 1 } });
    const dup = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    await gateway().authorize(dup);
    const dupEvents = await waitForEvents(psp, dup.paymentId, (e) => e.length >= 2);
    expect(dupEvents[0]?.pspEventId).toBe(dupEvents[1]?.pspEventId);

    await post({}, 'reset');
    await post({ [psp]: { webhookHold: true } });
    const first = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    const second = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    await gateway().authorize(first);
    await gateway().authorize(second);
    expect(sandbox.control.heldWebhooks(psp)).toBe(2);
    await post({ psp }, 'webhooks/release');
    await sandbox.control.webhooksIdle();
    const arrived = receiver.received.filter((r) => r.psp === psp).flatMap((r) => gateways[psp].verifyWebhook(r.rawBody, r.headers, Date.now()));
    expect(arrived.map((e) => e.paymentId).filter((id) => id === first.paymentId || id === second.paymentId)).toEqual([second.paymentId, first.paymentId]);

    await post({}, 'reset');
    await post({ [psp]: { webhookDropRate: 1 } });
    const dropped = authorizeRequest(tokens.success, { captureMethod: 'manual' });
    await gateway().authorize(dropped);
    await sandbox.control.webhooksIdle();
    expect(eventsFor(psp, dropped.paymentId)).toEqual([]);
    const log = (await (await fetch(`${sandbox.url}/_control/webhooks?psp=${psp}`)).json()) as { webhooks: Array<{ outcome: string }> };
    expect(log.webhooks.map((w) => w.outcome)).toEqual(['dropped']);
  });
});

describe('currency exponents at the connectors', () => {
  it('zero-decimal JPY passes unchanged through both; ISK is scaled for Stripe; BHD needs a 0 last digit at Stripe', async () => {
    for (const psp of ['stripe', 'adyen'] as const) {
      const token = psp === 'stripe' ? 'pm_card_visa' : 'adyen_success';
      expect(await gateways[psp].authorize(authorizeRequest(token, { amountMinor: 500n, currency: 'JPY' }))).toMatchObject({ kind: 'captured', amountMinor: 500n, currency: 'JPY' });
    }
    const isk = authorizeRequest('pm_card_visa', { amountMinor: 12n, currency: 'ISK' });
    const outcome = await gateways.stripe.authorize(isk);
    expect(outcome).toMatchObject({ kind: 'captured', amountMinor: 12n, currency: 'ISK' });
    const wire = await waitForEvents('stripe', isk.paymentId, (e) => e.length > 0);
    expect(wire[0]?.amountMinor).toBe(12n);
    const raw = JSON.parse(receiver.received.filter((r) => r.psp === 'stripe').map((r) => r.rawBody.toString()).find((b) => b.includes(isk.paymentId)) ?? '{}') as { data: { object: { amount: number } } };
    expect(raw.data.object.amount).toBe(1200);
    // Refused before sending: certainly not processed (retryable elsewhere), never thrown, never `unknown`.
    expect(await gateways.stripe.authorize(authorizeRequest('pm_card_visa', { amountMinor: 1005n, currency: 'BHD' }))).toMatchObject({ kind: 'retryable', reason: 'request_invalid', detail: expect.stringContaining('AMOUNT_PRECISION_EXCEEDED') });
    expect(await gateways.stripe.authorize(authorizeRequest('pm_card_visa', { amountMinor: 100n, currency: 'ZZZ' }))).toMatchObject({ kind: 'retryable', reason: 'request_invalid', detail: expect.stringContaining('UNKNOWN_CURRENCY') });
    expect(await gateways.adyen.authorize(authorizeRequest('adyen_success', { amountMinor: 1005n, currency: 'BHD' }))).toMatchObject({ kind: 'captured', amountMinor: 1005n, currency: 'BHD' });
  });
});

describe('one tenant cannot trip a PSP for everyone (issue 11 item 9)', () => {
  // The breaker as compose.ts builds it: 20 calls in the window, half of them failures, open it.
  const newCallDeps = (gateway: PspGateway): PspCallDeps => ({
    gateways: new Map([[gateway.name, gateway]]),
    breaker: createCircuitBreaker({
      clock: systemClock, windowMs: 30_000, windowBucketCount: 10, minimumCalls: 20, failureRateThreshold: 0.5,
      openDurationMs: 10_000, halfOpenProbesMax: 2, keysMax: 16, isFailure: () => true,
    }),
    limiter: createConcurrencyLimiter({ limit: 64, queueMax: 1_000, queueTimeoutMs: 5_000, clock: systemTimers }),
    pspCallTimeoutMs: 10_000,
    timers: systemTimers,
  });

  it('20 over-limit requests are refused before sending, leave the Stripe breaker closed, and another tenant is charged', async () => {
    const deps = newCallDeps(gateways.stripe);
    const overLimit = [
      ...Array.from({ length: 10 }, () => ({ amountMinor: 100_000_000n, currency: 'EUR' })),
      ...Array.from({ length: 10 }, () => ({ amountMinor: 1005n, currency: 'BHD' })),
    ];
    for (const amount of overLimit) {
      const outcome = await callPsp(deps, 'stripe', (gw, s) => gw.authorize(authorizeRequest('pm_card_visa', { tenantId: 'ten_careless', ...amount, signal: s })));
      expect(outcome).toMatchObject({ kind: 'retryable', reason: 'request_invalid' });
    }
    expect(sandbox.control.requests('stripe')).toEqual([]);
    expect(deps.breaker.state('stripe')).toBe('closed');
    expect(deps.breaker.stats()).toEqual([expect.objectContaining({ key: 'stripe', failuresInWindow: 0, openedTotal: 0 })]);
    const valid = await callPsp(deps, 'stripe', (gw, s) => gw.authorize(authorizeRequest('pm_card_visa', { tenantId: 'ten_careful', signal: s })));
    expect(valid).toMatchObject({ kind: 'captured', amountMinor: 1999n, currency: 'EUR' });
  });

  it('Adyen lookups without a lookup API are synthetic unknowns: 20 of them leave its breaker closed', async () => {
    const noLookup = createAdyenGateway({ apiKey: 'adyen_test_key', merchantAccount, hmacKeyHex: adyenKeyHex, baseUrl: `${sandbox.url}/v71`, timeoutMs: 3_000 });
    const deps = newCallDeps(noLookup);
    for (let i = 0; i < 20; i++) {
      const outcome = await callPsp(deps, 'adyen', (gw, s) => gw.lookup({ paymentId: newId('pay'), pspReference: null, signal: s }));
      expect(outcome).toMatchObject({ kind: 'unknown', reason: 'no_lookup' });
    }
    expect(deps.breaker.state('adyen')).toBe('closed');
    const valid = await callPsp(deps, 'adyen', (gw, s) => gw.authorize(authorizeRequest('adyen_success', { tenantId: 'ten_careful', signal: s })));
    expect(valid).toMatchObject({ kind: 'captured', amountMinor: 1999n });
  });

  it('5xx from the PSP itself still opens the breaker (the verdict is not blind to real failures)', async () => {
    const deps = newCallDeps(gateways.stripe);
    sandbox.control.setFaults({ stripe: { serverErrorBeforeRate: 1 } });
    for (let i = 0; i < 20; i++) {
      expect(await callPsp(deps, 'stripe', (gw, s) => gw.authorize(authorizeRequest('pm_card_visa', { signal: s })))).toMatchObject({ kind: 'retryable', reason: 'server_error' });
    }
    expect(deps.breaker.state('stripe')).toBe('open');
  });
});

describe('connection refused', () => {
  it('is retryable for both connectors (nothing was sent)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const stripeGw = createStripeGateway({ apiKey: 'sk_test_x', webhookSecret: stripeSecret, host: '127.0.0.1', port, protocol: 'http', timeoutMs: 1_000 });
    const adyenGw = createAdyenGateway({ apiKey: 'k', merchantAccount, hmacKeyHex: adyenKeyHex, baseUrl: `http://127.0.0.1:${port}/v71`, timeoutMs: 1_000 });
    expect(await stripeGw.authorize(authorizeRequest('pm_card_visa'))).toMatchObject({ kind: 'retryable', reason: 'unavailable' });
    expect(await adyenGw.authorize(authorizeRequest('adyen_success'))).toMatchObject({ kind: 'retryable', reason: 'unavailable' });
    expect(await adyenGw.lookup({ paymentId: newId('pay'), pspReference: null, signal: signal() })).toMatchObject({ kind: 'unknown' });
  });
});

describe('Stripe webhook verification, with the stripe SDK as oracle', () => {
  const stripeSdk = new Stripe('sk_test_oracle');
  const paymentId = newId('pay');
  const payload = JSON.stringify({
    id: 'evt_oracle_1', object: 'event', created: 1_760_000_000, type: 'payment_intent.succeeded',
    data: { object: { id: 'pi_oracle', object: 'payment_intent', amount: 1999, amount_received: 1999, currency: 'eur', status: 'succeeded', metadata: { tally_payment_id: paymentId } } },
  });
  const nowMs = Date.now();
  const nowSec = Math.floor(nowMs / 1000);
  const verify = (body: string, header: string | undefined, secrets: string | string[] = stripeSecret): PspWebhookEvent[] =>
    createStripeGateway({ apiKey: 'sk_test_x', webhookSecret: secrets, timeoutMs: 1_000 }).verifyWebhook(Buffer.from(body), { 'stripe-signature': header }, nowMs);
  const oracle = (body: string, header: string, secret = stripeSecret): boolean => {
    try {
      stripeSdk.webhooks.constructEvent(body, header, secret, 300, undefined, nowMs);
      return true;
    } catch {
      return false;
    }
  };

  it('accepts a valid signature and normalizes the event', () => {
    const header = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec });
    expect(oracle(payload, header)).toBe(true);
    expect(verify(payload, header)).toEqual([{
      psp: 'stripe', pspEventId: 'evt_oracle_1', occurredAtMs: 1_760_000_000_000, paymentId, pspReference: 'pi_oracle', action: 'captured',
      amountMinor: 1999n, currency: 'EUR', refundId: null, declineReason: null,
    }]);
  });

  it('refuses a tampered body, a wrong secret, a stale or far-future timestamp, and a missing header', () => {
    const header = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec });
    const tampered = payload.replace('1999', '1');
    expect(oracle(tampered, header)).toBe(false);
    expect(() => verify(tampered, header)).toThrow(WebhookSignatureError);

    const otherSecret = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: 'whsec_other', timestamp: nowSec });
    expect(oracle(payload, otherSecret)).toBe(false);
    expect(() => verify(payload, otherSecret)).toThrow(WebhookSignatureError);

    const stale = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec - 301 });
    expect(oracle(payload, stale)).toBe(false);
    expect(() => verify(payload, stale)).toThrow(/tolerance/);
    const justInTime = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec - 299 });
    expect(oracle(payload, justInTime)).toBe(true);
    expect(verify(payload, justInTime)).toHaveLength(1);
    const future = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec + 301 });
    expect(() => verify(payload, future)).toThrow(/tolerance/);

    expect(() => verify(payload, undefined)).toThrow(WebhookSignatureError);
    expect(() => verify(payload, '')).toThrow(WebhookSignatureError);
    expect(() => verify(payload, `t=${nowSec}`)).toThrow(/no v1/);
  });

  it('accepts several v1 values when one matches, and several secrets while rolling', () => {
    const good = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: stripeSecret, timestamp: nowSec });
    const bad = stripeSdk.webhooks.generateTestHeaderString({ payload, secret: 'whsec_old', timestamp: nowSec });
    const v1 = (header: string): string => header.split('v1=')[1] as string;
    const both = `t=${nowSec},v1=${v1(bad)},v1=${v1(good)}`;
    expect(oracle(payload, both)).toBe(true);
    expect(verify(payload, both)).toHaveLength(1);
    expect(verify(payload, bad, ['whsec_old', stripeSecret])).toHaveLength(1);
    expect(() => verify(payload, `t=${nowSec},v1=${v1(bad)},v1=${'0'.repeat(64)}`)).toThrow(WebhookSignatureError);
  });

  it('ignores events that are not ours and event types we do not act on', () => {
    const foreign = JSON.stringify({ id: 'evt_2', object: 'event', created: nowSec, type: 'payment_intent.succeeded', data: { object: { id: 'pi_x', amount_received: 1, currency: 'usd', metadata: {} } } });
    const other = JSON.stringify({ id: 'evt_3', object: 'event', created: nowSec, type: 'customer.created', data: { object: { id: 'cus_1' } } });
    for (const body of [foreign, other]) {
      expect(verify(body, stripeSdk.webhooks.generateTestHeaderString({ payload: body, secret: stripeSecret, timestamp: nowSec }))).toEqual([]);
    }
  });
});

describe('Adyen webhook verification, with HmacValidator as oracle both ways', () => {
  const oracle = new hmacValidator();
  const paymentId = newId('pay');
  const baseItem = {
    pspReference: 'ABCDEF0123456789', originalReference: 'FEDCBA9876543210', merchantAccountCode: merchantAccount, merchantReference: `${paymentId}/ref_x`,
    amount: { value: 1250, currency: 'EUR' }, eventCode: 'REFUND', success: 'true', eventDate: '2026-01-02T03:04:05+01:00',
  };
  const gateway = createAdyenGateway({ apiKey: 'k', merchantAccount, hmacKeyHex: adyenKeyHex, baseUrl: 'http://127.0.0.1:1/v71', timeoutMs: 1_000 });
  const body = (item: Record<string, unknown>, live = 'false'): Buffer => Buffer.from(JSON.stringify({ live, notificationItems: [{ NotificationRequestItem: item }] }));

  it('accepts an item the official library signed, and normalizes it', () => {
    const signed = { ...baseItem, additionalData: { hmacSignature: oracle.calculateHmac(baseItem as never, adyenKeyHex) } };
    expect(gateway.verifyWebhook(body(signed), {}, Date.now())).toEqual([{
      psp: 'adyen', pspEventId: `REFUND:ABCDEF0123456789:true:${Date.parse('2026-01-02T03:04:05+01:00')}`, occurredAtMs: Date.parse('2026-01-02T03:04:05+01:00'), paymentId,
      pspReference: 'FEDCBA9876543210', action: 'refunded', amountMinor: 1250n, currency: 'EUR', refundId: 'ref_x', declineReason: null,
      modificationReference: 'ABCDEF0123456789',
    }]);
  });

  it('signs as the official library validates (with and without originalReference)', () => {
    const { originalReference: _omitted, ...authorisation } = { ...baseItem, eventCode: 'AUTHORISATION', merchantReference: paymentId };
    for (const item of [baseItem, authorisation]) {
      const ours = adyenHmac(item, adyenKeyHex);
      expect(oracle.validateHMAC({ ...item, additionalData: { hmacSignature: ours } } as never, adyenKeyHex)).toBe(true);
      expect(ours).toBe(oracle.calculateHmac(item as never, adyenKeyHex));
    }
  });

  it('refuses tampered, wrongly keyed, unsigned, and live/test-mismatched notifications', () => {
    const signature = oracle.calculateHmac(baseItem as never, adyenKeyHex);
    const tampered = { ...baseItem, amount: { value: 99_999, currency: 'EUR' }, additionalData: { hmacSignature: signature } };
    expect(oracle.validateHMAC(tampered as never, adyenKeyHex)).toBe(false);
    expect(() => gateway.verifyWebhook(body(tampered), {}, Date.now())).toThrow(WebhookSignatureError);
    const wrongKey = { ...baseItem, additionalData: { hmacSignature: oracle.calculateHmac(baseItem as never, '00'.repeat(32)) } };
    expect(() => gateway.verifyWebhook(body(wrongKey), {}, Date.now())).toThrow(WebhookSignatureError);
    expect(() => gateway.verifyWebhook(body({ ...baseItem }), {}, Date.now())).toThrow(/not signed/);
    const valid = { ...baseItem, additionalData: { hmacSignature: signature } };
    expect(() => gateway.verifyWebhook(body(valid, 'true'), {}, Date.now())).toThrow(/live/);
    expect(() => gateway.verifyWebhook(Buffer.from('not json'), {}, Date.now())).toThrow(WebhookSignatureError);
  });
});
