/**
 * Display helpers for the buyer's page (money itself: @shared/money's formatMoney, from minor units
 * and the currency's ISO 4217 exponent). No floats: rates arrive as integer parts per million.
 */

/** A tax rate in parts per million as a percentage for `locale` ("25.5%", "25,5 %"). */
export function formatRatePpm(ratePpm: number, locale: string): string {
  // ppm -> an exact decimal fraction string ("0.255"), which Intl formats exactly.
  const whole = Math.trunc(ratePpm / 1_000_000);
  const fraction = String(ratePpm % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  const decimal = fraction === '' ? String(whole) : `${whole}.${fraction}`;
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 4 }).format(decimal as Intl.StringNumericLiteral);
}

/** "per month", "every 3 months" for a recurring line; empty for a one-off line. */
export function recurringText(interval: string, count: number): string {
  if (interval === '') return '';
  return count > 1 ? `every ${count} ${interval}s` : `per ${interval}`;
}

/** The URL when it is absolute http(s), else null: never navigate to `javascript:` or the like. */
export function httpUrl(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : null;
  } catch {
    return null;
  }
}

/** The buyer's locale: the browser's first preference (Intl falls back when it has no data for it). */
export function buyerLocale(): string {
  return navigator.languages?.[0] ?? navigator.language ?? 'en-US';
}
