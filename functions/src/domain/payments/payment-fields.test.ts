import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { isCountryCode, validateCardBrand, validateCountry, validateCustomerEmail, validateCustomerName, validateReturnUrl } from './payment-fields.js';

/** The FIELD_INVALID field a call refuses with, or 'accepted'. */
const refusal = (run: () => unknown): string => {
  try { run(); } catch (e) {
    expect(e).toBeInstanceOf(TallyError);
    expect((e as TallyError).reason).toBe('FIELD_INVALID');
    return String((e as TallyError).metadata.field);
  }
  return 'accepted';
};

describe('return URLs (issue 11 item 10)', () => {
  it.each([
    'https://shop.example/done\r\nSet-Cookie: a=b', 'https://shop.example/\ndone', 'https://shop.example/\tdone', 'https://shop.example/\u0000',
    'https://shop.example/\u2028', 'https://shop.example/a b', ' https://shop.example/', 'javascript:alert(1)', 'JAVASCRIPT:alert(1)',
    'java\nscript:alert(1)', 'data:text/html,x', 'http://shop.example/', '//shop.example/', 'https://u:p@shop.example/',
  ])('refuses %j', (value) => {
    expect(refusal(() => validateReturnUrl(value))).toBe('return_url');
  });

  it('accepts https URLs and local http, and "none"', () => {
    expect(validateReturnUrl('https://shop.example/done?order=1#x')).toBe('https://shop.example/done?order=1#x');
    expect(validateReturnUrl('http://localhost:3000/done')).toBe('http://localhost:3000/done');
    expect(validateReturnUrl('')).toBeNull();
  });

  it('property: an accepted URL never carries a control character or whitespace', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.constantFrom('https://shop.example/', 'https://shop.example/?q=', ''), (tail, head) => {
      const value = head + tail;
      if (refusal(() => validateReturnUrl(value)) === 'accepted' && value !== '') expect(value).not.toMatch(/[\u0000-\u0020\u007f-\u009f\u2028\u2029\s]/);
    }), { seed: 11, numRuns: 1_000 });
  });
});

describe('customers', () => {
  it.each(['not-an-email', 'a@b', 'a@@b.example', 'a b@shop.example', 'a@shop.example\r\nBcc: x@y.example', '<a@shop.example>', `${'a'.repeat(65)}@shop.example`, `a@${'b'.repeat(250)}.example`, 'ä@shop.example'])(
    'email %j is refused', (value) => expect(refusal(() => validateCustomerEmail(value))).toBe('email'),
  );
  it('emails: ordinary addresses and none', () => {
    for (const v of ['ada@shop.example', 'a.b+tag@mail.shop-1.example', '']) expect(validateCustomerEmail(v)).toBe(v);
  });
  it.each(['Ada\nLovelace', 'Ada\u0000', 'Ada\u0085', '   ', 'x'.repeat(201)])('name %j is refused', (value) => expect(refusal(() => validateCustomerName(value))).toBe('name'));
  it('names: any script, up to 200 characters (not UTF-16 units)', () => {
    for (const v of ['Ada Lovelace', 'Zoë Ðurić', '山田太郎', '🙂'.repeat(200), '']) expect(validateCustomerName(v)).toBe(v);
  });
});

describe('payment methods', () => {
  it.each(['VISA', 'visa1', 'master card', 'a'.repeat(33), 'visa\n', 'vísa'])('brand %j is refused', (value) => expect(refusal(() => validateCardBrand(value))).toBe('brand'));
  it('brands as PSPs name them', () => {
    for (const v of ['visa', 'mastercard', 'amex', 'cartes_bancaires', '']) expect(validateCardBrand(v)).toBe(v);
  });
  it.each(['fr', 'FRA', 'USA', 'UK', 'EU', 'ZZ', 'AA', 'XX', 'F', '1A', 'SU', 'AC'])('country %j is refused', (value) => expect(refusal(() => validateCountry(value))).toBe('country'));
  it('ISO 3166-1 alpha-2 codes', () => {
    for (const v of ['FR', 'US', 'GB', 'NL', 'DE', 'JP', 'BR', 'SS', 'CW', 'XK', '']) expect(validateCountry(v)).toBe(v);
    let count = 0;
    for (let a = 65; a < 91; a++) for (let b = 65; b < 91; b++) if (isCountryCode(String.fromCharCode(a, b))) count++;
    // ISO 3166-1 assigns 249 codes; XK makes 250.
    expect(count).toBe(250);
  });
});
