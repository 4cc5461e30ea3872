import { TallyError, assert, invalidField } from '../errors.js';
import { currencyOf } from './currency.js';

/**
 * An exact amount of one currency, in minor units (cents for USD, yen for JPY, fils for BHD).
 *
 * A plain frozen object rather than a class so it crosses boundaries (protobuf, Firestore, logs)
 * without a custom codec. Note that `JSON.stringify` cannot serialise a bigint: convert
 * `amountMinor` to a string at the edge. Build values with `money()`, which validates.
 */
export interface Money {
  readonly amountMinor: bigint;
  readonly currency: string;
}

/**
 * Largest magnitude of `amountMinor`: int64 max, because amounts travel as protobuf int64. The
 * range is symmetric ([-max, max], not int64's extra negative value) so `negate` never overflows.
 */
export const AMOUNT_MINOR_MAX = 2n ** 63n - 1n;

/**
 * Creates a `Money`. Throws `UNKNOWN_CURRENCY` / `FIELD_INVALID` for a bad currency and
 * `AMOUNT_OUT_OF_RANGE` when `|amountMinor| > AMOUNT_MINOR_MAX`.
 */
export function money(amountMinor: bigint, currency: string): Money {
  assert(typeof amountMinor === 'bigint', 'amountMinor must be a bigint');
  currencyOf(currency);
  checkRange(amountMinor, currency);
  return Object.freeze({ amountMinor, currency });
}

/**
 * Creates a `Money` from a JavaScript number of minor units. Throws `FIELD_INVALID` unless `n` is
 * a safe integer: a fraction of a minor unit, NaN, infinities or integers beyond 2^53 - 1 (which a
 * double may already have rounded) are never silently accepted.
 */
export function fromSafeInteger(n: number, currency: string): Money {
  if (!Number.isSafeInteger(n)) {
    throw invalidField('amountMinor', 'must be an integer number of minor units within +/-(2^53 - 1)');
  }
  return money(BigInt(n), currency);
}

/** `a + b`. Throws `CURRENCY_MISMATCH` for different currencies, `AMOUNT_OUT_OF_RANGE` on overflow. */
export function add(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(a.amountMinor + b.amountMinor, a.currency);
}

/** `a - b`. Throws `CURRENCY_MISMATCH` for different currencies, `AMOUNT_OUT_OF_RANGE` on overflow. */
export function subtract(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(a.amountMinor - b.amountMinor, a.currency);
}

/** `-m`. Never overflows because the range is symmetric. */
export function negate(m: Money): Money {
  return money(-m.amountMinor, m.currency);
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b`. Throws `CURRENCY_MISMATCH`. */
export function compare(a: Money, b: Money): -1 | 0 | 1 {
  sameCurrency(a, b);
  return a.amountMinor < b.amountMinor ? -1 : a.amountMinor > b.amountMinor ? 1 : 0;
}

/** True when the amount is zero. */
export function isZero(m: Money): boolean {
  return m.amountMinor === 0n;
}

/**
 * Sum of `list`, all of which must be in `currency` (`CURRENCY_MISMATCH` otherwise); an empty list
 * sums to zero, which is why the currency is a parameter. Only the final total is range-checked:
 * the sum is exact in bigint, so the result does not depend on the order of the list.
 */
export function sum(list: readonly Money[], currency: string): Money {
  currencyOf(currency);
  let totalMinor = 0n;
  for (const m of list) {
    if (m.currency !== currency) throw mismatch(currency, m.currency);
    totalMinor += m.amountMinor;
  }
  return money(totalMinor, currency);
}

function sameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw mismatch(a.currency, b.currency);
}

function mismatch(expected: string, actual: string): TallyError {
  return new TallyError('CURRENCY_MISMATCH', `currency mismatch: expected ${expected}, got ${actual}`, {
    expected,
    actual,
  });
}

function checkRange(amountMinor: bigint, currency: string): void {
  if (amountMinor > AMOUNT_MINOR_MAX || amountMinor < -AMOUNT_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `amount exceeds the int64 range of minor units`, {
      field: 'amountMinor',
      currency,
    });
  }
}
