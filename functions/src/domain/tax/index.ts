/**
 * Tax: the vocabulary of a tax calculation (`tax-types.ts`), exact per-line arithmetic
 * (`tax-math.ts`), the built-in EU VAT engine over a generated rate table (`eu-vat.ts`,
 * `eu-vat-table.ts`), offline VAT id format checks (`vat-id.ts`) and one-amount quotes (`quote.ts`).
 * Pure: no I/O, no clock (the tax date is an input).
 */

/** Request, result and the words they use. */
export type {
  TaxBehavior, TaxCategory, TaxSeller, TaxCustomer, TaxRequestLine, TaxRequest, TaxTreatment, TaxLineResult, TaxEngine, TaxCalculation,
} from './tax-types.js';
/** Most lines per tax request. */
export { TAX_LINES_MAX } from './tax-types.js';

/** `lineTax(amount, ratePpm, behavior)`: exact net/tax/gross of one line, tax rounded half-up. */
export { lineTax, checkRatePpm, parsePercent, formatPercent, RATE_PPM_MAX } from './tax-math.js';

/** The built-in engine: `euVatRate(query)`, `calculateEuVat(request)`, and its checks. */
export type { VatRateQuery, VatRate } from './eu-vat.js';
export { euVatRate, calculateEuVat, vatCountries, checkDate, normalisePostcode, REVERSE_CHARGE_NOTE, POSTCODE_LENGTH_MAX } from './eu-vat.js';
/** The generated table and its source label. */
export { euVatTable, euVatSource } from './eu-vat-table.js';
export type { EuVatPeriod, EuVatException } from './eu-vat-table.js';

/** `parseEuVatId(text)`: a VAT id that looks valid, or null; EU member states. */
export { parseEuVatId, isEuMemberState, euMemberStates, VAT_ID_LENGTH_MAX } from './vat-id.js';
export type { ParsedVatId } from './vat-id.js';

/** `quoteTax(input)`: one amount through the built-in engine (the CLI's `tax quote`). */
export { quoteTax } from './quote.js';
export type { TaxQuoteInput, TaxQuote } from './quote.js';
