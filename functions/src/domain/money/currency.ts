import { TallyError, invalidField } from '../errors.js';
import { type Iso4217Currency, iso4217Table } from './iso4217-table.js';

/**
 * A current ISO 4217 currency usable for money: alphabetic code, numeric code, exponent (number of
 * minor-unit digits) and name. Comes only from the generated table, never built by hand.
 */
export type Currency = Iso4217Currency;

const codeShape = /^[A-Za-z]{3}$/;

/**
 * Looks up a current ISO 4217 currency by its exact uppercase alphabetic code.
 *
 * Throws `TallyError`:
 * - `FIELD_INVALID` when `code` is not three ASCII letters at all (empty, `US`, `US1`, ...);
 * - `UNKNOWN_CURRENCY` when it has the shape of a code but is not a current, payable code: unknown
 *   (`ZZZ`), withdrawn (`BGN`), without a minor unit (`XXX`, `XAU`) or lowercase (`usd`; we never
 *   normalise case silently, so stored data has exactly one spelling).
 *
 * `field` names the offending request field in the error (default `currency`).
 */
export function currencyOf(code: string, field = 'currency'): Currency {
  if (typeof code !== 'string' || !codeShape.test(code)) {
    throw invalidField(field, 'must be a three-letter ISO 4217 code');
  }
  const currency = iso4217Table.get(code);
  if (currency === undefined) {
    const hint = code === code.toUpperCase() ? '' : ' (codes are uppercase)';
    throw new TallyError('UNKNOWN_CURRENCY', `${field}: ${code} is not a supported ISO 4217 currency${hint}`, {
      field,
      currency: code,
    });
  }
  return currency;
}

/** True when `value` is a current, payable ISO 4217 code (exact uppercase spelling). */
export function isCurrencyCode(value: unknown): value is string {
  return typeof value === 'string' && iso4217Table.has(value);
}

/** Every supported currency, sorted by code (for docs, listings and tests). */
export function listCurrencies(): readonly Currency[] {
  return [...iso4217Table.values()];
}
