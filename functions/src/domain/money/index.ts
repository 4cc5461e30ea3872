/**
 * Money: exact amounts in integer minor units of a current ISO 4217 currency. Pure code, no I/O.
 * Decimal strings exist only at the edge (`parseDecimal` / `formatDecimal`); floats never.
 */

/** A current ISO 4217 currency (code, numeric code, exponent, name) from the generated table. */
export type { Currency } from './currency.js';
/** `currencyOf(code)`: looks up a currency, throwing `UNKNOWN_CURRENCY` / `FIELD_INVALID`. */
export { currencyOf } from './currency.js';
/** `isCurrencyCode(value)`: true for a current, payable ISO 4217 code (exact uppercase). */
export { isCurrencyCode } from './currency.js';
/** `listCurrencies()`: every supported currency, sorted by code. */
export { listCurrencies } from './currency.js';

/** An amount in minor units of one currency: a plain frozen `{ amountMinor: bigint, currency }`. */
export type { Money } from './money.js';
/** Largest `|amountMinor|`: int64 max, since amounts travel as protobuf int64. */
export { AMOUNT_MINOR_MAX } from './money.js';
/** `money(amountMinor, currency)`: validated constructor. */
export { money } from './money.js';
/** `fromSafeInteger(n, currency)`: from a JS number of minor units; rejects non-safe-integers. */
export { fromSafeInteger } from './money.js';
/** `add(a, b)`: exact sum; `CURRENCY_MISMATCH`, `AMOUNT_OUT_OF_RANGE`. */
export { add } from './money.js';
/** `subtract(a, b)`: exact difference; `CURRENCY_MISMATCH`, `AMOUNT_OUT_OF_RANGE`. */
export { subtract } from './money.js';
/** `negate(m)`: `-m`; never overflows (the range is symmetric). */
export { negate } from './money.js';
/** `compare(a, b)`: -1, 0 or 1; `CURRENCY_MISMATCH`. */
export { compare } from './money.js';
/** `isZero(m)`: true when the amount is zero. */
export { isZero } from './money.js';
/** `sum(list, currency)`: exact total of same-currency amounts; empty list is zero. */
export { sum } from './money.js';

/** `'half-up' | 'half-even' | 'down'`: how an exact quotient is rounded to minor units. */
export type { RoundingMode } from './rounding.js';
/** Every rounding mode, for validating input. */
export { roundingModes } from './rounding.js';
/** `divideRounded(numerator, denominator, mode)`: exact bigint division with rounding. */
export { divideRounded } from './rounding.js';
/** `multiplyRatio(m, numerator, denominator, mode)`: e.g. a fee of 290 / 10_000 of an amount. */
export { multiplyRatio } from './rounding.js';

/** Options of `parseDecimal`: `rounding` for extra fraction digits, `field` for error messages. */
export type { ParseDecimalOptions } from './decimal.js';
/** Longest decimal text `parseDecimal` accepts. */
export { DECIMAL_TEXT_LENGTH_MAX } from './decimal.js';
/** `parseDecimal(text, currency, options?)`: exact major-unit decimal string to `Money`. */
export { parseDecimal } from './decimal.js';
/** `formatDecimal(m)`: canonical major-unit string with exactly the currency's fraction digits. */
export { formatDecimal } from './decimal.js';

/** Most parts one allocation may produce. */
export { ALLOCATE_PARTS_MAX } from './allocate.js';
/** `allocate(m, ratios)`: exact split by integer ratios (largest remainder, earlier index wins ties). */
export { allocate } from './allocate.js';
/** `allocateEvenly(m, n)`: exact split into `n` near-equal parts, earlier parts get the extra units. */
export { allocateEvenly } from './allocate.js';
