/**
 * Stripe's itemized payout reconciliation report (`payout_reconciliation.itemized.*`): one row per
 * balance transaction paid out, grouped by `automatic_payout_id`. Columns are found by name (the
 * column set depends on the report's options, `created` or `created_utc`, metadata columns
 * `payment_metadata[key]`). `currency` is lower case as Stripe writes it; amounts are decimal major
 * units with `net = gross - fee`. Self-checks: that identity per line and per payout.
 */
import { type LineType, ColumnMap, decimalMinor, reportCurrency, reportMalformed } from './report-line.js';
import { type PayoutCheck, type ReportParser, type SelfCheck, SelfCheckErrors } from './report-parser.js';

/** The metadata key Tally's Stripe connector sets on PaymentIntents (its payment id). */
export const STRIPE_MERCHANT_REFERENCE_COLUMN = 'payment_metadata[tally_payment_id]';

const required = ['balance_transaction_id', 'currency', 'gross', 'fee', 'net', 'reporting_category'] as const;
const optional = ['source_id', 'charge_id', 'payment_intent_id', 'automatic_payout_id', STRIPE_MERCHANT_REFERENCE_COLUMN] as const;
type Column = (typeof required)[number] | (typeof optional)[number];

const typeByCategory: Readonly<Record<string, LineType>> = {
  charge: 'payment', payment: 'payment',
  refund: 'refund', payment_refund: 'refund',
  dispute: 'chargeback', dispute_reversal: 'chargeback_reversal',
  fee: 'fee', network_cost: 'fee', tax: 'fee',
  payout: 'payout', payout_reversal: 'payout',
  refund_failure: 'correction', payment_failure_refund: 'correction', partial_capture_reversal: 'correction',
  other_adjustment: 'correction', charge_failure: 'correction', payment_reversal: 'correction',
};

/** The line type of a Stripe `reporting_category`; unknown categories are `other` (never dropped). */
export function classifyStripeCategory(category: string): LineType {
  return typeByCategory[category] ?? 'other';
}

interface PayoutTotals { grossMinor: bigint; feeMinor: bigint; netMinor: bigint; firstLine: number }

export function createStripePayoutReconParser(file: string): ReportParser {
  let columns: ColumnMap<Column> | null = null;
  // payout id -> currency -> totals: bounded by payouts x currencies, not by lines.
  const payouts = new Map<string, Map<string, PayoutTotals>>();
  const errors = new SelfCheckErrors();

  return {
    record(fields, line) {
      if (columns === null) {
        columns = new ColumnMap<Column>(fields, required, optional, file, line);
        return null;
      }
      if (fields.length === 1 && fields[0] === '') return null;
      const c = columns;
      const get = (name: Column): string => c.get(fields, name);
      const id = get('balance_transaction_id');
      if (id === '') throw reportMalformed(file, line, 'balance_transaction_id', 'empty balance transaction id');
      const rawType = get('reporting_category');
      // Stripe documents lower-case currency codes; ISO 4217's spelling is upper case.
      const currency = reportCurrency(get('currency').toUpperCase(), file, line, 'currency');
      const grossMinor = decimalMinor(get('gross'), currency, file, line, 'gross');
      const feesMinor = decimalMinor(get('fee'), currency, file, line, 'fee');
      const netMinor = decimalMinor(get('net'), currency, file, line, 'net');
      if (grossMinor - feesMinor !== netMinor) {
        errors.add({ check: 'line_arithmetic', line, message: `${id}: gross ${grossMinor} - fee ${feesMinor} != net ${netMinor} (minor units ${currency})` });
      }
      const payoutId = get('automatic_payout_id');
      if (payoutId !== '') {
        let byCurrency = payouts.get(payoutId);
        if (!byCurrency) payouts.set(payoutId, (byCurrency = new Map()));
        let totals = byCurrency.get(currency);
        if (!totals) byCurrency.set(currency, (totals = { grossMinor: 0n, feeMinor: 0n, netMinor: 0n, firstLine: line }));
        totals.grossMinor += grossMinor;
        totals.feeMinor += feesMinor;
        totals.netMinor += netMinor;
      }
      const chargeId = get('charge_id');
      const intentId = get('payment_intent_id');
      const sourceId = get('source_id');
      const pspReference = chargeId || intentId || sourceId;
      const altReferences = [intentId, sourceId].filter((r) => r !== '' && r !== pspReference);
      return {
        line, type: classifyStripeCategory(rawType), rawType, pspReference, altReferences,
        merchantReference: get(STRIPE_MERCHANT_REFERENCE_COLUMN), modificationReference: id,
        grossCurrency: currency, grossMinor, currency, feesMinor, netMinor, payoutKey: payoutId,
      };
    },
    finish(): SelfCheck {
      if (columns === null) throw reportMalformed(file, 1, 'balance_transaction_id', 'the file is empty: no header line');
      const checks: PayoutCheck[] = [];
      for (const [id, byCurrency] of payouts) {
        for (const [currency, t] of byCurrency) {
          const expectedMinor = t.grossMinor - t.feeMinor;
          const ok = expectedMinor === t.netMinor;
          checks.push({ id, currency, expectedMinor, reportedMinor: t.netMinor, ok, line: 0 });
          if (!ok) errors.add({ check: 'payout_total', line: t.firstLine, message: `payout ${id} ${currency}: gross - fee = ${expectedMinor}, net = ${t.netMinor} (minor units)` });
        }
      }
      return { payouts: checks, errors: errors.list() };
    },
  };
}
