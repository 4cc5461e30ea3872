import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { ALLOCATE_PARTS_MAX, allocate, allocateEvenly } from './allocate.js';
import { listCurrencies } from './currency.js';
import { AMOUNT_MINOR_MAX, type Money, money } from './money.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

const amounts = (parts: readonly Money[]): bigint[] => parts.map((p) => p.amountMinor);
const usd = (amountMinor: bigint): Money => money(amountMinor, 'USD');

const amountArb = fc.oneof(
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.bigInt({ min: -AMOUNT_MINOR_MAX, max: AMOUNT_MINOR_MAX }),
);
const ratiosArb = fc
  .array(fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10n }), fc.bigInt({ min: 0n, max: 2n ** 70n })), {
    minLength: 1,
    maxLength: 30,
  })
  .filter((ratios) => ratios.some((r) => r > 0n));

describe('allocate', () => {
  it.each([
    [100n, [1n, 1n, 1n], [34n, 33n, 33n]],
    [-100n, [1n, 1n, 1n], [-34n, -33n, -33n]],
    [5n, [1n, 1n], [3n, 2n]], // tie: earlier index first
    [5n, [3n, 7n], [2n, 3n]], // shares 1.5 and 3.5: tie on remainder, earlier index
    [100n, [70n, 20n, 10n], [70n, 20n, 10n]],
    [1n, [0n, 1n, 1n], [0n, 1n, 0n]], // zero ratio gets zero even when it is first
    [2n, [1n, 0n, 1n, 0n], [1n, 0n, 1n, 0n]],
    [0n, [1n, 2n], [0n, 0n]],
    [10n, [1n], [10n]],
    [1000n, [333n, 333n, 334n], [333n, 333n, 334n]],
    [7n, [2n, 2n, 3n], [2n, 2n, 3n]],
    [8n, [1n, 1n, 1n], [3n, 3n, 2n]],
  ])('splits %s by [%s] into [%s]', (total, ratios, expected) => {
    expect(amounts(allocate(usd(total), ratios))).toEqual(expected);
  });

  it('keeps the currency and returns frozen Money', () => {
    const parts = allocate(money(10n, 'JPY'), [1n, 2n]);
    for (const part of parts) {
      expect(part.currency).toBe('JPY');
      expect(Object.isFrozen(part)).toBe(true);
    }
  });

  it('sums exactly, stays within one unit of the exact share, and gives zero ratios zero', () => {
    fc.assert(
      fc.property(fc.constantFrom(...listCurrencies().map((c) => c.code)), amountArb, ratiosArb, (currency, total, ratios) => {
        const parts = allocate(money(total, currency), ratios);
        expect(parts).toHaveLength(ratios.length);
        expect(amounts(parts).reduce((a, b) => a + b, 0n)).toBe(total);
        const ratioSum = ratios.reduce((a, b) => a + b, 0n);
        parts.forEach((part, i) => {
          const r = ratios[i] ?? 0n;
          expect(part.currency).toBe(currency);
          // |part - total * r / ratioSum| < 1, multiplied through by ratioSum.
          const scaledError = part.amountMinor * ratioSum - total * r;
          expect(scaledError < ratioSum && scaledError > -ratioSum).toBe(true);
          if (r === 0n) expect(part.amountMinor).toBe(0n);
          // Never crosses zero: every part has the sign of the total (or is zero).
          expect(part.amountMinor === 0n || (part.amountMinor < 0n) === (total < 0n)).toBe(true);
        });
      }),
    );
  });

  it('mirrors for negative totals', () => {
    fc.assert(
      fc.property(amountArb, ratiosArb, (total, ratios) => {
        expect(amounts(allocate(usd(-total), ratios))).toEqual(amounts(allocate(usd(total), ratios)).map((p) => -p));
      }),
    );
  });

  it('is deterministic and depends only on the ratio proportions', () => {
    fc.assert(
      fc.property(amountArb, ratiosArb, fc.bigInt({ min: 1n, max: 1000n }), (total, ratios, k) => {
        const parts = amounts(allocate(usd(total), ratios));
        expect(amounts(allocate(usd(total), ratios))).toEqual(parts);
        expect(amounts(allocate(usd(total), ratios.map((r) => r * k)))).toEqual(parts);
      }),
    );
  });

  it.each([
    [[], 'no ratios'],
    [[0n, 0n], 'no positive ratio'],
    [[1n, -1n], 'a negative ratio'],
    [new Array<bigint>(ALLOCATE_PARTS_MAX + 1).fill(1n), 'too many ratios'],
  ])('rejects %# (%s) as FIELD_INVALID', (ratios) => {
    expect(reasonOf(() => allocate(usd(100n), ratios))).toBe('FIELD_INVALID');
  });

  it('handles the maximum number of parts quickly', () => {
    const parts = allocate(usd(AMOUNT_MINOR_MAX), new Array<bigint>(ALLOCATE_PARTS_MAX).fill(1n));
    expect(amounts(parts).reduce((a, b) => a + b, 0n)).toBe(AMOUNT_MINOR_MAX);
  });
});

describe('allocateEvenly', () => {
  it('splits into near-equal parts, extra units first', () => {
    expect(amounts(allocateEvenly(usd(100n), 3))).toEqual([34n, 33n, 33n]);
    expect(amounts(allocateEvenly(usd(-101n), 4))).toEqual([-26n, -25n, -25n, -25n]);
    expect(amounts(allocateEvenly(usd(2n), 5))).toEqual([1n, 1n, 0n, 0n, 0n]);
  });

  it('parts differ by at most one and sum exactly', () => {
    fc.assert(
      fc.property(amountArb, fc.integer({ min: 1, max: 50 }), (total, n) => {
        const parts = amounts(allocateEvenly(usd(total), n));
        expect(parts.reduce((a, b) => a + b, 0n)).toBe(total);
        const max = parts.reduce((a, b) => (a > b ? a : b));
        const min = parts.reduce((a, b) => (a < b ? a : b));
        expect(max - min <= 1n).toBe(true);
      }),
    );
  });

  it.each([0, -1, 1.5, Number.NaN, ALLOCATE_PARTS_MAX + 1])('rejects %d parts as FIELD_INVALID', (n) => {
    expect(reasonOf(() => allocateEvenly(usd(100n), n))).toBe('FIELD_INVALID');
  });
});
