import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { listCurrencies } from './currency.js';
import {
  AMOUNT_MINOR_MAX,
  type Money,
  add,
  compare,
  fromSafeInteger,
  isZero,
  money,
  negate,
  subtract,
  sum,
} from './money.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

const codes = listCurrencies().map((c) => c.code);
const currencyArb = fc.constantFrom(...codes);
// Small enough that sums of three never leave the range, so algebraic laws hold without throwing.
const smallAmountArb = fc.bigInt({ min: -(AMOUNT_MINOR_MAX / 4n), max: AMOUNT_MINOR_MAX / 4n });
const amountArb = fc.bigInt({ min: -AMOUNT_MINOR_MAX, max: AMOUNT_MINOR_MAX });
const usd = (amountMinor: bigint): Money => money(amountMinor, 'USD');

describe('money', () => {
  it('builds a frozen plain object', () => {
    const m = money(1234n, 'EUR');
    expect(m).toEqual({ amountMinor: 1234n, currency: 'EUR' });
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });

  it('accepts exactly the symmetric int64 range', () => {
    expect(AMOUNT_MINOR_MAX).toBe(9_223_372_036_854_775_807n);
    expect(usd(AMOUNT_MINOR_MAX).amountMinor).toBe(AMOUNT_MINOR_MAX);
    expect(usd(-AMOUNT_MINOR_MAX).amountMinor).toBe(-AMOUNT_MINOR_MAX);
    expect(reasonOf(() => usd(AMOUNT_MINOR_MAX + 1n))).toBe('AMOUNT_OUT_OF_RANGE');
    expect(reasonOf(() => usd(-AMOUNT_MINOR_MAX - 1n))).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('rejects bad currencies', () => {
    expect(reasonOf(() => money(1n, 'XXX'))).toBe('UNKNOWN_CURRENCY');
    expect(reasonOf(() => money(1n, 'usd'))).toBe('UNKNOWN_CURRENCY');
    expect(reasonOf(() => money(1n, 'dollars'))).toBe('FIELD_INVALID');
  });

  it('asserts that the amount is a bigint (a programmer error, not a TallyError)', () => {
    expect(() => money(1 as unknown as bigint, 'USD')).toThrow(/assertion failed/);
  });
});

describe('fromSafeInteger', () => {
  it('converts safe integers exactly', () => {
    expect(fromSafeInteger(Number.MAX_SAFE_INTEGER, 'USD').amountMinor).toBe(9_007_199_254_740_991n);
    expect(fromSafeInteger(-5, 'JPY')).toEqual({ amountMinor: -5n, currency: 'JPY' });
    expect(fromSafeInteger(-0, 'USD').amountMinor).toBe(0n);
  });

  it.each([1.5, 0.1, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, -(2 ** 60), 1e300])(
    'rejects %d as FIELD_INVALID',
    (n) => {
      expect(reasonOf(() => fromSafeInteger(n, 'USD'))).toBe('FIELD_INVALID');
    },
  );
});

describe('arithmetic', () => {
  it('add and subtract are exact', () => {
    expect(add(usd(150n), usd(-275n))).toEqual(usd(-125n));
    expect(subtract(usd(150n), usd(275n))).toEqual(usd(-125n));
    expect(negate(usd(5n))).toEqual(usd(-5n));
    expect(negate(usd(-AMOUNT_MINOR_MAX))).toEqual(usd(AMOUNT_MINOR_MAX));
  });

  it('throws CURRENCY_MISMATCH across currencies', () => {
    const eur = money(1n, 'EUR');
    expect(reasonOf(() => add(usd(1n), eur))).toBe('CURRENCY_MISMATCH');
    expect(reasonOf(() => subtract(usd(1n), eur))).toBe('CURRENCY_MISMATCH');
    expect(reasonOf(() => compare(usd(1n), eur))).toBe('CURRENCY_MISMATCH');
    expect(reasonOf(() => sum([usd(1n), eur], 'USD'))).toBe('CURRENCY_MISMATCH');
    expect(reasonOf(() => sum([eur], 'USD'))).toBe('CURRENCY_MISMATCH');
  });

  it('throws AMOUNT_OUT_OF_RANGE on overflow', () => {
    expect(reasonOf(() => add(usd(AMOUNT_MINOR_MAX), usd(1n)))).toBe('AMOUNT_OUT_OF_RANGE');
    expect(reasonOf(() => subtract(usd(-AMOUNT_MINOR_MAX), usd(1n)))).toBe('AMOUNT_OUT_OF_RANGE');
    expect(reasonOf(() => sum([usd(AMOUNT_MINOR_MAX), usd(AMOUNT_MINOR_MAX)], 'USD'))).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('sum checks only the final total, so order does not matter', () => {
    expect(sum([usd(AMOUNT_MINOR_MAX), usd(1n), usd(-1n)], 'USD')).toEqual(usd(AMOUNT_MINOR_MAX));
    expect(sum([], 'JPY')).toEqual(money(0n, 'JPY'));
    expect(reasonOf(() => sum([], 'XXX'))).toBe('UNKNOWN_CURRENCY');
  });

  it('add is associative and commutative', () => {
    fc.assert(
      fc.property(currencyArb, smallAmountArb, smallAmountArb, smallAmountArb, (c, x, y, z) => {
        const [a, b, d] = [money(x, c), money(y, c), money(z, c)];
        expect(add(add(a, b), d)).toEqual(add(a, add(b, d)));
        expect(add(a, b)).toEqual(add(b, a));
      }),
    );
  });

  it('subtract inverts add, and negate is subtraction from zero', () => {
    fc.assert(
      fc.property(currencyArb, smallAmountArb, smallAmountArb, (c, x, y) => {
        const [a, b] = [money(x, c), money(y, c)];
        expect(subtract(add(a, b), b)).toEqual(a);
        expect(add(a, negate(a))).toEqual(money(0n, c));
        expect(negate(a)).toEqual(subtract(money(0n, c), a));
        expect(negate(negate(a))).toEqual(a);
      }),
    );
  });

  it('compare orders like bigint and agrees with subtract; isZero agrees with compare', () => {
    fc.assert(
      fc.property(currencyArb, smallAmountArb, smallAmountArb, (c, x, y) => {
        const [a, b] = [money(x, c), money(y, c)];
        const difference = subtract(a, b).amountMinor;
        expect(compare(a, b)).toBe(difference < 0n ? -1 : difference > 0n ? 1 : 0);
        expect(compare(b, a)).toBe(-compare(a, b) || 0);
        expect(isZero(subtract(a, b))).toBe(compare(a, b) === 0);
      }),
    );
  });

  it('sum is the exact total in any order, range-checked once', () => {
    fc.assert(
      fc.property(currencyArb, fc.array(amountArb, { maxLength: 20 }), (c, amounts) => {
        const list = amounts.map((x) => money(x, c));
        const exact = amounts.reduce((acc, x) => acc + x, 0n);
        if (exact > AMOUNT_MINOR_MAX || exact < -AMOUNT_MINOR_MAX) {
          expect(reasonOf(() => sum(list, c))).toBe('AMOUNT_OUT_OF_RANGE');
        } else {
          expect(sum(list, c)).toEqual(money(exact, c));
          expect(sum([...list].reverse(), c)).toEqual(money(exact, c));
        }
      }),
    );
  });
});
