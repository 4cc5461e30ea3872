/**
 * A one-amount tax quote (the `tally tax quote` command): one line through the built-in engine.
 */
import type { Money } from '../money/index.js';
import { calculateEuVat } from './eu-vat.js';
import type { TaxBehavior, TaxCategory, TaxTreatment } from './tax-types.js';

/** What to quote. */
export interface TaxQuoteInput {
  readonly country: string;
  readonly postcode: string | null;
  /** `YYYY-MM-DD` (UTC). */
  readonly date: string;
  readonly category: TaxCategory;
  /** A rate overriding the table (ppm), or `null`. */
  readonly ratePpm: number | null;
  /** Net when exclusive, gross when inclusive. */
  readonly amount: Money;
  readonly taxBehavior: TaxBehavior;
  /** The seller's country (default: the customer's, a domestic B2C sale). */
  readonly sellerCountry?: string;
  /** The customer's VAT id, for a B2B quote (reverse charge when it is another member state's). */
  readonly vatId?: string | null;
}

/** The quote: `net + tax = gross` exactly. */
export interface TaxQuote {
  readonly net: Money;
  readonly tax: Money;
  readonly gross: Money;
  readonly ratePpm: number;
  readonly treatment: TaxTreatment;
  readonly reason: string;
  /** Table version, or `override`. */
  readonly source: string;
}

/**
 * Quotes one amount (errors as `calculateEuVat`). Without `sellerCountry` and `vatId` it is a
 * domestic consumer sale in the customer's country.
 */
export function quoteTax(input: TaxQuoteInput): TaxQuote {
  const calculation = calculateEuVat({
    currency: input.amount.currency,
    seller: { country: input.sellerCountry ?? input.country, vatId: null },
    customer: { country: input.country, postcode: input.postcode, vatId: input.vatId ?? null },
    date: input.date,
    lines: [{ lineId: 'quote', amount: input.amount, taxBehavior: input.taxBehavior, taxCategory: input.category }],
    rateOverridePpm: input.ratePpm,
  });
  const [line] = calculation.lines;
  if (line === undefined) throw new Error('assertion failed: one line in, one line out');
  return Object.freeze({
    net: line.net,
    tax: line.tax,
    gross: { amountMinor: line.net.amountMinor + line.tax.amountMinor, currency: line.net.currency },
    ratePpm: line.ratePpm,
    treatment: line.treatment,
    reason: line.reason,
    source: calculation.engine === 'override' ? 'override' : calculation.engineVersion,
  });
}
