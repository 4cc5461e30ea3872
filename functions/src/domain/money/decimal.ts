import { TallyError, invalidField } from '../errors.js';
import { currencyOf } from './currency.js';
import { type Money, money } from './money.js';
import { type RoundingMode, divideRounded } from './rounding.js';

/**
 * Longest decimal text accepted. int64 minor units need at most 19 digits; the rest leaves room
 * for a sign, a point and trailing fraction zeros, while keeping hostile input cheap to reject.
 */
export const DECIMAL_TEXT_LENGTH_MAX = 40;

/** Options for `parseDecimal`. */
export interface ParseDecimalOptions {
  /**
   * How to round when the text has more fraction digits than the currency's exponent. Without it,
   * such text throws `AMOUNT_PRECISION_EXCEEDED` (unless the extra digits are all zeros).
   */
  readonly rounding?: RoundingMode;
  /** Request field named in errors; default `amount`. */
  readonly field?: string;
}

// Optional '-', digits, optional '.' followed by at least one digit. ASCII digits only: no '+',
// exponents, separators, spaces, or a bare '.5' / '5.'.
const decimalShape = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Parses an exact decimal amount in major units ("12.34", "-0.5", "1000") into `Money`, using the
 * currency's ISO 4217 exponent. Never goes through a float.
 *
 * Throws `TallyError`:
 * - `FIELD_INVALID` for anything that is not a plain decimal (empty, " 1", "+1", "1e5", "1,000",
 *   ".5") or longer than `DECIMAL_TEXT_LENGTH_MAX`;
 * - `AMOUNT_PRECISION_EXCEEDED` when it has more significant fraction digits than the currency
 *   allows ("1.234" USD) and no `rounding` is given. Trailing zeros lose nothing, so "1.230" USD
 *   and "100.0" JPY are accepted;
 * - `AMOUNT_OUT_OF_RANGE` beyond int64 minor units; `UNKNOWN_CURRENCY` for a bad currency.
 *
 * Leading zeros ("007.10") are accepted: they are unambiguous. "-0" and "-0.00" parse to zero
 * (bigint has no negative zero).
 */
export function parseDecimal(text: string, currency: string, options: ParseDecimalOptions = {}): Money {
  const field = options.field ?? 'amount';
  const { exponent } = currencyOf(currency);
  if (typeof text !== 'string' || text.length > DECIMAL_TEXT_LENGTH_MAX) {
    throw invalidField(field, `must be a decimal string of at most ${DECIMAL_TEXT_LENGTH_MAX} characters`);
  }
  const match = decimalShape.exec(text);
  if (match === null) {
    throw invalidField(field, 'must be a plain decimal such as "12.34" (no exponent, separators or "+")');
  }
  const [, sign = '', integerDigits = '', fractionDigits = ''] = match;
  const scaled = BigInt(integerDigits + fractionDigits) * (sign === '-' ? -1n : 1n);
  const extraDigits = fractionDigits.length - exponent;
  if (extraDigits <= 0) return money(scaled * 10n ** BigInt(-extraDigits), currency);

  const divisor = 10n ** BigInt(extraDigits);
  if (scaled % divisor !== 0n && options.rounding === undefined) {
    throw new TallyError(
      'AMOUNT_PRECISION_EXCEEDED',
      `${field}: ${currency} allows at most ${exponent} fraction digits`,
      { field, currency },
    );
  }
  return money(divideRounded(scaled, divisor, options.rounding ?? 'down'), currency);
}

/**
 * Canonical decimal text in major units with exactly the currency's exponent of fraction digits:
 * USD "1.00" and "-0.05", JPY "100", BHD "1.000", CLF "1.0000". Inverse of `parseDecimal`.
 */
export function formatDecimal(m: Money): string {
  const { exponent } = currencyOf(m.currency);
  const negative = m.amountMinor < 0n;
  const digits = (negative ? -m.amountMinor : m.amountMinor).toString();
  if (exponent === 0) return (negative ? '-' : '') + digits;
  const padded = digits.padStart(exponent + 1, '0');
  const integerPart = padded.slice(0, padded.length - exponent);
  const fractionPart = padded.slice(padded.length - exponent);
  return `${negative ? '-' : ''}${integerPart}.${fractionPart}`;
}
