/**
 * Settlement report parsing end to end on the real reading path (file or stream -> csv-parse ->
 * the format's parser -> summary): the sample reports in test/fixtures/recon (written from the
 * PSPs' published format documentation), generated malformed variants, and properties.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseReport } from '../../app/recon/parse-report.js';
import { TallyError } from '../../domain/errors.js';
import { formatDecimal, money } from '../../domain/money/index.js';
import { type ReportPsp, summaryJson } from '../../domain/recon/index.js';
import { openReport } from './report-file.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../test/fixtures/recon');
const adyenFile = path.join(fixtures, 'adyen-settlement-details.csv');
const stripeFile = path.join(fixtures, 'stripe-payout-reconciliation-itemized.csv');
const paypalFile = path.join(fixtures, 'paypal-stl.csv');
const text = (file: string) => readFileSync(file, 'utf8');
/** RFC 4180 writing for generated variants (quotes only where needed). */
const stringify = (rows: string[][]): string =>
  rows.map((r) => r.map((f) => (/[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',')).join('\n') + '\n';

async function summarise(source: string, psp: ReportPsp, fileName = 'report.csv') {
  const reading = openReport(Readable.from([source]), psp, { fileName });
  return summaryJson(await parseReport(reading));
}

async function malformed(source: string, psp: ReportPsp): Promise<TallyError> {
  try {
    await summarise(source, psp, 'bad.csv');
  } catch (error) {
    expect(error).toBeInstanceOf(TallyError);
    expect((error as TallyError).reason).toBe('REPORT_MALFORMED');
    return error as TallyError;
  }
  throw new Error('expected REPORT_MALFORMED');
}

/** Replaces the `index`-th field of data line `lineNo` (1-based file line) of a simple CSV. */
function editField(csv: string, lineNo: number, column: string, value: string): string {
  const lines = csv.split('\n');
  const header = lines[0]!.split(',');
  const i = header.indexOf(column);
  expect(i).toBeGreaterThanOrEqual(0);
  const fields = lines[lineNo - 1]!.split(',');
  fields[i] = value;
  lines[lineNo - 1] = fields.join(',');
  return lines.join('\n');
}

describe('Adyen settlement details report', () => {
  it('reads the sample from the file: every line classified, exact per-currency totals, each batch payout checked', async () => {
    const s = summaryJson(await parseReport(openReport(adyenFile, 'adyen')));
    expect(s.lines).toBe(12);
    expect(s.byType).toEqual({ payment: 4, refund: 1, chargeback: 1, chargeback_reversal: 1, fee: 2, payout: 2, correction: 1, other: 0 });
    expect(s.gross).toEqual({ EUR: '11550', JPY: '1200', USD: '5000' });
    expect(s.fees).toEqual({ EUR: '2150', JPY: '36', USD: '0' });
    // Net of the whole file is zero per currency: every batch is paid out in full.
    expect(s.net).toEqual({ EUR: '0', JPY: '0', USD: '0' });
    expect(s.payouts).toEqual([
      { batch: '42', currency: 'EUR', expected: '14100', reported: '14100', ok: true },
      { batch: '42', currency: 'JPY', expected: '1164', reported: '1164', ok: true },
    ]);
    expect(s.selfCheckOk).toBe(true);
    expect(s.errors).toEqual([]);
    expect(s.breaks).toMatchObject({ duplicate_in_report: 0, fee_mismatch: 0 });
  });

  it('a batch whose lines do not add up to its MerchantPayout fails its self-check, naming the batch and line', async () => {
    const s = await summarise(editField(text(adyenFile), 12, 'Net Debit (NC)', '140.99'), 'adyen');
    expect(s.selfCheckOk).toBe(false);
    expect(s.payouts).toContainEqual({ batch: '42', currency: 'EUR', expected: '14100', reported: '14099', ok: false });
    expect(s.errors).toEqual([expect.objectContaining({ check: 'payout_total', line: 12 })]);
  });

  it('fees that do not account for gross - net are a fee_mismatch; a repeated line is a duplicate_in_report counted once', async () => {
    const lines = text(adyenFile).split('\n');
    const withDup = [...lines.slice(0, 3), lines[1]!, ...lines.slice(3)].join('\n');
    const s = await summarise(editField(withDup, 3, 'Net Credit (NC)', '25.20'), 'adyen');
    expect(s.breaks).toMatchObject({ duplicate_in_report: 1, fee_mismatch: 1 });
    expect(s.breakDetails).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'duplicate_in_report', line: 4, pspReference: '8815000000000001' }),
      expect.objectContaining({ kind: 'fee_mismatch', line: 3, reportedMinor: '25', expectedMinor: '30' }),
    ]));
  });

  it.each([
    ['a thousands separator', 'Gross Credit (GC)', '"1,000.00"', /bad\.csv:2: column Gross Credit \(GC\)/],
    ['more decimals than EUR has', 'Net Credit (NC)', '99.251', /bad\.csv:2: column Net Credit \(NC\).*at most 2 fraction digits/],
    ['an unknown currency', 'Net Currency', 'EUX', /bad\.csv:2: column Net Currency/],
    ['an exponent', 'Commission (NC)', '1e2', /bad\.csv:2: column Commission \(NC\)/],
  ])('%s stops with file, line and column named', async (_what, column, value, message) => {
    const error = await malformed(editField(text(adyenFile), 2, column, value), 'adyen');
    expect(error.message).toMatch(message);
    expect(error.metadata).toMatchObject({ file: 'bad.csv', line: '2', column });
  });

  it('a required column missing from the header, an unclosed quote, an empty file: REPORT_MALFORMED with line and column', async () => {
    const noType = text(adyenFile).replace(',Type,', ',Kind,');
    expect((await malformed(noType, 'adyen')).metadata).toMatchObject({ line: '1', column: 'Type' });
    const lines = text(adyenFile).split('\n');
    lines[4] = lines[4]!.replace(',pay_b,', ',"pay_b,');
    const unclosed = await malformed(lines.join('\n'), 'adyen');
    expect(unclosed.message).toMatch(/^bad\.csv:\d+: column /);
    expect(Number(unclosed.metadata.line)).toBeGreaterThanOrEqual(5);
    expect((await malformed('', 'adyen')).metadata).toMatchObject({ line: '1' });
  });

  it('line numbers count the line breaks inside quoted fields', async () => {
    const lines = text(adyenFile).split('\n');
    lines[1] = lines[1]!.replace('visacredit,,', 'visacredit,"first\nsecond\r\nthird",');
    lines[2] = lines[2]!.replace(',25.50,', ',25.5x,');
    const error = await malformed(lines.join('\n'), 'adyen');
    expect(error.metadata).toMatchObject({ line: '5', column: 'Gross Credit (GC)' });
  });

  it('a missing file is REPORT_MALFORMED naming it, not a stack trace', async () => {
    await expect(parseReport(openReport(path.join(fixtures, 'no-such-report.csv'), 'adyen'))).rejects.toMatchObject({ reason: 'REPORT_MALFORMED', metadata: { column: '-' } });
  });
});

describe('Stripe itemized payout reconciliation report', () => {
  it('reads the sample: categories classified, lower-case currencies, per-payout gross - fee = net', async () => {
    const s = summaryJson(await parseReport(openReport(stripeFile, 'stripe')));
    expect(s.lines).toBe(9);
    expect(s.byType).toEqual({ payment: 3, refund: 1, chargeback: 1, chargeback_reversal: 1, fee: 1, payout: 0, correction: 1, other: 1 });
    expect(s.net).toEqual({ EUR: '11213', JPY: '1157' });
    expect(s.payouts).toEqual([
      { id: 'po_1QxA', currency: 'EUR', expected: '11213', reported: '11213', ok: true },
      { id: 'po_1QxB', currency: 'JPY', expected: '1157', reported: '1157', ok: true },
    ]);
    expect(s.selfCheckOk).toBe(true);
  });

  it('a line whose gross - fee != net fails the self-check per line and per payout', async () => {
    const s = await summarise(editField(text(stripeFile), 2, 'net', '98.24'), 'stripe');
    expect(s.selfCheckOk).toBe(false);
    expect(s.errors).toEqual([
      expect.objectContaining({ check: 'line_arithmetic', line: 2 }),
      expect.objectContaining({ check: 'payout_total' }),
    ]);
    expect(s.payouts).toContainEqual({ id: 'po_1QxA', currency: 'EUR', expected: '11213', reported: '11212', ok: false });
  });
});

describe('PayPal settlement report (STL)', () => {
  it('reads the sample: T-codes classified, minor units with CR/DR flags, section and report footers agree', async () => {
    const s = summaryJson(await parseReport(openReport(paypalFile, 'paypal')));
    expect(s.lines).toBe(7);
    expect(s.byType).toEqual({ payment: 3, refund: 1, chargeback: 1, chargeback_reversal: 1, fee: 0, payout: 1, correction: 0, other: 0 });
    expect(s.gross).toEqual({ USD: '6550', JPY: '1200' });
    expect(s.fees).toEqual({ USD: '395', JPY: '47' });
    expect(s.selfCheckOk).toBe(true);
  });

  it('a footer that disagrees with the body, or a truncated file, fails the self-check', async () => {
    const bad = await summarise(text(paypalFile).replace('"SF","USD","15100"', '"SF","USD","15101"').replace('"RC","7"', '"RC","8"'), 'paypal');
    expect(bad.selfCheckOk).toBe(false);
    expect((bad.errors as { check: string }[]).map((e) => e.check)).toEqual(['section_footer', 'record_count']);
    const truncated = text(paypalFile).split('\n').slice(0, 9).join('\n');
    const t = await summarise(truncated, 'paypal');
    expect((t.errors as { check: string }[]).map((e) => e.check)).toEqual(['footer_missing', 'footer_missing']);
  });

  it('an unknown row type and a bad debit/credit flag stop with line and column', async () => {
    expect((await malformed(text(paypalFile).replace('"FH","01"', '"XX","01"'), 'paypal')).metadata).toMatchObject({ line: '2', column: 'row type' });
    expect((await malformed(text(paypalFile).replace('"T0006","2026/12/01 10:00:00 -0800","2026/12/01 10:00:05 -0800","CR"', '"T0006","a","b","XR"'), 'paypal')).metadata)
      .toMatchObject({ line: '5', column: 'Transaction Debit or Credit' });
  });
});

describe('properties', () => {
  const currencies = ['EUR', 'JPY', 'BHD', 'CLF', 'USD'] as const;

  it('decimal amounts become exact minor units with the currency exponent (any amount, trailing zeros, every exponent)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...currencies), fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.nat({ max: 3 }),
      async (currency, amountMinor, extraZeros) => {
        const decimal = formatDecimal(money(amountMinor, currency));
        const padded = decimal.includes('.') ? decimal + '0'.repeat(extraZeros) : decimal;
        const header = ['balance_transaction_id', 'currency', 'gross', 'fee', 'net', 'reporting_category', 'automatic_payout_id'];
        const csv = stringify([header, ['txn_1', currency.toLowerCase(), padded, '0', padded, 'charge', 'po_1']]);
        const s = await summarise(csv, 'stripe');
        expect(s.gross).toEqual({ [currency]: amountMinor.toString() });
        expect(s.selfCheckOk).toBe(true);
      }), { numRuns: 150 });
  });

  it('columns in any order, with extra columns and without the optional ones, read the same', async () => {
    const source = text(adyenFile);
    const rows = source.trim().split('\n').map((l) => l.split(','));
    const header = rows[0]!;
    const baseline = await summarise(source, 'adyen');
    const optional = new Set(['Company Account', 'Merchant Account', 'Payment Method', 'Creation Date', 'TimeZone', 'Exchange Rate', 'Payment Method Variant', 'Modification Merchant Reference']);
    await fc.assert(fc.asyncProperty(
      fc.shuffledSubarray([...header.keys()], { minLength: header.length, maxLength: header.length }),
      fc.subarray([...optional]), fc.nat({ max: 3 }),
      async (order, dropped, extras) => {
        const keep = order.filter((i) => !dropped.includes(header[i]!));
        const extraNames = Array.from({ length: extras }, (_, k) => `Booking Date ${k}`);
        const out = rows.map((r, n) => [...keep.map((i) => r[i] ?? ''), ...extraNames.map((name) => (n === 0 ? name : 'x,y'))]);
        expect(await summarise(stringify(out), 'adyen')).toEqual(baseline);
      }), { numRuns: 60 });
  });
});
