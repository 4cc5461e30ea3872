/**
 * `tally tax quote`: what VAT an amount carries, from the built-in EU VAT table (or a given rate),
 * offline: no stack, no API key. Amounts are typed in major units and parsed exactly with the
 * currency's ISO 4217 exponent (too many decimals is an error, never a rounding); the output is
 * decimal strings in major units, the rate in percent, and why that rate applies.
 */
import { Option, type Command } from 'commander';
import { formatDecimal, parseDecimal } from '../domain/money/index.js';
import { formatPercent, parsePercent, quoteTax, type TaxCategory } from '../domain/tax/index.js';
import { output, type GlobalOptions } from './cli-support.js';

/** Options of `tax quote` as commander gives them. */
export interface TaxQuoteOptions {
  country: string;
  postcode?: string;
  date?: string;
  category: TaxCategory;
  rate?: string;
  amount: string;
  currency: string;
  inclusive?: boolean;
}

/** The quote as printed with `--json`: amounts as decimal strings in major units. */
export interface TaxQuoteOutput {
  net: string;
  tax: string;
  gross: string;
  /** Percent, shortest exact text: `25.5`. */
  rate: string;
  currency: string;
  country: string;
  postcode: string | null;
  date: string;
  category: TaxCategory;
  inclusive: boolean;
  treatment: string;
  reason: string;
  /** The table's version, or `override` for `--rate`. */
  source: string;
}

/**
 * Runs a quote (pure apart from reading the clock for the default date). Throws `TallyError`
 * for bad input: `UNKNOWN_CURRENCY`, `AMOUNT_PRECISION_EXCEEDED`, `FIELD_INVALID` (amount,
 * country, postcode, date, rate, category).
 */
export function taxQuote(opts: TaxQuoteOptions, nowMs: number): TaxQuoteOutput {
  const amount = parseDecimal(opts.amount, opts.currency, { field: 'amount' });
  const date = opts.date ?? new Date(nowMs).toISOString().slice(0, 10);
  const ratePpm = opts.rate === undefined ? null : parsePercent(opts.rate, 'rate');
  const q = quoteTax({
    country: opts.country, postcode: opts.postcode ?? null, date, category: opts.category, ratePpm, amount,
    taxBehavior: opts.inclusive === true ? 'inclusive' : 'exclusive',
  });
  return {
    net: formatDecimal(q.net), tax: formatDecimal(q.tax), gross: formatDecimal(q.gross), rate: formatPercent(q.ratePpm),
    currency: amount.currency, country: opts.country, postcode: opts.postcode ?? null, date, category: opts.category,
    inclusive: opts.inclusive === true, treatment: q.treatment, reason: q.reason, source: q.source,
  };
}

function human(q: TaxQuoteOutput): string {
  const width = Math.max(q.net.length, q.tax.length, q.gross.length);
  return [
    `net    ${q.net.padStart(width)} ${q.currency}`,
    `tax    ${q.tax.padStart(width)} ${q.currency}`,
    `gross  ${q.gross.padStart(width)} ${q.currency}`,
    `rate   ${q.rate}%`,
    `why    ${q.reason}`,
  ].join('\n');
}

export function registerTaxCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const tax = program.command('tax').description('tax: quotes from the built-in EU VAT table, offline');
  tax.command('quote')
    .description('the net, tax and gross of an amount, the VAT rate and why it applies (EU-27 and GB table; works without a running stack)')
    .requiredOption('--country <CC>', 'customer country, ISO 3166-1 alpha-2 uppercase (Greece: GR)')
    .option('--postcode <P>', 'postal code, for territories with their own rate (Canary Islands, Heligoland, Azores, ...)')
    .option('--date <YYYY-MM-DD>', 'tax point, UTC (default: today)')
    .addOption(new Option('--category <category>', 'VAT category').choices(['standard', 'reduced']).default('standard'))
    .option('--rate <PCT>', 'use this rate in percent (e.g. 8.875) instead of the table')
    .requiredOption('--amount <DEC>', 'amount in major units, e.g. 100.00 (net; gross with --inclusive)')
    .requiredOption('--currency <CUR>', 'ISO 4217 currency code, e.g. EUR')
    .option('--inclusive', 'the amount includes the tax (carve it out) instead of excluding it')
    .action((opts: TaxQuoteOptions, cmd: Command) => {
      const q = taxQuote(opts, Date.now());
      output(globals(cmd), q, human(q));
    });
}
