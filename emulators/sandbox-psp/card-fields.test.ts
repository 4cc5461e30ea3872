import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CardTokenVault, brandOf, cardFieldsHeaders, checkCardInput, luhnValid, parseCardInput, parseParentOrigin, testCardNumbers } from './card-fields.js';
import { withQuery } from './challenge-page.js';
import { stripeTestCard } from './test-cards.js';

const nowMs = Date.UTC(2026, 11, 7, 12, 0, 0);
const visa = testCardNumbers[0]!;

describe('card fields: test card numbers', () => {
  it('every number is a valid card number of its brand, mapped to an existing sandbox test card', () => {
    for (const card of testCardNumbers) {
      expect(luhnValid(card.number), card.number).toBe(true);
      expect(brandOf(card.number), card.number).toBe(card.brand);
      expect(stripeTestCard(card.stripeToken), card.number).toBeDefined();
      expect(card.country).toMatch(/^[A-Z]{2}$/);
    }
    expect(new Set(testCardNumbers.map((c) => c.number)).size).toBe(testCardNumbers.length);
  });

  it('covers approve, every buyer-facing decline reason and the challenge', () => {
    const kinds = testCardNumbers.map((c) => stripeTestCard(c.stripeToken)!.behaviour);
    expect(kinds.some((b) => b.kind === 'approve')).toBe(true);
    expect(kinds.some((b) => b.kind === 'challenge')).toBe(true);
    const declineCodes = new Set(kinds.flatMap((b) => (b.kind === 'decline' ? [b.decline.stripeDeclineCode] : [])));
    expect(declineCodes).toEqual(new Set(['generic_decline', 'insufficient_funds', 'expired_card', 'incorrect_cvc', 'fraudulent']));
  });

  it('Luhn: a number with its check digit is valid, and changing any one digit makes it invalid', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 11, maxLength: 18 }), fc.nat(), fc.integer({ min: 1, max: 9 }), (body, at, delta) => {
      const payload = body.join('');
      const check = [...Array(10).keys()].find((d) => luhnValid(`${payload}${d}`));
      expect(check).toBeDefined();
      const number = `${payload}${check}`;
      const index = at % number.length;
      const changed = `${number.slice(0, index)}${(Number(number[index]) + delta) % 10}${number.slice(index + 1)}`;
      expect(luhnValid(changed)).toBe(false);
    }));
  });
});

describe('card fields: checking what the buyer typed', () => {
  const ok = { number: '4242 4242 4242 4242', expiry: '12 / 30', cvc: '123' };

  it('accepts spaces and dashes in the number and MM / YY, MM/YY, MMYY, MM/YYYY expiries', () => {
    for (const expiry of ['12 / 30', '12/30', '1230', '12/2030', '1/30']) {
      expect(checkCardInput({ ...ok, expiry }, nowMs), expiry).toEqual({ card: visa });
    }
    expect(checkCardInput({ ...ok, number: '4242-4242-4242-4242' }, nowMs)).toEqual({ card: visa });
    // The current month is still valid (a card expires after the last day of its month).
    expect(checkCardInput({ ...ok, expiry: '12 / 26' }, nowMs)).toEqual({ card: visa });
  });

  it('refuses each bad field with the field to fix', () => {
    const cases: Array<[Partial<typeof ok>, string, string]> = [
      [{ number: '4242 4242 4242 4241' }, 'invalid_number', 'number'],
      [{ number: '4242' }, 'invalid_number', 'number'],
      [{ number: '6011111111111117' }, 'invalid_number', 'number'], // Discover: not a brand the fields take
      [{ number: '4111111111111111' }, 'test_card_required', 'number'], // valid Visa, but not a sandbox test number
      [{ expiry: '13 / 30' }, 'incomplete_expiry', 'expiry'],
      [{ expiry: '12' }, 'incomplete_expiry', 'expiry'],
      [{ expiry: '11 / 26' }, 'expired_card_date', 'expiry'],
      [{ cvc: '12' }, 'invalid_cvc', 'cvc'],
      [{ cvc: '1234' }, 'invalid_cvc', 'cvc'],
      [{ number: '378282246310005', cvc: '123' }, 'invalid_cvc', 'cvc'], // Amex: four digits
    ];
    for (const [patch, code, field] of cases) {
      expect(checkCardInput({ ...ok, ...patch }, nowMs), JSON.stringify(patch)).toEqual({ error: expect.objectContaining({ code, field }) });
    }
    expect(checkCardInput({ ...ok, number: '3782 822463 10005', cvc: '1234' }, nowMs)).toEqual({ card: expect.objectContaining({ brand: 'amex' }) });
  });

  it('parses the tokenize body strictly', () => {
    expect(parseCardInput(JSON.stringify(ok))).toEqual(ok);
    expect(() => parseCardInput('nope')).toThrow(expect.objectContaining({ name: 'SandboxInputError', message: 'expected a JSON body { number, expiry, cvc }' }));
    expect(() => parseCardInput('{"number":1,"expiry":"","cvc":""}')).toThrow(expect.objectContaining({ message: 'number: expected a string of at most 32 characters' }));
    expect(() => parseCardInput(JSON.stringify({ ...ok, cvc: 'x'.repeat(33) }))).toThrow(expect.objectContaining({ message: 'cvc: expected a string of at most 32 characters' }));
  });
});

describe('card fields: token vault', () => {
  it('mints fresh tokens per card entered that resolve to its test card, and keeps the fixed test tokens', () => {
    const vault = new CardTokenVault(10);
    const declined = testCardNumbers.find((c) => c.number === '4000000000000002')!;
    const a = vault.mint(declined);
    const b = vault.mint(declined);
    expect(a).toEqual({ pspTokens: { stripe: expect.stringMatching(/^pm_[0-9a-f]{24}$/), adyen: expect.stringMatching(/^adyen_tok_[0-9a-f]{24}$/) }, brand: 'visa', last4: '0002', country: 'US' });
    expect(b.pspTokens.stripe).not.toBe(a.pspTokens.stripe);
    expect(vault.stripeCard(a.pspTokens.stripe)?.stripeTokens).toEqual(['pm_card_chargeDeclined']);
    expect(vault.adyenCard(a.pspTokens.adyen)?.adyenToken).toBe('adyen_refused_generic');
    // A token of one PSP means nothing to the other.
    expect(vault.stripeCard(a.pspTokens.adyen)).toBeUndefined();
    expect(vault.stripeCard('pm_card_visa')?.adyenToken).toBe('adyen_success');
    expect(vault.adyenCard('adyen_3ds_challenge')?.behaviour.kind).toBe('challenge');
  });

  it('is bounded: beyond tokensMax the oldest tokens are forgotten first', () => {
    const vault = new CardTokenVault(3);
    const minted = Array.from({ length: 5 }, () => vault.mint(visa).pspTokens);
    expect(vault.size()).toBe(3);
    expect(minted.map((t) => vault.stripeCard(t.stripe) !== undefined)).toEqual([false, false, true, true, true]);
    expect(minted.map((t) => vault.adyenCard(t.adyen) !== undefined)).toEqual([false, false, true, true, true]);
    expect(() => new CardTokenVault(0)).toThrow('tokensMax must be a positive integer');
  });
});

describe('card fields: origins', () => {
  it('takes an origin exactly as location.origin spells it', () => {
    for (const origin of ['http://127.0.0.1:5173', 'https://shop.example', 'http://localhost:8080']) expect(parseParentOrigin(origin)).toBe(origin);
    for (const bad of [null, '', 'null', '*', 'https://shop.example/', 'https://shop.example/pay', 'javascript:alert(1)', 'file:///tmp', 'shop.example', 'HTTPS://SHOP.EXAMPLE', 'https://user@shop.example']) {
      expect(() => parseParentOrigin(bad), String(bad)).toThrow(expect.objectContaining({ name: 'SandboxInputError', message: expect.stringContaining('origin: expected') }));
    }
  });

  it('lets only the declared origin frame the page, and runs only its own nonce-bearing script', () => {
    const csp = cardFieldsHeaders('https://shop.example', 'abc')['content-security-policy'];
    expect(csp).toContain('frame-ancestors https://shop.example;');
    expect(csp).toContain("script-src 'nonce-abc'");
    expect(csp).toContain("default-src 'none'");
  });

  it('return URLs: query added before the fragment; anything but http(s) is no return URL', () => {
    expect(withQuery('http://127.0.0.1:1/checkout/?a=1#cs_secret', { redirect_status: 'succeeded' })).toBe('http://127.0.0.1:1/checkout/?a=1&redirect_status=succeeded#cs_secret');
    expect(withQuery('javascript:alert(1)', { x: '1' })).toBeNull();
    expect(withQuery('/relative', { x: '1' })).toBeNull();
  });
});
