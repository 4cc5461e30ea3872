/**
 * Money in the browser, with the backend's own exact code (functions/src/domain/money): amounts are
 * integer minor units (bigint), the currency's ISO 4217 exponent decides the fraction digits, and no
 * float is ever used for an amount.
 */
import { formatDecimal, money, parseDecimal } from '@domain/money/index';

/**
 * Formats minor units for a locale ("€1,234.50", "¥1,235", "BHD 1.235"). Intl.NumberFormat formats the
 * exact decimal string (strings are exact decimals for it), never a float of it.
 */
export function formatMoney(amountMinor: bigint, currency: string, locale?: string): string {
  const decimal = formatDecimal(money(amountMinor, currency));
  const digits = decimal.includes('.') ? decimal.length - decimal.indexOf('.') - 1 : 0;
  const format = new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return format.format(decimal as Intl.StringNumericLiteral);
}

/** Parses an amount typed in major units ("12.34") to minor units exactly; throws with a message fit to show. */
export function parseMoneyInput(text: string, currency: string): bigint {
  return parseDecimal(text.trim(), currency, { field: 'amount' }).amountMinor;
}
