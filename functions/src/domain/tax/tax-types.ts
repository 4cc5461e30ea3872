/**
 * What a tax calculation takes and gives, whoever computes it: the built-in EU VAT engine
 * (`eu-vat.ts`) or a merchant's tax service behind the external hook (`adapters/tax/`). The
 * `TaxCalculator` port (`ports/tax-calculator.ts`) is `(TaxRequest) -> Promise<TaxCalculation>`.
 *
 * Rates are integers in parts per million (`ratePpm`): 25.5 % is 255_000, 4.8 % is 48_000, so
 * every rate with up to four decimals of a percent is exact and no float touches a rate.
 */
import type { Money } from '../money/index.js';

/** VAT category: a country's standard rate or its reduced rate (see `eu-vat.ts` for which). */
export type TaxCategory = 'standard' | 'reduced';
/** `exclusive`: the amount is net, tax is added; `inclusive`: the amount is gross, tax is carved out. */
export type TaxBehavior = 'exclusive' | 'inclusive';

/** The seller (the tenant) as tax sees it. */
export interface TaxSeller {
  /** ISO 3166-1 alpha-2 country of establishment, e.g. `DE`. */
  readonly country: string;
  readonly vatId: string | null;
}

/** The customer as tax sees it. */
export interface TaxCustomer {
  /** ISO 3166-1 alpha-2 country of the billing address, e.g. `FR` (uppercase). */
  readonly country: string;
  /** Postal code, for territories with their own rate (Canary Islands, Heligoland, ...). */
  readonly postcode: string | null;
  /** VAT id of a business customer (`FR12345678901`); `null` for a consumer. */
  readonly vatId: string | null;
}

/** One line to tax: its taxable amount after discounts, as net (exclusive) or gross (inclusive). */
export interface TaxRequestLine {
  readonly lineId: string;
  readonly amount: Money;
  readonly taxBehavior: TaxBehavior;
  readonly taxCategory: TaxCategory;
}

/** Most lines per tax request (as an invoice's lines). */
export const TAX_LINES_MAX = 1000;

/** A request to tax the lines of one invoice (or one quote). */
export interface TaxRequest {
  readonly currency: string;
  readonly seller: TaxSeller;
  readonly customer: TaxCustomer;
  /** The tax point as a UTC calendar date `YYYY-MM-DD`: rates effective that day apply. */
  readonly date: string;
  readonly lines: readonly TaxRequestLine[];
  /** A rate chosen by the caller (the CLI's `--rate`), overriding the table for every line. */
  readonly rateOverridePpm: number | null;
}

/**
 * Why a line has its rate:
 * - `standard` / `reduced`: the country's rate of that category on the date;
 * - `territory`: a postcode exception (e.g. Canary Islands 0 %, Azores 18 %);
 * - `reverse_charge`: B2B across EU borders, 0 % here and the customer accounts for VAT;
 * - `override`: a caller-given rate;
 * - `external`: the merchant's tax service said so;
 * - `not_collecting`: the customer's country is outside the built-in table (EU-27 and GB): 0 %, no
 *   VAT collected (as Stripe Tax's `not_collecting`); local taxes there need a rate or the hook.
 */
export type TaxTreatment = 'standard' | 'reduced' | 'territory' | 'reverse_charge' | 'override' | 'external' | 'not_collecting';

/** The tax of one line. `net + tax` is the line's gross; for exclusive lines `net` is the amount. */
export interface TaxLineResult {
  readonly lineId: string;
  readonly taxBehavior: TaxBehavior;
  readonly net: Money;
  readonly tax: Money;
  readonly ratePpm: number;
  readonly treatment: TaxTreatment;
  /** Country whose rate applied (`EL` appears as `GR`), or the customer's for a reverse charge. */
  readonly country: string;
  /** Human reason, e.g. "FI standard rate 25.5 % effective from 2024-09-01". */
  readonly reason: string;
}

/** Which engine produced a calculation. */
export type TaxEngine = 'builtin_eu_vat' | 'external' | 'override';

/** A complete calculation for one request: stored on the invoice as the calculation used. */
export interface TaxCalculation {
  readonly engine: TaxEngine;
  /** Data version, e.g. `ibericode/vat-rates@5abb1e1b`, or the external service's label. */
  readonly engineVersion: string;
  /** True when the external hook failed and the built-in engine answered (fallback `builtin`). */
  readonly fallbackUsed: boolean;
  /** Why the external hook failed when `fallbackUsed`, else empty. */
  readonly fallbackReason: string;
  readonly currency: string;
  readonly date: string;
  readonly customer: TaxCustomer;
  readonly reverseCharge: boolean;
  /** One per request line, same order. */
  readonly lines: readonly TaxLineResult[];
  readonly taxTotal: Money;
  /** A legal note to print on the invoice (the reverse-charge mention), else empty. */
  readonly note: string;
}
