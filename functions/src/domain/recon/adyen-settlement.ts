/**
 * Adyen's Settlement details report (CSV, one file per batch or a date range of batches).
 * Columns are found by name (newer files add Booking Date, Balance Currency, ...). Amounts are
 * decimal major units, debit and credit in separate columns; fees (Commission, Markup, Scheme Fees,
 * Interchange) are in the net currency. Self-check: the net of each batch, per net currency, equals
 * what its MerchantPayout line pays out.
 */
import { type LineType, ColumnMap, decimalMinor, fieldAt, reportCurrency, reportMalformed } from './report-line.js';

const noReferences: readonly string[] = Object.freeze([]);
import { type PayoutCheck, type ReportParser, type SelfCheck, SelfCheckErrors } from './report-parser.js';

const required = [
  'Psp Reference', 'Merchant Reference', 'Type', 'Gross Currency', 'Gross Debit (GC)', 'Gross Credit (GC)',
  'Net Currency', 'Net Debit (NC)', 'Net Credit (NC)', 'Batch Number',
] as const;
const optional = ['Modification Reference', 'Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)'] as const;
type Column = (typeof required)[number] | (typeof optional)[number];

const typeByRecordType: Readonly<Record<string, LineType>> = {
  Settled: 'payment', SettledBulk: 'payment', SettledInstallment: 'payment', SettledExternallyWithInfo: 'payment',
  Refunded: 'refund', RefundedBulk: 'refund', RefundedInstallment: 'refund', RefundedExternallyWithInfo: 'refund',
  Chargeback: 'chargeback', SecondChargeback: 'chargeback', ChargebackExternallyWithInfo: 'chargeback',
  ChargebackReversed: 'chargeback_reversal', ChargebackReversedExternallyWithInfo: 'chargeback_reversal',
  Fee: 'fee', MiscCosts: 'fee', PaymentCost: 'fee', InvoiceDeduction: 'fee',
  MerchantPayout: 'payout',
  DepositCorrection: 'correction', ManualCorrected: 'correction', Balancetransfer: 'correction', ReserveAdjustment: 'correction',
  RefundedReversed: 'correction', ChargebackReversedCorrection: 'correction', SettledReversed: 'correction',
};

/** The line type of an Adyen record type; unknown types are `other` (never dropped). */
export function classifyAdyenType(recordType: string): LineType {
  return typeByRecordType[recordType] ?? 'other';
}

interface BatchTotals { netMinor: bigint; payoutMinor: bigint | null; payoutLine: number }

export function createAdyenSettlementParser(file: string): ReportParser {
  let at: Record<Column, number> | null = null;
  // batch -> net currency -> totals. Bounded by the report's batches x currencies, not its lines.
  const batches = new Map<string, Map<string, BatchTotals>>();
  const errors = new SelfCheckErrors();

  const totalsOf = (batch: string, currency: string): BatchTotals => {
    let byCurrency = batches.get(batch);
    if (!byCurrency) batches.set(batch, (byCurrency = new Map()));
    let totals = byCurrency.get(currency);
    if (!totals) byCurrency.set(currency, (totals = { netMinor: 0n, payoutMinor: null, payoutLine: 0 }));
    return totals;
  };

  return {
    record(fields, line) {
      if (at === null) {
        const columns = new ColumnMap<Column>(fields, required, optional, file, line);
        at = Object.fromEntries([...required, ...optional].map((name) => [name, columns.position(name)])) as Record<Column, number>;
        return null;
      }
      if (fields.length === 1 && fields[0] === '') return null;
      // Positions resolved once from the header: no lookups or closures per line (a report has millions).
      const rawType = fieldAt(fields, at.Type);
      if (rawType === '') throw reportMalformed(file, line, 'Type', 'empty record type');
      const type = classifyAdyenType(rawType);
      const currency = reportCurrency(fieldAt(fields, at['Net Currency']), file, line, 'Net Currency');
      const grossCurrencyText = fieldAt(fields, at['Gross Currency']);
      const grossCurrency = grossCurrencyText === '' || grossCurrencyText === currency ? currency : reportCurrency(grossCurrencyText, file, line, 'Gross Currency');
      const grossMinor = decimalMinor(fieldAt(fields, at['Gross Credit (GC)']), grossCurrency, file, line, 'Gross Credit (GC)')
        - decimalMinor(fieldAt(fields, at['Gross Debit (GC)']), grossCurrency, file, line, 'Gross Debit (GC)');
      const netMinor = decimalMinor(fieldAt(fields, at['Net Credit (NC)']), currency, file, line, 'Net Credit (NC)')
        - decimalMinor(fieldAt(fields, at['Net Debit (NC)']), currency, file, line, 'Net Debit (NC)');
      let feesMinor = decimalMinor(fieldAt(fields, at['Commission (NC)']), currency, file, line, 'Commission (NC)')
        + decimalMinor(fieldAt(fields, at['Markup (NC)']), currency, file, line, 'Markup (NC)')
        + decimalMinor(fieldAt(fields, at['Scheme Fees (NC)']), currency, file, line, 'Scheme Fees (NC)')
        + decimalMinor(fieldAt(fields, at['Interchange (NC)']), currency, file, line, 'Interchange (NC)');
      // A Fee-like line carries its cost as a net debit only: the cost is the fee.
      if (type === 'fee' && feesMinor === 0n && grossMinor === 0n) feesMinor = -netMinor;
      const batch = fieldAt(fields, at['Batch Number']);
      if (batch === '') throw reportMalformed(file, line, 'Batch Number', 'empty batch number');
      const totals = totalsOf(batch, currency);
      if (type === 'payout') {
        if (totals.payoutMinor !== null) {
          errors.add({ check: 'payout_total', line, message: `batch ${batch} ${currency}: a second MerchantPayout line (first at line ${totals.payoutLine})` });
        }
        totals.payoutMinor = (totals.payoutMinor ?? 0n) - netMinor;
        totals.payoutLine = line;
      } else {
        totals.netMinor += netMinor;
      }
      return {
        line, type, rawType, pspReference: fieldAt(fields, at['Psp Reference']), altReferences: noReferences, merchantReference: fieldAt(fields, at['Merchant Reference']),
        modificationReference: fieldAt(fields, at['Modification Reference']), grossCurrency, grossMinor, currency, feesMinor, netMinor, payoutKey: batch,
      };
    },
    finish(): SelfCheck {
      if (at === null) throw reportMalformed(file, 1, 'Type', 'the file is empty: no header line');
      const payouts: PayoutCheck[] = [];
      for (const [batch, byCurrency] of batches) {
        for (const [currency, totals] of byCurrency) {
          // A batch without a MerchantPayout line (balance carried over, e.g. a negative batch) has nothing to check.
          if (totals.payoutMinor === null) continue;
          const ok = totals.payoutMinor === totals.netMinor;
          payouts.push({ batch, currency, expectedMinor: totals.netMinor, reportedMinor: totals.payoutMinor, ok, line: totals.payoutLine });
          if (!ok) {
            errors.add({ check: 'payout_total', line: totals.payoutLine, message: `batch ${batch} ${currency}: lines net ${totals.netMinor} minor units, MerchantPayout pays out ${totals.payoutMinor}` });
          }
        }
      }
      return { payouts, errors: errors.list() };
    },
  };
}
