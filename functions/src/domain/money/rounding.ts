import { assert } from '../errors.js';
import { type Money, money } from './money.js';

/**
 * How to round an exact quotient to an integer (of minor units):
 * - `half-up`: to the nearest integer; ties go away from zero (2.5 -> 3, -2.5 -> -3). Common for
 *   fees and taxes in invoices.
 * - `half-even`: to the nearest integer; ties go to the even neighbour (2.5 -> 2, 3.5 -> 4,
 *   -2.5 -> -2). "Banker's rounding": no upward bias over many roundings.
 * - `down`: toward zero, i.e. truncation (2.9 -> 2, -2.9 -> -2). Never rounds a magnitude up.
 */
export type RoundingMode = 'half-up' | 'half-even' | 'down';

/** Every `RoundingMode`, for validating input and for tests. */
export const roundingModes: readonly RoundingMode[] = Object.freeze(['half-up', 'half-even', 'down']);

/**
 * `numerator / denominator` rounded to an integer with `mode`, exactly, for any signs. A zero
 * denominator is a programmer error (assertion).
 */
export function divideRounded(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  assert(denominator !== 0n, 'divideRounded: denominator must not be zero');
  // Work on a positive denominator so the remainder has the sign of the quotient.
  const n = denominator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  const truncated = n / d; // bigint division truncates toward zero
  const remainder = n % d; // same sign as n
  if (remainder === 0n || mode === 'down') return truncated;
  const awayFromZero = truncated + (n < 0n ? -1n : 1n);
  const twiceRemainder = remainder < 0n ? -2n * remainder : 2n * remainder;
  if (twiceRemainder > d) return awayFromZero;
  if (twiceRemainder < d) return truncated;
  switch (mode) {
    case 'half-up':
      return awayFromZero;
    case 'half-even':
      return truncated % 2n === 0n ? truncated : awayFromZero;
    default:
      return assertNever(mode);
  }
}

/**
 * `m * numerator / denominator`, rounded with `mode`; e.g. a 2.9 % fee is
 * `multiplyRatio(amount, 290n, 10_000n, 'half-up')`. The product is exact (bigint), so only the
 * final division rounds. Throws `AMOUNT_OUT_OF_RANGE` when the result leaves the int64 range.
 */
export function multiplyRatio(m: Money, numerator: bigint, denominator: bigint, mode: RoundingMode): Money {
  return money(divideRounded(m.amountMinor * numerator, denominator, mode), m.currency);
}

function assertNever(value: never): never {
  throw new Error(`assertion failed: unexpected rounding mode ${String(value)}`);
}
