import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { money } from '../money/index.js';
import type { TaxCalculation } from '../tax/tax-types.js';
import {
  beginAttempt, clientSecretMatches, clientSecretSha256, completeSession, endAttempt, expireSession, expiresInMs, priceSession, statusAt,
  type CheckoutSession, type ResolvedLine,
} from './session.js';

const line = (amountMinor: bigint, taxBehavior: 'exclusive' | 'inclusive' = 'exclusive'): ResolvedLine => ({
  name: 'x', priceId: '', quantity: 1n, unitAmountMinor: amountMinor, amountMinor, taxBehavior, taxCategory: 'standard', recurring: null,
});

const t0 = 1_800_000_000_000;
const session: CheckoutSession = {
  id: 'cs_1', tenantId: 'ten_1', mode: 'payment', status: 'open', currency: 'EUR', lines: [], subtotalMinor: 100n, taxMinor: 0n, totalMinor: 100n,
  taxLines: [], automaticTax: false, customerEmail: '', customerCountry: '', customerPostcode: '', customerId: '', paymentId: '', subscriptionId: '',
  successUrl: 'https://a.test', cancelUrl: 'https://a.test', metadata: {}, clientSecretSha256: clientSecretSha256('s'), expiresAtMs: t0 + 60_000,
  createdAtMs: t0, completedAtMs: null, updatedAtMs: t0, attempt: null, declineCode: '', declineMessage: '', traceId: '',
};

const reason = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return error instanceof TallyError ? error.reason : String(error);
  }
  return 'none';
};

describe('checkout session pricing', () => {
  it('without tax: total = sum of amounts, exact', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 1n, max: 10n ** 12n }), { minLength: 1, maxLength: 50 }), (amounts) => {
      const priced = priceSession(amounts.map((a) => line(a)), 'EUR', null);
      const total = amounts.reduce((a, b) => a + b, 0n);
      expect(priced).toMatchObject({ subtotalMinor: total, taxMinor: 0n, totalMinor: total, taxLines: [] });
    }));
  });

  it('with tax: lines add up, tax grouped by rate; a calculation that does not add up is refused', () => {
    const calc = (lines: [bigint, bigint, number][]): TaxCalculation => ({
      engine: 'builtin_eu_vat', engineVersion: 't', fallbackUsed: false, fallbackReason: '', currency: 'EUR', date: '2026-01-01',
      customer: { country: 'FR', postcode: null, vatId: null }, reverseCharge: false, note: '', taxTotal: money(lines.reduce((a, l) => a + l[1], 0n), 'EUR'),
      lines: lines.map(([net, tax, ratePpm], i) => ({ lineId: `li_${i}`, taxBehavior: 'exclusive', net: money(net, 'EUR'), tax: money(tax, 'EUR'), ratePpm, treatment: 'standard', country: 'FR', reason: 'FR' })),
    });
    const priced = priceSession([line(1_000n), line(600n, 'inclusive'), line(300n)], 'EUR', calc([[1_000n, 200n, 200_000], [500n, 100n, 200_000], [300n, 17n, 55_000]]));
    expect(priced).toMatchObject({ subtotalMinor: 1_800n, taxMinor: 317n, totalMinor: 2_117n });
    expect(priced.taxLines.map((t) => [t.ratePpm, t.taxableMinor, t.taxMinor])).toEqual([[200_000, 1_500n, 300n], [55_000, 300n, 17n]]);
    expect(reason(() => priceSession([line(1_000n)], 'EUR', calc([[999n, 200n, 200_000]])))).toBe('TAX_UNAVAILABLE');
    expect(reason(() => priceSession([line(600n, 'inclusive')], 'EUR', calc([[500n, 101n, 200_000]])))).toBe('TAX_UNAVAILABLE');
  });

  it('a total beyond one payment is AMOUNT_OUT_OF_RANGE', () => {
    expect(reason(() => priceSession([line(2n ** 52n), line(2n ** 52n)], 'EUR', null))).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('lifetime: 0 is 24 h; 30 min .. 24 h', () => {
    expect(expiresInMs(0)).toBe(86_400_000);
    expect(expiresInMs(1_800)).toBe(1_800_000);
    expect(reason(() => expiresInMs(1_799))).toBe('FIELD_INVALID');
    expect(reason(() => expiresInMs(86_401))).toBe('FIELD_INVALID');
  });
});

describe('checkout session state machine', () => {
  it('one attempt at a time: another key is CONTENTION until the lease ends or the attempt ends; the same key may retake it', () => {
    const taken = beginAttempt(session, 'k1', t0, 10_000);
    expect(reason(() => beginAttempt(taken, 'k2', t0 + 1, 10_000))).toBe('CONTENTION');
    expect(beginAttempt(taken, 'k1', t0 + 1, 10_000).attempt?.key).toBe('k1');
    expect(beginAttempt(taken, 'k2', t0 + 10_000, 10_000).attempt?.key).toBe('k2');
    const ended = endAttempt(taken, 'k1', t0 + 2, { code: 'card_declined', message: 'no' })!;
    expect(ended).toMatchObject({ attempt: null, declineCode: 'card_declined' });
    expect(beginAttempt(ended, 'k2', t0 + 3, 10_000).attempt?.key).toBe('k2');
    expect(endAttempt(beginAttempt(session, 'k3', t0, 10_000), 'k1', t0, null)).toBeNull();
  });

  it('completes at most once, whatever the order of completions', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('pay_a', 'pay_b'), { minLength: 1, maxLength: 5 }), (payments) => {
      let current = session;
      let changes = 0;
      for (const paymentId of payments) {
        const r = completeSession(current, { paymentId, subscriptionId: '', customerId: 'cus_1' }, t0);
        if (r.changed) changes += 1;
        current = r.session;
      }
      expect(changes).toBe(1);
      expect(current).toMatchObject({ status: 'complete', paymentId: payments[0], attempt: null });
    }));
  });

  it('expires an open session once; a complete one refuses; an expired one refuses attempts', () => {
    const expired = expireSession(session, t0 + 1);
    expect(expired).toMatchObject({ changed: true, session: { status: 'expired' } });
    expect(expireSession(expired.session, t0 + 2).changed).toBe(false);
    const done = completeSession(session, { paymentId: 'pay_1', subscriptionId: '', customerId: '' }, t0).session;
    expect(reason(() => expireSession(done, t0))).toBe('INVALID_STATE_TRANSITION');
    expect(reason(() => beginAttempt(expired.session, 'k', t0 + 3, 1_000))).toBe('CHECKOUT_SESSION_EXPIRED');
    expect(reason(() => expireSession(beginAttempt(session, 'k', t0, 1_000), t0 + 1))).toBe('CONTENTION');
    // Past its expiry, an open session reads as expired.
    expect(statusAt(session, session.expiresAtMs)).toBe('expired');
    expect(reason(() => beginAttempt(session, 'k', session.expiresAtMs, 1_000))).toBe('CHECKOUT_SESSION_EXPIRED');
  });

  it('client secrets: the stored hash matches only the secret', () => {
    const stored = clientSecretSha256('cs_1_secret_abc');
    expect(clientSecretMatches('cs_1_secret_abc', stored)).toBe(true);
    expect(clientSecretMatches('cs_1_secret_abd', stored)).toBe(false);
    expect(clientSecretMatches('', stored)).toBe(false);
    expect(clientSecretMatches('cs_1_secret_abc', 'nothex')).toBe(false);
  });
});
