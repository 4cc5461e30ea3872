/**
 * What every settlement report line becomes, whatever the PSP's format: one closed set of line
 * types (as Hyperswitch normalises webhook actions) and signed amounts in exact minor units.
 * Pure code, no I/O.
 */
import { TallyError } from '../errors.js';
import { currencyOf, parseDecimal } from '../money/index.js';

/** The PSPs whose settlement reports are read. */
export const reportPsps = ['adyen', 'stripe', 'paypal'] as const;
export type ReportPsp = (typeof reportPsps)[number];

/** Every line is exactly one of these. */
export const lineTypes = ['payment', 'refund', 'chargeback', 'chargeback_reversal', 'fee', 'payout', 'correction', 'other'] as const;
export type LineType = (typeof lineTypes)[number];

/**
 * One data line of a report, normalised. Amounts are signed from the merchant's point of view
 * (credit to the merchant's PSP balance positive, debit negative), in minor units:
 * - `grossMinor` in `grossCurrency` (what the shopper paid or got back);
 * - `feesMinor` in `currency` (what the PSP kept: positive is a cost);
 * - `netMinor` in `currency`, the settlement (net) currency: `gross (converted) - fees`.
 */
export interface ReportLine {
  /** 1-based line number in the file (the CSV line where the record ends). */
  readonly line: number;
  readonly type: LineType;
  /** The PSP's own type or category of the line (`Settled`, `charge`, `T0006`). */
  readonly rawType: string;
  /** The PSP's reference of the payment the line is about (Adyen PSP reference, Stripe charge/payment intent, PayPal transaction id). */
  readonly pspReference: string;
  /** Other PSP references the line may be known under (Stripe's payment intent next to its charge). */
  readonly altReferences: readonly string[];
  /** The merchant's reference, when the report carries one. */
  readonly merchantReference: string;
  /** The PSP's id of this modification (Adyen modification reference, Stripe balance transaction). */
  readonly modificationReference: string;
  readonly grossCurrency: string;
  readonly grossMinor: bigint;
  readonly currency: string;
  readonly feesMinor: bigint;
  readonly netMinor: bigint;
  /** The payout (Adyen batch number, Stripe automatic payout id, PayPal report) the line is paid out with. */
  readonly payoutKey: string;
}

/** Where a report went wrong: the error every parser throws for input it cannot read. */
export function reportMalformed(file: string, line: number, column: string, message: string): TallyError {
  return new TallyError('REPORT_MALFORMED', `${file}:${line}: column ${column}: ${message}`, {
    file, line: String(line), column,
  });
}

// Plain unsigned or signed decimal; validated again by parseDecimal (the one exact parser).
const plainDecimal = /^-?[0-9]+(\.[0-9]+)?$/;
// The common case, exact in any currency: at most 14 integer and 4 fraction digits (CLF's exponent),
// 18 digits, always within int64. Anything else takes parseDecimal.
const shortDecimal = /^(-?)([0-9]{1,14})(?:\.([0-9]{1,4}))?$/;
const exponents = new Map<string, number>();
const tenPowers = [1n, 10n, 100n, 1_000n, 10_000n];

/**
 * A report amount in major units (`"12.34"`, empty = zero) to exact minor units of `currency`
 * through `parseDecimal`; anything else is `REPORT_MALFORMED` naming the file, line and column.
 * Thousands separators and exponents are refused, never guessed.
 */
export function decimalMinor(text: string, currency: string, file: string, line: number, column: string): bigint {
  if (text === '') return 0n;
  // Fast exact path (a report has millions of amounts): digits scaled by the exponent, no Money.
  const short = shortDecimal.exec(text);
  if (short !== null) {
    let exponent = exponents.get(currency);
    if (exponent === undefined) exponents.set(currency, (exponent = currencyOf(currency).exponent));
    const fraction = short[3] ?? '';
    if (fraction.length <= exponent) {
      const minor = BigInt(short[2]! + fraction) * tenPowers[exponent - fraction.length]!;
      return short[1] === '-' ? -minor : minor;
    }
  }
  if (!plainDecimal.test(text)) throw reportMalformed(file, line, column, `"${text.slice(0, 40)}" is not a plain decimal amount`);
  try {
    return parseDecimal(text, currency, { field: column }).amountMinor;
  } catch (error) {
    if (error instanceof TallyError) throw reportMalformed(file, line, column, error.message);
    throw error;
  }
}

/** Field `i` of a record, trimmed ('' for an absent column or a short record). */
export function fieldAt(record: readonly string[], i: number): string {
  const v = i < 0 ? undefined : record[i];
  return v === undefined ? '' : v.trim();
}

/** An unsigned integer of minor units (PayPal's amounts), empty = zero. */
export function integerMinor(text: string, file: string, line: number, column: string): bigint {
  if (text === '') return 0n;
  if (!/^[0-9]{1,19}$/.test(text)) throw reportMalformed(file, line, column, `"${text.slice(0, 40)}" is not an unsigned integer amount in minor units`);
  return BigInt(text);
}

/** A currency code of the report: exact ISO 4217 (upper-cased only where the format documents lower case). */
export function reportCurrency(text: string, file: string, line: number, column: string): string {
  // Every line names a currency, almost always the one before it.
  if (text === lastCurrency) return text;
  try {
    currencyOf(text, column);
    lastCurrency = text;
    return text;
  } catch (error) {
    if (error instanceof TallyError) throw reportMalformed(file, line, column, error.message);
    throw error;
  }
}
// A cache of the last valid code seen: currencyOf is a pure lookup, so sharing it is safe.
let lastCurrency = '';

/**
 * Columns found by header name: extra columns are ignored, optional ones may be missing, order is
 * free. A required column missing, or a header naming a column twice, is `REPORT_MALFORMED`.
 */
export class ColumnMap<Name extends string> {
  private readonly index = new Map<Name, number>();
  constructor(
    header: readonly string[],
    required: readonly Name[],
    optional: readonly Name[],
    file: string,
    line: number,
  ) {
    const wanted = new Set<string>([...required, ...optional]);
    const seen = new Set<string>();
    header.forEach((raw, i) => {
      const name = raw.trim();
      if (!wanted.has(name)) return;
      if (seen.has(name)) throw reportMalformed(file, line, name, `the header names column "${name}" twice (columns ${this.index.get(name as Name)! + 1} and ${i + 1})`);
      seen.add(name);
      this.index.set(name as Name, i);
    });
    const missing = required.filter((name) => !seen.has(name));
    if (missing.length > 0) throw reportMalformed(file, line, missing[0]!, `required column missing from the header (missing: ${missing.join(', ')})`);
  }

  /** The field of a record under `name` ('' when the column is absent or the record is short). */
  get(record: readonly string[], name: Name): string {
    const i = this.index.get(name);
    return i === undefined ? '' : (record[i] ?? '').trim();
  }

  /** The position of `name` in records (-1 when absent): for per-line reads without a lookup. */
  position(name: Name): number {
    return this.index.get(name) ?? -1;
  }

  has(name: Name): boolean {
    return this.index.has(name);
  }
}
