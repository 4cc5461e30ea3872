import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { currencyOf, isCurrencyCode, listCurrencies } from './currency.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

describe('currencyOf', () => {
  it('returns the table entry for a current code', () => {
    expect(currencyOf('USD')).toEqual({ code: 'USD', numericCode: '840', exponent: 2, name: 'US Dollar' });
    expect(currencyOf('JPY').exponent).toBe(0);
  });

  it.each(['XXX', 'XAU', 'usd', 'Usd', 'ZZZ', 'BGN'])('rejects %j as UNKNOWN_CURRENCY', (code) => {
    expect(reasonOf(() => currencyOf(code))).toBe('UNKNOWN_CURRENCY');
  });

  it.each(['', 'US', 'USDX', 'US1', ' USD', 'ÜSD', 'U'.repeat(10_000)])('rejects %j as FIELD_INVALID', (code) => {
    expect(reasonOf(() => currencyOf(code))).toBe('FIELD_INVALID');
  });

  it('names the field in the error metadata', () => {
    const error = (() => {
      try {
        currencyOf('ZZZ', 'charge.currency');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TallyError);
    expect((error as TallyError).metadata).toEqual({ field: 'charge.currency', currency: 'ZZZ' });
  });
});

describe('isCurrencyCode', () => {
  it('accepts exactly the listed codes', () => {
    for (const currency of listCurrencies()) expect(isCurrencyCode(currency.code)).toBe(true);
    for (const value of ['usd', 'XXX', 'BGN', '', 840, null, undefined, 'constructor', '__proto__']) {
      expect(isCurrencyCode(value)).toBe(false);
    }
  });
});
