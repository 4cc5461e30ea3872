import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { AMOUNT_MINOR_MAX, money } from './money.js';
import { type RoundingMode, divideRounded, multiplyRatio, roundingModes } from './rounding.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

/** Mathematical floor division (bigint `/` truncates instead). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/**
 * Reference rounding computed differently from the implementation: on magnitudes, nearest is
 * floor((2a + b) / 2b) (which rounds ties up), and a tie is detected as 2b dividing 2a + b.
 */
function referenceRound(n: bigint, d: bigint, mode: RoundingMode): bigint {
  const negative = (n < 0n) !== (d < 0n);
  const a = n < 0n ? -n : n;
  const b = d < 0n ? -d : d;
  let magnitude: bigint;
  if (mode === 'down') {
    magnitude = floorDiv(a, b);
  } else {
    magnitude = floorDiv(2n * a + b, 2n * b);
    const tie = (2n * a + b) % (2n * b) === 0n;
    if (mode === 'half-even' && tie && magnitude % 2n === 1n) magnitude -= 1n;
  }
  return negative ? -magnitude : magnitude;
}

const modeArb = fc.constantFrom(...roundingModes);
const nonZeroArb = fc.oneof(
  fc.bigInt({ min: -20n, max: 20n }),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
).filter((d) => d !== 0n);
const numeratorArb = fc.oneof(fc.bigInt({ min: -100n, max: 100n }), fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }));

describe('divideRounded', () => {
  // [numerator, denominator, half-up, half-even, down]
  const table: [bigint, bigint, bigint, bigint, bigint][] = [
    [25n, 10n, 3n, 2n, 2n], // 2.5
    [-25n, 10n, -3n, -2n, -2n], // -2.5
    [35n, 10n, 4n, 4n, 3n], // 3.5
    [-35n, 10n, -4n, -4n, -3n],
    [5n, 10n, 1n, 0n, 0n], // 0.5
    [-5n, 10n, -1n, -0n, -0n],
    [15n, 10n, 2n, 2n, 1n], // 1.5
    [29n, 10n, 3n, 3n, 2n], // 2.9
    [-29n, 10n, -3n, -3n, -2n],
    [21n, 10n, 2n, 2n, 2n], // 2.1
    [-21n, 10n, -2n, -2n, -2n],
    [20n, 10n, 2n, 2n, 2n], // exact
    [0n, 7n, 0n, 0n, 0n],
    [25n, -10n, -3n, -2n, -2n], // negative denominator
    [-25n, -10n, 3n, 2n, 2n],
    [1n, 3n, 0n, 0n, 0n],
    [2n, 3n, 1n, 1n, 0n],
    [-2n, 3n, -1n, -1n, -0n],
  ];
  it.each(table)('%s / %s -> half-up %s, half-even %s, down %s', (n, d, halfUp, halfEven, down) => {
    expect(divideRounded(n, d, 'half-up')).toBe(halfUp);
    expect(divideRounded(n, d, 'half-even')).toBe(halfEven);
    expect(divideRounded(n, d, 'down')).toBe(down);
  });

  it('matches the reference for any signs and sizes', () => {
    fc.assert(
      fc.property(numeratorArb, nonZeroArb, modeArb, (n, d, mode) => {
        expect(divideRounded(n, d, mode)).toBe(referenceRound(n, d, mode));
      }),
    );
  });

  it('lands on a neighbour of the exact quotient, within half for the half modes', () => {
    fc.assert(
      fc.property(numeratorArb, nonZeroArb, modeArb, (n, d, mode) => {
        const q = divideRounded(n, d, mode);
        const absD = d < 0n ? -d : d;
        const error = q * d - n; // (q - n/d) * d
        const absError = error < 0n ? -error : error;
        expect(absError < absD).toBe(true);
        if (mode !== 'down') expect(2n * absError <= absD).toBe(true);
        else expect(q === 0n || (q < 0n) === ((n < 0n) !== (d < 0n))).toBe(true);
      }),
    );
  });

  it('is odd-symmetric: rounding -x gives -(rounding x)', () => {
    fc.assert(
      fc.property(numeratorArb, nonZeroArb, modeArb, (n, d, mode) => {
        expect(divideRounded(-n, d, mode)).toBe(-divideRounded(n, d, mode));
      }),
    );
  });

  it('asserts on a zero denominator', () => {
    expect(() => divideRounded(1n, 0n, 'down')).toThrow(/assertion failed/);
  });
});

describe('multiplyRatio', () => {
  it('computes a 2.9 % fee', () => {
    // 12.35 USD * 2.9 % = 35.815 cents
    expect(multiplyRatio(money(1235n, 'USD'), 290n, 10_000n, 'half-up')).toEqual(money(36n, 'USD'));
    expect(multiplyRatio(money(1235n, 'USD'), 290n, 10_000n, 'down')).toEqual(money(35n, 'USD'));
    // 0.50 USD * 2.9 % = 1.45 cents; a tie only at 1.5
    expect(multiplyRatio(money(50n, 'USD'), 290n, 10_000n, 'half-up')).toEqual(money(1n, 'USD'));
    expect(multiplyRatio(money(-1000n, 'USD'), 15n, 100n, 'half-even')).toEqual(money(-150n, 'USD'));
    expect(multiplyRatio(money(-5n, 'JPY'), 1n, 2n, 'half-even')).toEqual(money(-2n, 'JPY'));
    expect(multiplyRatio(money(-5n, 'JPY'), 1n, 2n, 'half-up')).toEqual(money(-3n, 'JPY'));
  });

  it('uses the exact product, even beyond int64, and range-checks only the result', () => {
    expect(multiplyRatio(money(AMOUNT_MINOR_MAX, 'USD'), 3n, 3n, 'down').amountMinor).toBe(AMOUNT_MINOR_MAX);
    expect(reasonOf(() => multiplyRatio(money(AMOUNT_MINOR_MAX, 'USD'), 3n, 2n, 'down'))).toBe('AMOUNT_OUT_OF_RANGE');
  });
});
