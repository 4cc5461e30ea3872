/**
 * PayPal's Settlement report (STL, CSV). Every record starts with its row type: RH report header,
 * FH file header, SH section header, CH column names of the section's body, SB body (one
 * transaction), SF section footer and RF report footer (control totals per currency), SC / RC
 * section / report record counts, FF file footer. Amounts are unsigned integers of minor units
 * with a debit/credit flag each.
 *
 * Footer layout read here (positions after the row type, as in PayPal's specification):
 * `SF|RF, currency, total gross credit, total gross debit, total fee credit, total fee debit, ...`
 * (later fields, e.g. balances, ignored); `SC|RC, record count`. Self-checks: each section's and
 * the report's totals per currency and record counts equal the body's; a report without its RF or
 * RC (a truncated file) fails.
 */
import { type LineType, ColumnMap, integerMinor, reportCurrency, reportMalformed } from './report-line.js';
import { type ReportParser, type SelfCheck, SelfCheckErrors } from './report-parser.js';

const required = [
  'Transaction ID', 'Transaction Event Code', 'Transaction Debit or Credit', 'Gross Transaction Amount',
  'Gross Transaction Currency', 'Fee Debit or Credit', 'Fee Amount',
] as const;
const optional = ['Invoice ID', 'PayPal Reference ID', 'Fee Currency', 'Custom Field'] as const;
type Column = (typeof required)[number] | (typeof optional)[number];

/**
 * The line type of a PayPal transaction event code (T-code). Ranges from PayPal's T-code table:
 * T00xx payments, T01xx fees, T04xx withdrawals (payouts), T11xx reversals (T1107 merchant refund,
 * T1106 reversal by PayPal = chargeback), T12xx adjustments (T1201 chargeback, T1202 its reversal).
 */
export function classifyPaypalEventCode(code: string): LineType {
  if (code === 'T1107' || code === 'T1105') return 'refund';
  if (code === 'T1201' || code === 'T1106') return 'chargeback';
  if (code === 'T1202' || code === 'T1108') return 'chargeback_reversal';
  if (/^T00\d\d$/.test(code)) return 'payment';
  if (/^T01\d\d$/.test(code)) return 'fee';
  if (/^T04\d\d$/.test(code)) return 'payout';
  if (/^T12\d\d$/.test(code)) return 'correction';
  return 'other';
}

interface Totals { grossCr: bigint; grossDr: bigint; feeCr: bigint; feeDr: bigint }
const zero = (): Totals => ({ grossCr: 0n, grossDr: 0n, feeCr: 0n, feeDr: 0n });
const footerNames = ['Total Gross Amount Credit', 'Total Gross Amount Debit', 'Total Fee Amount Credit', 'Total Fee Amount Debit'] as const;

// PayPal's own spelling has "Transaction  Debit or Credit" (two spaces): header names compare with whitespace collapsed.
const normaliseHeader = (fields: readonly string[]): string[] => fields.map((f) => f.trim().replace(/\s+/g, ' '));

export function createPaypalStlParser(file: string): ReportParser {
  let columns: ColumnMap<Column> | null = null;
  let sawHeader = false;
  let section = new Map<string, Totals>();
  let sectionRecords = 0;
  const report = new Map<string, Totals>();
  let reportRecords = 0;
  let sawReportFooter = false;
  let sawReportCount = false;
  const errors = new SelfCheckErrors();

  const flag = (text: string, line: number, column: string): 1n | -1n => {
    if (text === 'CR') return 1n;
    if (text === 'DR') return -1n;
    throw reportMalformed(file, line, column, `"${text.slice(0, 10)}" is neither CR nor DR`);
  };
  const add = (map: Map<string, Totals>, currency: string, part: keyof Totals, amount: bigint): void => {
    let t = map.get(currency);
    if (!t) map.set(currency, (t = zero()));
    t[part] += amount;
  };
  const checkFooter = (fields: readonly string[], line: number, expected: Map<string, Totals>, check: string): void => {
    const currency = reportCurrency((fields[1] ?? '').trim(), file, line, 'Gross Transaction Currency');
    const stated = footerNames.map((name, i) => integerMinor((fields[i + 2] ?? '').trim(), file, line, name));
    const t = expected.get(currency) ?? zero();
    const actual = [t.grossCr, t.grossDr, t.feeCr, t.feeDr];
    footerNames.forEach((name, i) => {
      if (stated[i] !== actual[i]) errors.add({ check, line, message: `${currency} ${name}: footer says ${stated[i]}, the body adds up to ${actual[i]} (minor units)` });
    });
    expected.delete(currency);
  };
  const checkCount = (fields: readonly string[], line: number, actual: number, check: string): void => {
    const stated = integerMinor((fields[1] ?? '').trim(), file, line, 'Record Count');
    if (stated !== BigInt(actual)) errors.add({ check, line, message: `record count says ${stated}, the body has ${actual} records` });
  };

  return {
    record(fields, line) {
      const tag = (fields[0] ?? '').trim();
      switch (tag) {
        case 'RH': sawHeader = true; return null;
        case 'FH': case 'FF': return null;
        case 'SH': section = new Map(); sectionRecords = 0; return null;
        case 'CH': columns = new ColumnMap<Column>(normaliseHeader(fields), required, optional, file, line); return null;
        case 'SF': checkFooter(fields, line, section, 'section_footer'); return null;
        case 'SC': checkCount(fields, line, sectionRecords, 'record_count'); return null;
        case 'RF': sawReportFooter = true; checkFooter(fields, line, report, 'report_footer'); return null;
        case 'RC': sawReportCount = true; checkCount(fields, line, reportRecords, 'record_count'); return null;
        case 'SB': break;
        default:
          if (tag === '' && fields.length === 1) return null; // a blank line
          throw reportMalformed(file, line, 'row type', `unknown row type "${tag.slice(0, 10)}" (expected RH, FH, SH, CH, SB, SF, SC, RF, RC or FF)`);
      }
      if (!sawHeader) throw reportMalformed(file, line, 'row type', 'a body row before the report header (RH)');
      if (columns === null) throw reportMalformed(file, line, 'row type', 'a body row (SB) before its column header (CH)');
      const c = columns;
      const get = (name: Column): string => c.get(fields, name);
      const id = get('Transaction ID');
      if (id === '') throw reportMalformed(file, line, 'Transaction ID', 'empty transaction id');
      const rawType = get('Transaction Event Code');
      const grossCurrency = reportCurrency(get('Gross Transaction Currency'), file, line, 'Gross Transaction Currency');
      const feeCurrencyText = get('Fee Currency');
      const currency = feeCurrencyText === '' ? grossCurrency : reportCurrency(feeCurrencyText, file, line, 'Fee Currency');
      const grossSign = flag(get('Transaction Debit or Credit'), line, 'Transaction Debit or Credit');
      const gross = integerMinor(get('Gross Transaction Amount'), file, line, 'Gross Transaction Amount');
      const feeText = get('Fee Amount');
      const fee = integerMinor(feeText, file, line, 'Fee Amount');
      // No fee: PayPal leaves the fee flag empty too.
      const feeSign = feeText === '' || fee === 0n ? -1n : flag(get('Fee Debit or Credit'), line, 'Fee Debit or Credit');
      add(section, grossCurrency, grossSign > 0n ? 'grossCr' : 'grossDr', gross);
      add(report, grossCurrency, grossSign > 0n ? 'grossCr' : 'grossDr', gross);
      add(section, currency, feeSign > 0n ? 'feeCr' : 'feeDr', fee);
      add(report, currency, feeSign > 0n ? 'feeCr' : 'feeDr', fee);
      sectionRecords++;
      reportRecords++;
      const grossMinor = grossSign * gross;
      const feesMinor = -feeSign * fee;
      return {
        line, type: classifyPaypalEventCode(rawType), rawType, pspReference: id,
        altReferences: get('PayPal Reference ID') === '' ? [] : [get('PayPal Reference ID')],
        merchantReference: get('Invoice ID') || get('Custom Field'), modificationReference: id,
        grossCurrency, grossMinor, currency, feesMinor, netMinor: currency === grossCurrency ? grossMinor - feesMinor : -feesMinor, payoutKey: '',
      };
    },
    finish(): SelfCheck {
      if (!sawHeader) throw reportMalformed(file, 1, 'row type', 'no report header (RH): not a PayPal settlement report');
      if (!sawReportFooter) errors.add({ check: 'footer_missing', line: 0, message: 'no report footer (RF): the file is incomplete' });
      if (!sawReportCount) errors.add({ check: 'footer_missing', line: 0, message: 'no report record count (RC): the file is incomplete' });
      for (const [currency, t] of report) {
        if (sawReportFooter && (t.grossCr | t.grossDr | t.feeCr | t.feeDr) !== 0n) {
          errors.add({ check: 'report_footer', line: 0, message: `${currency}: body amounts with no report footer (RF) for the currency` });
        }
      }
      return { payouts: [], errors: errors.list() };
    },
  };
}
