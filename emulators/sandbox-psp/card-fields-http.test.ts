/**
 * The hosted card fields and the challenge page over HTTP: the page's headers (who may frame it),
 * tokenization (only from the page's own origin; tokens that the official Stripe client and the
 * Adyen wire pay with, with the test card's behaviour), and the challenge page's browser round
 * trip back to the return URL. The in-page postMessage checks run in a real browser in
 * test/sandbox-card-fields.browser.test.ts.
 */
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardTokenResult } from './card-fields.js';
import { type SandboxPsp, startSandboxPsp } from './server.js';

const merchantAccount = 'TallyTestMerchant';
let sandbox: SandboxPsp;
let stripe: Stripe;

beforeAll(async () => {
  sandbox = await startSandboxPsp({ webhookTargets: {}, stripeWebhookSecret: 'whsec_x', adyenHmacKeyHex: '00'.repeat(32), adyenMerchantAccount: merchantAccount, limits: { cardTokensMax: 50 } });
  stripe = new Stripe('sk_test_sandbox', { host: '127.0.0.1', port: sandbox.port, protocol: 'http', maxNetworkRetries: 0, timeout: 5_000, telemetry: false });
});

afterAll(async () => {
  await sandbox.stop();
});

/** POST /elements/tokenize as the card fields page does (its own origin), unless told otherwise. */
async function tokenize(number: string, options: { origin?: string | null; expiry?: string; cvc?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const origin = options.origin === undefined ? sandbox.url : options.origin;
  const response = await fetch(`${sandbox.url}/elements/tokenize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin === null ? {} : { origin }) },
    body: JSON.stringify({ number, expiry: options.expiry ?? '12 / 39', cvc: options.cvc ?? '123' }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function card(number: string): Promise<CardTokenResult> {
  const answer = await tokenize(number);
  expect(answer.status).toBe(200);
  return answer.json as unknown as CardTokenResult;
}

async function adyenPay(token: string, returnUrl = 'https://shop.example/return'): Promise<Record<string, unknown>> {
  const response = await fetch(`${sandbox.url}/v71/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'adyen_test_key' },
    body: JSON.stringify({ merchantAccount, amount: { value: 1999, currency: 'EUR' }, reference: `ref_${Date.now()}`, returnUrl, paymentMethod: { type: 'scheme', storedPaymentMethodId: token } }),
  });
  return (await response.json()) as Record<string, unknown>;
}

describe('GET /elements/card', () => {
  it('serves the fields, framable only by the declared origin, with labelled inputs', async () => {
    const response = await fetch(`${sandbox.url}/elements/card?origin=${encodeURIComponent('http://127.0.0.1:5173')}`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain('frame-ancestors http://127.0.0.1:5173;');
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]{24}'/);
    const html = await response.text();
    for (const id of ['number', 'expiry', 'cvc']) expect(html).toContain(`<label for="${id}">`);
    expect(html).toContain('"parentOrigin":"http://127.0.0.1:5173"');
    // A fresh nonce per page: a nonce seen once is no key to the next page.
    const again = await fetch(`${sandbox.url}/elements/card?origin=${encodeURIComponent('http://127.0.0.1:5173')}`);
    expect(again.headers.get('content-security-policy')).not.toBe(csp);
  });

  it('refuses a missing or malformed origin with 400 (never frame-ancestors *)', async () => {
    for (const query of ['', '?origin=*', '?origin=http%3A%2F%2F127.0.0.1%3A5173%2F', '?origin=javascript%3Aalert(1)']) {
      const response = await fetch(`${sandbox.url}/elements/card${query}`);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: string }).error).toContain('origin: expected');
    }
  });
});

describe('POST /elements/tokenize', () => {
  it('answers tokens per PSP, brand, last4 and country, never the number', async () => {
    const answer = await tokenize('4000 0082 6000 0000');
    expect(answer).toEqual({ status: 200, json: { pspTokens: { stripe: expect.stringMatching(/^pm_/), adyen: expect.stringMatching(/^adyen_tok_/) }, brand: 'visa', last4: '0000', country: 'GB' } });
    expect(JSON.stringify(answer.json)).not.toContain('40000082');
  });

  it('refuses other origins and requests without one (only the hosted page tokenizes)', async () => {
    for (const origin of ['http://127.0.0.1:5173', 'null', null]) {
      const answer = await tokenize('4242424242424242', { origin });
      expect(answer, String(origin)).toEqual({ status: 403, json: { error: expect.objectContaining({ code: 'origin_refused' }) } });
    }
  });

  it('explains a bad card with the field to fix (402), and mints nothing', async () => {
    expect(await tokenize('4242424242424241')).toEqual({ status: 402, json: { error: { code: 'invalid_number', field: 'number', message: 'Your card number is invalid.' } } });
    expect((await tokenize('4242424242424242', { expiry: '01 / 20' })).json).toEqual({ error: expect.objectContaining({ code: 'expired_card_date', field: 'expiry' }) });
    expect((await tokenize('4242424242424242', { cvc: '' })).json).toEqual({ error: expect.objectContaining({ code: 'invalid_cvc', field: 'cvc' }) });
  });

  it('a minted Stripe token pays with its test card behaviour (official stripe client)', async () => {
    const approved = await card('4242424242424242');
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: approved.pspTokens.stripe, confirm: true });
    expect(pi.status).toBe('succeeded');
    const declined = await card('4000000000009995');
    await expect(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: declined.pspTokens.stripe, confirm: true }))
      .rejects.toMatchObject({ type: 'StripeCardError', code: 'card_declined', decline_code: 'insufficient_funds' });
    // A token Stripe never minted is an unknown PaymentMethod, as at Stripe.
    await expect(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_000000000000000000000000', confirm: true }))
      .rejects.toMatchObject({ type: 'StripeInvalidRequestError', code: 'resource_missing' });
  });

  it('a minted Adyen token pays with its test card behaviour', async () => {
    expect(await adyenPay((await card('5555555555554444')).pspTokens.adyen)).toMatchObject({ resultCode: 'Authorised' });
    expect(await adyenPay((await card('4000000000000002')).pspTokens.adyen)).toMatchObject({ resultCode: 'Refused', refusalReasonCode: '2' });
    expect(await adyenPay((await card('4000000000003220')).pspTokens.adyen)).toMatchObject({ resultCode: 'RedirectShopper' });
  });

  it('forgets tokens beyond cardTokensMax, and all of them on reset({ state })', async () => {
    const first = await card('4242424242424242');
    for (let i = 0; i < 50; i++) await card('4242424242424242');
    await expect(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: first.pspTokens.stripe, confirm: true }))
      .rejects.toMatchObject({ code: 'resource_missing' });
    const last = await card('4242424242424242');
    sandbox.control.reset({ state: true });
    await expect(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: last.pspTokens.stripe, confirm: true }))
      .rejects.toMatchObject({ code: 'resource_missing' });
  });
});

describe('the challenge page', () => {
  const returnUrl = 'http://127.0.0.1:9/checkout/#cs_secret_abc';
  const browserPost = (url: string, result: string): Promise<Response> => fetch(url, {
    method: 'POST', redirect: 'manual', body: `result=${result}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
  });

  it('Stripe: Complete authenticates and sends the browser back to return_url (query before the fragment)', async () => {
    const token = (await card('4000000000003220')).pspTokens.stripe;
    const pi = await stripe.paymentIntents.create({ amount: 4200, currency: 'usd', payment_method: token, confirm: true, capture_method: 'manual', return_url: returnUrl });
    expect(pi.status).toBe('requires_action');
    const url = pi.next_action?.redirect_to_url?.url ?? '';
    const page = await (await fetch(url)).text();
    expect(page).toContain('42.00 USD');
    expect(page).toMatch(/<button name="result" value="success"[^>]*>Complete<\/button>/);
    expect(page).toMatch(/<button name="result" value="failure"[^>]*>Fail<\/button>/);
    const done = await browserPost(url, 'success');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`http://127.0.0.1:9/checkout/?payment_intent=${pi.id}&redirect_status=succeeded#cs_secret_abc`);
    expect((await stripe.paymentIntents.retrieve(pi.id)).status).toBe('requires_capture');
    // Posting again (a reload) changes nothing and still sends the shopper back.
    const again = await browserPost(url, 'failure');
    expect(again.headers.get('location')).toContain('redirect_status=succeeded');
    expect(await (await fetch(url)).text()).toContain('already finished');
  });

  it('Stripe: Fail declines the payment and returns with redirect_status=failed', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method: (await card('4000002500003155')).pspTokens.stripe, confirm: true, return_url: returnUrl });
    const done = await browserPost(pi.next_action?.redirect_to_url?.url ?? '', 'failure');
    expect(done.headers.get('location')).toContain('redirect_status=failed');
    const after = await stripe.paymentIntents.retrieve(pi.id);
    expect(after.last_payment_error?.code).toBe('payment_intent_authentication_failure');
  });

  it('Adyen: Complete authorises and returns with redirectResult; scripts still get JSON', async () => {
    const answer = await adyenPay((await card('4000000000003220')).pspTokens.adyen, returnUrl);
    const url = (answer.action as { url: string }).url;
    const done = await browserPost(url, 'success');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/checkout\/\?redirectResult=[\w-]+#cs_secret_abc$/);
    const lookup = await fetch(`${sandbox.url}/_sandbox/adyen/payments/${String(answer.pspReference)}`, { headers: { 'x-api-key': 'adyen_test_key' } });
    expect(((await lookup.json()) as { status: string }).status).toBe('Authorised');
    const script = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"result":"success"}' });
    expect(script.status).toBe(409);
  });

  it('a return URL that is not http(s) is never a redirect', async () => {
    const answer = await adyenPay((await card('4000000000003220')).pspTokens.adyen, 'javascript:alert(1)');
    const url = (answer.action as { url: string }).url;
    const done = await browserPost(url, 'success');
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ completed: true, returnUrl: null });
  });

  it('404 for an unknown payment', async () => {
    expect((await fetch(`${sandbox.url}/_sandbox/challenge/stripe/pi_nope`)).status).toBe(404);
  });
});
