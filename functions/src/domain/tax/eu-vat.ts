/**
 * The built-in EU VAT engine: rates from the generated table (`eu-vat-table.ts`), per-line tax
 * (`tax-math.ts`), and B2B reverse charge. Pure and synchronous; the `TaxCalculator` port wraps it
 * in `adapters/tax/`.
 *
 * Which rate (ADR 0031):
 * 1. the customer's country (destination principle for B2C, as the EU's OSS rules); the table
 *    covers the EU-27 and GB. Another ISO 3166-1 country is `not_collecting` (0 %: no EU VAT on a
 *    supply outside the EU VAT area; the reason says so and local taxes need a rate or the hook);
 *    a code that is no country at all (`XX`, `de`) is `FIELD_INVALID` (field `country`);
 * 2. the period whose `effectiveFrom` is the latest on or before the tax date (UTC calendar day);
 * 3. a postcode exception of that period when the normalised postcode (uppercase, without spaces
 *    and dashes) matches its whole pattern: its standard rate applies. Exceptions only list a
 *    standard rate: a territory outside the EU VAT area (rate 0: Canary Islands, Heligoland, ...)
 *    is 0 for every category; a `reduced` line in a territory with a non-zero rate (Madeira,
 *    Guadeloupe, ...) is refused, since the table does not know that rate;
 * 4. the category: `standard`, or `reduced` = the table's `reduced` rate, else `reduced1` (the
 *    first reduced rate listed); a country without one refuses `reduced`.
 *
 * Reverse charge: when the customer's VAT id looks valid (`vat-id.ts`) and belongs to an EU member
 * state other than the seller's country, every line is taxed at 0 % with treatment
 * `reverse_charge` and the invoice note of Article 196 of Directive 2006/112/EC: the business
 * customer accounts for the VAT. This holds for a seller outside the EU too (Article 196 covers
 * every supplier not established in the customer's member state).
 */
import { TallyError, invalidField } from '../errors.js';
import { type Money, currencyOf, money } from '../money/index.js';
import { isCountryCode } from '../payments/payment-fields.js';
import { type EuVatPeriod, euVatSource, euVatTable } from './eu-vat-table.js';
import { checkRatePpm, formatPercent, lineTax } from './tax-math.js';
import type { TaxCalculation, TaxCategory, TaxLineResult, TaxRequest, TaxTreatment } from './tax-types.js';
import { TAX_LINES_MAX } from './tax-types.js';
import { isEuMemberState, parseEuVatId } from './vat-id.js';

/** The legal mention printed on a reverse-charged invoice. */
export const REVERSE_CHARGE_NOTE = 'Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC).';

/** A rate lookup. */
export interface VatRateQuery {
  readonly country: string;
  readonly postcode: string | null;
  /** `YYYY-MM-DD` (UTC). */
  readonly date: string;
  readonly category: TaxCategory;
}

/** The rate that applies, and why. */
export interface VatRate {
  readonly ratePpm: number;
  readonly country: string;
  readonly category: TaxCategory;
  readonly treatment: Extract<TaxTreatment, 'standard' | 'reduced' | 'territory'>;
  /** The postcode territory, or `null`. */
  readonly territory: string | null;
  /** The table's rate name (`standard`, `reduced`, `reduced1`) or `exception`. */
  readonly rateName: string;
  readonly effectiveFrom: string;
  /** e.g. "FI standard rate 25.5% (table period from 2024-09-01)". */
  readonly reason: string;
}

const countryShape = /^[A-Z]{2}$/;
const dateShape = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Longest postcode text accepted. */
export const POSTCODE_LENGTH_MAX = 16;

/** Countries the built-in table knows, sorted. */
export function vatCountries(): string[] {
  return [...euVatTable.keys()].sort();
}

/**
 * The VAT rate for a country, postcode, date and category (module comment). Throws
 * `FIELD_INVALID` naming `country`, `postcode`, `date` or `category`.
 */
export function euVatRate(query: VatRateQuery): VatRate {
  const periods = countryPeriods(query.country);
  checkDate(query.date);
  const postcode = normalisePostcode(query.postcode);
  const period = periods.find((p) => p.effectiveFrom <= query.date);
  if (period === undefined) {
    throw invalidField('date', `the table has no ${query.country} rate before ${periods[periods.length - 1]?.effectiveFrom ?? '?'}`);
  }
  const since = period.effectiveFrom === '0000-01-01' ? 'in force since before the table starts' : `table period from ${period.effectiveFrom}`;
  const exception = postcode === null ? undefined : period.exceptions.find((e) => postcodeRegExp(e.postcodePattern).test(postcode));
  if (exception !== undefined) {
    if (query.category === 'reduced' && exception.standardPpm !== 0) {
      throw invalidField('category', `the table has no reduced rate for ${exception.name} (${query.country} ${postcode}); give a rate explicitly`);
    }
    const what = exception.standardPpm === 0 ? 'outside the EU VAT area' : `territory rate`;
    return Object.freeze({
      ratePpm: exception.standardPpm, country: query.country, category: query.category, treatment: 'territory', territory: exception.name,
      rateName: 'exception', effectiveFrom: period.effectiveFrom,
      reason: `${exception.name} (${query.country} postcode ${postcode}) is ${what}: ${formatPercent(exception.standardPpm)}% instead of the ${query.country} ${query.category} rate (${since})`,
    });
  }
  const rateName = query.category === 'standard' ? 'standard' : ['reduced', 'reduced1'].find((k) => period.ratesPpm[k] !== undefined);
  const ratePpm = rateName === undefined ? undefined : period.ratesPpm[rateName];
  if (rateName === undefined || ratePpm === undefined) {
    throw invalidField('category', `${query.country} has no reduced VAT rate on ${query.date}`);
  }
  const label = rateName === 'reduced1' ? 'reduced rate (its first reduced rate, reduced1)' : `${rateName} rate`;
  return Object.freeze({
    ratePpm, country: query.country, category: query.category, treatment: query.category, territory: null, rateName, effectiveFrom: period.effectiveFrom,
    reason: `${query.country} ${label} ${formatPercent(ratePpm)}% on ${query.date} (${since})`,
  });
}

/**
 * Taxes every line of `request` with the built-in engine (module comment). A `rateOverridePpm`
 * replaces the table for every line (treatment `override`, any country). Throws `FIELD_INVALID`
 * for a country code that is no ISO 3166-1 country, a bad date or postcode, a category the
 * country lacks; `CURRENCY_MISMATCH` for a line in another currency; `LIMIT_EXCEEDED` beyond
 * `TAX_LINES_MAX` lines.
 */
export function calculateEuVat(request: TaxRequest): TaxCalculation {
  currencyOf(request.currency);
  if (request.lines.length > TAX_LINES_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `at most ${TAX_LINES_MAX} lines per tax calculation`, { limit: String(TAX_LINES_MAX) });
  }
  checkDate(request.date);
  checkCountry(request.customer.country);
  if (!countryShape.test(request.seller.country)) throw invalidField('sellerCountry', 'must be an ISO 3166-1 alpha-2 code such as DE');
  const override = request.rateOverridePpm;
  if (override !== null) {
    checkRatePpm(override);
    normalisePostcode(request.customer.postcode);
  }
  const reverseCharge = override === null ? reverseChargeReason(request) : null;
  const lines = request.lines.map((line): TaxLineResult => {
    if (line.amount.currency !== request.currency) {
      throw new TallyError('CURRENCY_MISMATCH', `line ${line.lineId} is in ${line.amount.currency}, the request in ${request.currency}`, {
        field: 'currency', expected: request.currency, actual: line.amount.currency,
      });
    }
    let ratePpm: number;
    let treatment: TaxTreatment;
    let reason: string;
    if (override !== null) {
      ratePpm = override;
      treatment = 'override';
      reason = `rate ${formatPercent(override)}% given explicitly (overrides the table)`;
    } else if (reverseCharge !== null) {
      ratePpm = 0;
      treatment = 'reverse_charge';
      reason = reverseCharge;
    } else if (!euVatTable.has(request.customer.country)) {
      normalisePostcode(request.customer.postcode);
      ratePpm = 0;
      treatment = 'not_collecting';
      reason = `${request.customer.country} is outside the built-in VAT table (EU member states and GB): no VAT collected; give a rate or use the external tax hook for local taxes`;
    } else {
      const rate = euVatRate({ country: request.customer.country, postcode: request.customer.postcode, date: request.date, category: line.taxCategory });
      ratePpm = rate.ratePpm;
      treatment = rate.treatment;
      reason = rate.reason;
    }
    const { net, tax } = lineTax(line.amount, ratePpm, line.taxBehavior);
    return Object.freeze({ lineId: line.lineId, taxBehavior: line.taxBehavior, net, tax, ratePpm, treatment, country: request.customer.country, reason });
  });
  return Object.freeze({
    engine: override === null ? 'builtin_eu_vat' : 'override',
    engineVersion: euVatSource,
    fallbackUsed: false,
    fallbackReason: '',
    currency: request.currency,
    date: request.date,
    customer: request.customer,
    reverseCharge: reverseCharge !== null,
    lines: Object.freeze(lines),
    taxTotal: sumTax(lines, request.currency),
    note: reverseCharge === null ? '' : REVERSE_CHARGE_NOTE,
  });
}

/** Why the request is reverse-charged, or `null` when it is not (module comment). */
function reverseChargeReason(request: TaxRequest): string | null {
  const vatId = request.customer.vatId;
  if (vatId === null || vatId === '') return null;
  const parsed = parseEuVatId(vatId);
  if (parsed === null || !isEuMemberState(parsed.country) || parsed.country === request.seller.country) return null;
  return `reverse charge: B2B supply from ${request.seller.country} to a business registered for VAT in ${parsed.country} (VAT id ${parsed.vatId}, format checked offline)`;
}

function sumTax(lines: readonly TaxLineResult[], currency: string): Money {
  return money(lines.reduce((acc, l) => acc + l.tax.amountMinor, 0n), currency);
}

/** Throws `FIELD_INVALID` (field `country`) unless `country` is an ISO 3166-1 alpha-2 code (uppercase). */
function checkCountry(country: string): void {
  if (typeof country !== 'string' || !countryShape.test(country) || !isCountryCode(country)) {
    throw invalidField('country', `${String(country)} is not an ISO 3166-1 alpha-2 country code such as DE (uppercase)`);
  }
}

function countryPeriods(country: string): readonly EuVatPeriod[] {
  checkCountry(country);
  const periods = euVatTable.get(country);
  if (periods === undefined) {
    throw invalidField('country', `${country} is not in the built-in VAT table (EU member states and GB: ${vatCountries().join(', ')})`);
  }
  return periods;
}

/** Throws `FIELD_INVALID` (field `date`) unless `date` is a real calendar date `YYYY-MM-DD` from 1970 to 9999. */
export function checkDate(date: string, field = 'date'): string {
  const m = typeof date === 'string' ? dateShape.exec(date) : null;
  const ms = m === null ? Number.NaN : Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (m === null || Number(m[1]) < 1970 || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw invalidField(field, 'must be a calendar date YYYY-MM-DD (1970 or later)');
  }
  return date;
}

// Compiled once per pattern: the table is fixed, so the cache is bounded by its patterns (about 20).
const postcodeRegExps = new Map<string, RegExp>();

/** The anchored regular expression of a table pattern: `27498` must not match `127498`. */
function postcodeRegExp(pattern: string): RegExp {
  let re = postcodeRegExps.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`);
    postcodeRegExps.set(pattern, re);
  }
  return re;
}

/** Uppercase, without spaces and dashes; `null`/empty stays `null`. Throws `FIELD_INVALID` (field `postcode`) for odd text. */
export function normalisePostcode(postcode: string | null): string | null {
  if (postcode === null || postcode === '') return null;
  const normalised = typeof postcode === 'string' ? postcode.toUpperCase().replace(/[\s-]/g, '') : '';
  if (postcode.length > POSTCODE_LENGTH_MAX || !/^[A-Z0-9]{1,16}$/.test(normalised)) {
    throw invalidField('postcode', `must be up to ${POSTCODE_LENGTH_MAX} letters, digits, spaces or dashes`);
  }
  return normalised;
}
