/**
 * The sandbox PSP against the official SDKs: the `stripe` client drives its Stripe API, Stripe's
 * `webhooks.constructEvent` and Adyen's `HmacValidator` check its webhook signatures, and the
 * control API's faults are observed through its logs and a local webhook receiver.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hmacValidator } from '@adyen/api-library';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxPsp, startSandboxPsp } from '../emulators/sandbox-psp/index.js';
import { eventually } from './support/eventually.js';

const stripeSecret = 'whsec_sandbox_test_secret';
const adyenKeyHex = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const merchantAccount = 'TallyTestMerchant';

interface Received {
  psp: 'stripe' | 'adyen';
  rawBody: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** A webhook target that records raw bodies; `failNext` answers 500 to that many deliveries first. */
async function startReceiver(): Promise<{ url: string; received: Received[]; failNext: { count: number }; close(): Promise<void> }> {
  const received: Received[] = [];
  const failNext = { count: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failNext.count > 0) {
        failNext.count--;
        res.writeHead(500).end('try again');
        return;
      }
      received.push({ psp: req.url === '/adyen' ? 'adyen' : 'stripe', rawBody: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(200).end('[accepted]');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    failNext,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** What `probe` finds once it finds something, within 3 s. */
function waitFor<T>(probe: () => T | undefined): Promise<T> {
  return eventually(() => {
    const value = probe();
    if (value === undefined) throw new Error('nothing received yet');
    return value;
  }, { timeoutMs: 3_000, intervalMs: 10 });
}

function stripeEvents(received: Received[]): Array<{ id: string; type: string; data: { object: Record<string, unknown> } }> {
  return received.filter((r) => r.psp === 'stripe').map((r) => JSON.parse(r.rawBody.toString('utf8')));
}

interface AdyenItem { eventCode: string; success: string; pspReference: string; originalReference?: string; merchantReference: string; amount: { value: number; currency: string }; reason?: string; additionalData: Record<string, string> }

function adyenItems(received: Received[]): AdyenItem[] {
  return received.filter((r) => r.psp === 'adyen').flatMap((r) => (JSON.parse(r.rawBody.toString('utf8')) as { notificationItems: Array<{ NotificationRequestItem: AdyenItem }> }).notificationItems.map((i) => i.NotificationRequestItem));
}

let sandbox: SandboxPsp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let stripe: Stripe;

async function adyen(path: string, body: unknown, idempotencyKey?: string): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'adyen_test_key', ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

function adyenPayment(token: string, reference: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    merchantAccount, amount: { value: 1999, currency: 'EUR' }, reference, returnUrl: 'https://shop.example/return',
    paymentMethod: { type: 'scheme', storedPaymentMethodId: token }, ...extra,
  };
}

async function control(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${sandbox.url}/_control/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  receiver = await startReceiver();
  sandbox = await startSandboxPsp({
    webhookTargets: { stripe: `${receiver.url}/stripe`, adyen: `${receiver.url}/adyen` },
    stripeWebhookSecret: stripeSecret,
    adyenHmacKeyHex: adyenKeyHex,
    adyenMerchantAccount: merchantAccount,
    limits: { timeoutHoldMs: 2_000, webhooks: { concurrencyMax: 1, retryDelayMsBase: 10, retryDelayMsMax: 50 } },
  });
  stripe = new Stripe('sk_test_sandbox', { host: '127.0.0.1', port: sandbox.port, protocol: 'http', maxNetworkRetries: 0, timeout: 2_000, telemetry: false });
});

afterAll(async () => {
  await sandbox?.stop();
  await receiver?.close();
});

beforeEach(() => {
  sandbox.control.reset();
  receiver.received.length = 0;
  receiver.failNext.count = 0;
});

describe('sandbox PSP: Stripe API with the official client', () => {
  it('creates a confirmed PaymentIntent with automatic capture, retrieves it, and finds it by metadata search', async () => {
    const paymentId = `pay_${Date.now()}auto`;
    const pi = await stripe.paymentIntents.create(
      { amount: 2500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, metadata: { tally_payment_id: paymentId } },
      { idempotencyKey: `${paymentId}:authorize:1` },
    );
    expect(pi).toMatchObject({ object: 'payment_intent', status: 'succeeded', amount: 2500, amount_received: 2500, currency: 'usd' });
    expect((await stripe.paymentIntents.retrieve(pi.id)).status).toBe('succeeded');
    const found = await stripe.paymentIntents.search({ query: `metadata['tally_payment_id']:'${paymentId}'` });
    expect(found.data.map((p) => p.id)).toEqual([pi.id]);

    await sandbox.control.webhooksIdle();
    const event = stripeEvents(receiver.received).find((e) => e.type === 'payment_intent.succeeded');
    expect(event?.data.object.id).toBe(pi.id);
  });

  it('manual capture: partial capture releases the rest; cancel; several partial refunds; over-refund refused', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 10_000, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    expect(pi).toMatchObject({ status: 'requires_capture', amount_capturable: 10_000 });
    const captured = await stripe.paymentIntents.capture(pi.id, { amount_to_capture: 7_000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 7_000, amount_capturable: 0 });
    await expect(stripe.paymentIntents.capture(pi.id)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', code: 'payment_intent_unexpected_state' });

    const r1 = await stripe.refunds.create({ payment_intent: pi.id, amount: 3_000, metadata: { tally_refund_id: 'ref_1' } });
    const r2 = await stripe.refunds.create({ payment_intent: pi.id, amount: 4_000 });
    expect([r1.status, r2.status, r1.amount, r2.amount]).toEqual(['succeeded', 'succeeded', 3_000, 4_000]);
    await expect(stripe.refunds.create({ payment_intent: pi.id, amount: 1 })).rejects.toMatchObject({ type: 'StripeInvalidRequestError', code: 'charge_already_refunded' });
    // The control API reports what was refunded (the chaos test's oracle), in process and over HTTP.
    expect(sandbox.control.refundedMinor('stripe', pi.id)).toBe(7_000);
    expect(await control(`refunded?psp=stripe&id=${pi.id}`)).toEqual({ status: 200, json: { psp: 'stripe', id: pi.id, refundedMinor: 7_000 } });
    expect((await control('refunded?psp=stripe&id=pi_unknown')).status).toBe(404);

    const other = await stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    expect((await stripe.paymentIntents.cancel(other.id)).status).toBe('canceled');
    await expect(stripe.refunds.create({ payment_intent: other.id })).rejects.toMatchObject({ type: 'StripeInvalidRequestError', code: 'payment_intent_unexpected_state' });

    await sandbox.control.webhooksIdle();
    const types = stripeEvents(receiver.received).map((e) => e.type);
    expect(types.filter((t) => t === 'charge.refunded')).toHaveLength(2);
    expect(types).toContain('payment_intent.amount_capturable_updated');
    expect(types).toContain('payment_intent.canceled');
  });

  it('declines answer 402 card errors with decline codes and a PaymentIntent left in requires_payment_method', async () => {
    const error = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({ statusCode: 402, code: 'card_declined', decline_code: 'insufficient_funds' });
    const pi = (error as Stripe.errors.StripeCardError).payment_intent;
    expect(pi?.status).toBe('requires_payment_method');
    expect(pi?.last_payment_error?.decline_code).toBe('insufficient_funds');
    await expect(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_nope', confirm: true }))
      .rejects.toMatchObject({ type: 'StripeInvalidRequestError', code: 'resource_missing' });
  });

  it('honours Idempotency-Key: same parameters replay, other parameters are an idempotency_error', async () => {
    const key = `idem-${Date.now()}`;
    const a = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: key });
    const b = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    await expect(stripe.paymentIntents.create({ amount: 1300, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: key }))
      .rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    const requests = sandbox.control.requests('stripe').filter((r) => r.idempotencyKey === key);
    expect(requests.map((r) => [r.status, r.replayed])).toEqual([[200, false], [200, true], [400, false]]);
  });

  it('requires_action with a redirect; the sandbox challenge page completes it', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 4200, currency: 'usd', payment_method: 'pm_card_threeDSecure2Required', confirm: true, capture_method: 'manual', return_url: 'https://shop.example/back',
    });
    expect(pi.status).toBe('requires_action');
    const url = pi.next_action?.redirect_to_url?.url ?? '';
    expect(url).toBe(`${sandbox.url}/_sandbox/challenge/stripe/${pi.id}`);
    expect((await fetch(url)).status).toBe(200);
    const done = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'result=success' });
    expect(done.status).toBe(200);
    expect((await stripe.paymentIntents.retrieve(pi.id)).status).toBe('requires_capture');
  });

  it('timeout card: the client gives up, yet the payment exists and succeeded', async () => {
    const quick = new Stripe('sk_test_sandbox', { host: '127.0.0.1', port: sandbox.port, protocol: 'http', maxNetworkRetries: 0, timeout: 300, telemetry: false });
    const paymentId = `pay_${Date.now()}timeout`;
    await expect(quick.paymentIntents.create({ amount: 800, currency: 'usd', payment_method: 'pm_card_sandboxTimeout', confirm: true, metadata: { tally_payment_id: paymentId } }))
      .rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const found = await stripe.paymentIntents.search({ query: `metadata['tally_payment_id']:'${paymentId}'` });
    expect(found.data[0]?.status).toBe('succeeded');
  });

  it('checks amounts against currency exponents (zero- and three-decimal, ISK)', async () => {
    const yen = await stripe.paymentIntents.create({ amount: 500, currency: 'jpy', payment_method: 'pm_card_visa', confirm: true });
    expect(yen).toMatchObject({ amount_received: 500, currency: 'jpy' });
    await expect(stripe.paymentIntents.create({ amount: 1005, currency: 'bhd', payment_method: 'pm_card_visa', confirm: true })).rejects.toMatchObject({ param: 'amount' });
    await expect(stripe.paymentIntents.create({ amount: 1234, currency: 'isk', payment_method: 'pm_card_visa', confirm: true })).rejects.toMatchObject({ param: 'amount' });
    await expect(stripe.paymentIntents.create({ amount: 100, currency: 'xyz', payment_method: 'pm_card_visa', confirm: true })).rejects.toMatchObject({ param: 'currency' });
    expect((await stripe.paymentIntents.create({ amount: 1200, currency: 'isk', payment_method: 'pm_card_visa', confirm: true })).status).toBe('succeeded');
  });

  it('refuses missing or non-test API keys with 401', async () => {
    const bad = new Stripe('sk_live_nope', { host: '127.0.0.1', port: sandbox.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
    await expect(bad.paymentIntents.retrieve('pi_x')).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });
});

describe('sandbox PSP: webhook signatures checked by the official SDKs', () => {
  it('Stripe events verify with stripe.webhooks.constructEvent (and fail with another secret)', async () => {
    await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    await sandbox.control.webhooksIdle();
    const delivery = await waitFor(() => receiver.received.find((r) => r.psp === 'stripe'));
    const header = delivery.headers['stripe-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const event = stripe.webhooks.constructEvent(delivery.rawBody, header, stripeSecret);
    expect(event.type).toBe('payment_intent.amount_capturable_updated');
    expect(() => stripe.webhooks.constructEvent(delivery.rawBody, header, 'whsec_other')).toThrow(Stripe.errors.StripeSignatureVerificationError);
  });

  it('Adyen notification items validate with HmacValidator, and its calculateHmac gives the same signature', async () => {
    const reference = `pay_${Date.now()}hmac`;
    const answer = await adyen('/v71/payments', adyenPayment('adyen_refused_insufficient_funds', reference), `${reference}:authorize:1`);
    expect(answer.json).toMatchObject({ resultCode: 'Refused', refusalReason: 'Not enough balance', refusalReasonCode: '12' });
    await sandbox.control.webhooksIdle();
    const item = await waitFor(() => adyenItems(receiver.received).find((i) => i.merchantReference === reference));
    const oracle = new hmacValidator();
    expect(oracle.validateHMAC(item as never, adyenKeyHex)).toBe(true);
    expect(oracle.calculateHmac(item as never, adyenKeyHex)).toBe(item.additionalData.hmacSignature);
    expect(oracle.validateHMAC({ ...item, amount: { ...item.amount, value: 1 } } as never, adyenKeyHex)).toBe(false);
    expect(item).toMatchObject({ eventCode: 'AUTHORISATION', success: 'false', reason: 'Not enough balance' });
  });
});

describe('sandbox PSP: Adyen Checkout API', () => {
  it('authorises with manual capture; capture, refunds and their failures arrive as webhooks', async () => {
    const reference = `pay_${Date.now()}adyen`;
    const auth = await adyen('/v71/payments', adyenPayment('adyen_success', reference, { additionalData: { manualCapture: 'true' } }), `${reference}:a`);
    expect(auth.status).toBe(200);
    expect(auth.json).toMatchObject({ resultCode: 'Authorised', merchantReference: reference, amount: { value: 1999, currency: 'EUR' } });
    const psp = auth.json.pspReference as string;
    expect(psp).toMatch(/^[0-9A-F]{16}$/);

    const capture = await adyen(`/v71/payments/${psp}/captures`, { merchantAccount, amount: { value: 1500, currency: 'EUR' }, reference }, `${reference}:c`);
    expect(capture.status).toBe(201);
    expect(capture.json).toMatchObject({ status: 'received', paymentPspReference: psp });
    await adyen(`/v71/payments/${psp}/refunds`, { merchantAccount, amount: { value: 1000, currency: 'EUR' }, reference: `${reference}/ref_1` }, `${reference}:r1`);
    await adyen(`/v71/payments/${psp}/refunds`, { merchantAccount, amount: { value: 1000, currency: 'EUR' }, reference: `${reference}/ref_2` }, `${reference}:r2`);
    await sandbox.control.webhooksIdle();
    const items = adyenItems(receiver.received).filter((i) => i.originalReference === psp || i.pspReference === psp);
    expect(items.map((i) => `${i.eventCode}:${i.success}`)).toEqual(['AUTHORISATION:true', 'CAPTURE:true', 'REFUND:true', 'REFUND:false']);
    expect(items[3]?.merchantReference).toBe(`${reference}/ref_2`);

    const unknown = await adyen('/v71/payments/0000000000000000/captures', { merchantAccount, amount: { value: 1, currency: 'EUR' } });
    expect(unknown).toMatchObject({ status: 422, json: { errorCode: '167' } });
  });

  it('answers RedirectShopper for the challenge card and 401 without an API key', async () => {
    const reference = `pay_${Date.now()}3ds`;
    const answer = await adyen('/v71/payments', adyenPayment('adyen_3ds_challenge', reference));
    expect(answer.json).toMatchObject({ resultCode: 'RedirectShopper', action: { type: 'redirect', method: 'GET' } });
    const noKey = await fetch(`${sandbox.url}/v71/payments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
  });

  it('idempotency: a replay returns the first answer and creates nothing new', async () => {
    const reference = `pay_${Date.now()}idem`;
    const first = await adyen('/v71/payments', adyenPayment('adyen_success', reference), `${reference}:authorize:1`);
    const second = await adyen('/v71/payments', adyenPayment('adyen_success', reference), `${reference}:authorize:1`);
    expect(second.json.pspReference).toBe(first.json.pspReference);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const lookup = await fetch(`${sandbox.url}/_sandbox/adyen/payments?merchantReference=${reference}`, { headers: { 'x-api-key': 'k' } });
    expect(((await lookup.json()) as { payments: unknown[] }).payments).toHaveLength(1);
  });
});

describe('sandbox PSP: control API', () => {
  it('validates fault settings and applies them reproducibly from a seed', async () => {
    expect((await control('faults', { stripe: { timeoutRate: 2 } })).status).toBe(400);
    expect((await control('faults', { stripe: { serverErrorBeforeRate: 0.6, serverErrorAfterRate: 0.6 } })).status).toBe(400);
    expect((await control('faults', { paypal: {} })).status).toBe(400);

    const run = async (): Promise<number[]> => {
      await control('faults', { seed: 42, adyen: { serverErrorBeforeRate: 0.5 } });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await adyen('/v71/payments', adyenPayment('adyen_success', `pay_seed${i}`))).status);
      return statuses;
    };
    const first = await run();
    const second = await run();
    expect(first).toEqual(second);
    expect(new Set(first)).toEqual(new Set([200, 503]));
    const logged = (await control('requests?psp=adyen')).json.requests as Array<{ fault: string }>;
    expect(logged.filter((r) => r.fault === 'error_before')).toHaveLength(first.filter((s) => s === 503).length * 2);
  });

  it('5xx before processing is retryable with the same key; 5xx after processing is saved and replayed', async () => {
    const reference = `pay_${Date.now()}5xx`;
    const before = await adyen('/v71/payments', adyenPayment('adyen_error_before', reference), `${reference}:k1`);
    expect(before.status).toBe(503);
    expect(before.headers.get('transient-error')).toBe('true');
    const after = await adyen('/v71/payments', adyenPayment('adyen_error_after', reference), `${reference}:k2`);
    const replay = await adyen('/v71/payments', adyenPayment('adyen_error_after', reference), `${reference}:k2`);
    expect([after.status, replay.status]).toEqual([500, 500]);
    const lookup = await fetch(`${sandbox.url}/_sandbox/adyen/payments?merchantReference=${reference}`, { headers: { 'x-api-key': 'k' } });
    expect(((await lookup.json()) as { payments: Array<{ status: string }> }).payments.map((p) => p.status)).toEqual(['Authorised']);
  });

  it('webhook faults: drop, duplicate, delay, hold-and-reverse, and retries with backoff on non-2xx', async () => {
    const pay = (token = 'pm_card_visa'): Promise<Stripe.PaymentIntent> => stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method: token, confirm: true });

    await control('faults', { stripe: { webhookDropRate: 1 } });
    await pay();
    await sandbox.control.webhooksIdle();
    expect(receiver.received).toHaveLength(0);
    expect(sandbox.control.webhooks('stripe').map((w) => w.outcome)).toEqual(['dropped']);

    await control('reset', {});
    await control('faults', { stripe: { webhookDuplicateRate: 1 } });
    await pay();
    await sandbox.control.webhooksIdle();
    const ids = stripeEvents(receiver.received).map((e) => e.id);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);

    await control('reset', {});
    receiver.received.length = 0;
    await control('faults', { stripe: { webhookHold: true } });
    const order = [await pay(), await pay(), await pay()].map((p) => p.id);
    await sandbox.control.webhooksIdle();
    expect(receiver.received).toHaveLength(0);
    expect(sandbox.control.heldWebhooks('stripe')).toBe(3);
    expect((await control('webhooks/release', { psp: 'stripe' })).json.released).toBe(3);
    await sandbox.control.webhooksIdle();
    expect(stripeEvents(receiver.received).map((e) => e.data.object.id)).toEqual([...order].reverse());

    await control('reset', {});
    receiver.received.length = 0;
    await control('faults', { stripe: { webhookDelayMs: 150 } });
    const started = Date.now();
    await pay();
    await waitFor(() => receiver.received[0]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    await control('reset', {});
    receiver.received.length = 0;
    receiver.failNext.count = 2;
    await pay();
    await sandbox.control.webhooksIdle();
    const attempts = ((await control('webhooks?psp=stripe')).json.webhooks as Array<{ attempt: number; outcome: string; status: number }>);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.status])).toEqual([[1, 'failed', 500], [2, 'failed', 500], [3, 'delivered', 200]]);
    expect(receiver.received).toHaveLength(1);
  });

  it('reorder window: holds N events and sends them newest first', async () => {
    await control('faults', { adyen: { webhookReorderWindow: 2 } });
    const refs = [`pay_${Date.now()}ro1`, `pay_${Date.now()}ro2`];
    for (const reference of refs) await adyen('/v71/payments', adyenPayment('adyen_success', reference, { additionalData: { manualCapture: 'true' } }));
    await sandbox.control.webhooksIdle();
    expect(adyenItems(receiver.received).map((i) => i.merchantReference)).toEqual([...refs].reverse());
  });

  it('bounds request bodies (413) and answers unknown routes with 404', async () => {
    const big = await fetch(`${sandbox.url}/v71/payments`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: 'x'.repeat(1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect((await fetch(`${sandbox.url}/nope`)).status).toBe(404);
  });
});
