/** Webhook verifiers refuse to run with an empty secret (issue 11 item 6, ADR 0019). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAdyenGateway } from './adyen/client.js';
import { adyenSigningString, verifyAdyenItem } from './adyen/webhook-signature.js';
import { createStripeGateway } from './stripe/client.js';
import { verifyStripeSignature } from './stripe/webhook-signature.js';

describe('Stripe: an empty webhook secret is a programmer error, never a key', () => {
  const body = Buffer.from('{"id":"evt_1"}');
  const nowMs = 1_760_000_000_000;
  const t = Math.floor(nowMs / 1000);
  // What an attacker computes when the secret is empty: HMAC-SHA256 under the empty key.
  const forged = createHmac('sha256', '').update(`${t}.`).update(body).digest('hex');
  const header = `t=${t},v1=${forged}`;

  it.each([[''], ['  '], ['whsec_ok', '']])('verifyStripeSignature with secrets %j throws an assertion, not a match', (...secrets) => {
    expect(() => verifyStripeSignature(body, header, secrets, 300, nowMs)).toThrow(/assertion failed: Stripe webhook secrets are non-empty/);
  });

  it('the gateway cannot be built with an empty secret', () => {
    expect(() => createStripeGateway({ apiKey: 'sk_test_x', webhookSecret: '', timeoutMs: 1_000 })).toThrow(/assertion failed: Stripe webhook secrets are non-empty/);
    expect(() => createStripeGateway({ apiKey: 'sk_test_x', webhookSecret: [], timeoutMs: 1_000 })).toThrow(/at least one Stripe webhook secret/);
  });
});

describe('Adyen: an empty HMAC key is a programmer error, never a key', () => {
  const item = { pspReference: 'P1', merchantAccountCode: 'M', merchantReference: 'pay_x', amount: { value: 100, currency: 'EUR' }, eventCode: 'AUTHORISATION', success: 'true' };
  const signature = createHmac('sha256', Buffer.alloc(0)).update(adyenSigningString(item), 'utf8').digest('base64');

  it.each([[''], ['AB', ''], ['xyz']])('verifyAdyenItem with keys %j throws an assertion', (...keys) => {
    expect(() => verifyAdyenItem({ ...item, additionalData: { hmacSignature: signature } }, keys)).toThrow(/assertion failed: Adyen HMAC keys are non-empty hex/);
  });

  it('the gateway cannot be built with an empty key', () => {
    expect(() => createAdyenGateway({ apiKey: 'k', merchantAccount: 'M', hmacKeyHex: '', baseUrl: 'http://127.0.0.1:1/v71', timeoutMs: 1_000 })).toThrow(/assertion failed: Adyen HMAC keys/);
  });
});
