/**
 * Settlement reports of the sandbox PSP: what it settled (captures, refunds, chargebacks and their
 * reversals, as confirmed by its notifications). Adyen: the *Settlement details report* with the
 * sandbox's fees (Interchange++: interchange 0.30 %, scheme fees 0.02 %, markup 0.50 %, each rounded
 * down to the minor unit) and one MerchantPayout line per currency. Stripe: the *itemized payout
 * reconciliation* report with its fee (1.4 % rounded down + 25 minor units per charge), every line
 * paid out with one automatic payout. Disputes carry no fee line: Tally books the PSP's dispute fee
 * with the chargeback itself.
 */
import { formatDecimal, money } from '../../functions/src/domain/money/index.js';

/** One settled movement of a payment, recorded when the PSP confirms it. */
export interface SettlementEvent {
  type: 'Settled' | 'Refunded' | 'Chargeback' | 'ChargebackReversed' | 'SecondChargeback';
  /** The payment's PSP reference. */
  pspReference: string;
  /** The modification's own PSP reference. */
  modificationReference: string;
  /** The merchant's reference of the payment (Tally's payment id). */
  merchantReference: string;
  /** Minor units of `currency`. */
  value: number;
  currency: string;
  atMs: number;
}

/** Most settlement events kept (oldest dropped first, as the sandbox's other logs). */
export const SETTLEMENT_EVENTS_MAX = 400_000;

const header = ['Company Account', 'Merchant Account', 'Psp Reference', 'Merchant Reference', 'Payment Method', 'Creation Date', 'TimeZone', 'Type',
  'Modification Reference', 'Gross Currency', 'Gross Debit (GC)', 'Gross Credit (GC)', 'Exchange Rate', 'Net Currency', 'Net Debit (NC)', 'Net Credit (NC)',
  'Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)', 'Payment Method Variant', 'Modification Merchant Reference', 'Batch Number',
  'Reserved4', 'Reserved5', 'Reserved6', 'Reserved7', 'Reserved8', 'Reserved9', 'Reserved10'];

/** The sandbox's fees on a settled amount (minor units): interchange, scheme fees, markup. */
export function sandboxFees(value: number): { interchange: number; scheme: number; markup: number } {
  return { interchange: Math.floor((value * 30) / 10_000), scheme: Math.floor((value * 2) / 10_000), markup: Math.floor((value * 50) / 10_000) };
}

const csvField = (v: string): string => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** An Adyen settlement details report (CSV) of `events` as batch `batchNumber`. */
export function adyenSettlementReport(events: readonly SettlementEvent[], options: { batchNumber: number; merchantAccount: string }): string {
  const dec = (value: number, currency: string): string => (value === 0 ? '' : formatDecimal(money(BigInt(value), currency)));
  const rows: string[][] = [];
  const netByCurrency = new Map<string, number>();
  for (const e of events) {
    const credit = e.type === 'Settled' || e.type === 'ChargebackReversed';
    const fees = e.type === 'Settled' ? sandboxFees(e.value) : { interchange: 0, scheme: 0, markup: 0 };
    const net = (credit ? e.value : -e.value) - fees.interchange - fees.scheme - fees.markup;
    netByCurrency.set(e.currency, (netByCurrency.get(e.currency) ?? 0) + net);
    const type = e.type === 'SecondChargeback' ? 'SecondChargeback' : e.type;
    rows.push(['TallySandbox', options.merchantAccount, e.pspReference, e.merchantReference, 'visa', new Date(e.atMs).toISOString().replace('T', ' ').slice(0, 19), 'UTC',
      type, e.modificationReference, e.currency, credit ? '' : dec(e.value, e.currency), credit ? dec(e.value, e.currency) : '', '1', e.currency,
      net < 0 ? dec(-net, e.currency) : '', net > 0 ? dec(net, e.currency) : '', '', dec(fees.markup, e.currency), dec(fees.scheme, e.currency),
      dec(fees.interchange, e.currency), 'visacredit', '', String(options.batchNumber), '', '', '', '', '', '', '']);
  }
  for (const [currency, net] of [...netByCurrency.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    // A negative batch pays nothing out: its balance carries over to the next batch.
    if (net <= 0) continue;
    rows.push(['TallySandbox', options.merchantAccount, '', '', '', new Date(events.at(-1)?.atMs ?? 0).toISOString().replace('T', ' ').slice(0, 19), 'UTC',
      'MerchantPayout', `PAYOUT-${options.batchNumber}-${currency}`, '', '', '', '', currency, dec(net, currency), '', '', '', '', '', '', 'NL00SANDBOX0000000000', String(options.batchNumber),
      '', '', '', '', '', '', '']);
  }
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** One Stripe balance transaction of the sandbox (amounts in minor units, signed: credit positive; currency as Stripe writes it, lower case). */
export interface StripeBalanceTransaction {
  id: string;
  category: 'charge' | 'refund' | 'dispute' | 'dispute_reversal';
  amount: number;
  currency: string;
  sourceId: string;
  chargeId: string;
  paymentIntentId: string;
  tallyPaymentId: string;
  atMs: number;
}

/** The sandbox's Stripe fee on a charge (minor units). */
export function sandboxStripeFee(amount: number): number {
  return Math.floor((amount * 140) / 10_000) + 25;
}

const stripeHeader = ['balance_transaction_id', 'created_utc', 'available_on_utc', 'currency', 'gross', 'fee', 'net', 'reporting_category', 'source_id', 'description',
  'automatic_payout_id', 'automatic_payout_effective_at_utc', 'charge_id', 'payment_intent_id', 'payment_metadata[tally_payment_id]'];

/** A Stripe itemized payout reconciliation report (CSV) of `transactions`, all paid out with `payoutId`. */
export function stripePayoutReconciliationReport(transactions: readonly StripeBalanceTransaction[], options: { payoutId: string }): string {
  const dec = (value: number, currency: string): string => formatDecimal(money(BigInt(value), currency.toUpperCase()));
  const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const rows = transactions.map((t) => {
    const fee = t.category === 'charge' ? sandboxStripeFee(t.amount) : 0;
    return [t.id, at(t.atMs), at(t.atMs), t.currency.toLowerCase(), dec(t.amount, t.currency), dec(fee, t.currency), dec(t.amount - fee, t.currency), t.category,
      t.sourceId, '', options.payoutId, at(transactions.at(-1)?.atMs ?? 0), t.chargeId, t.paymentIntentId, t.tallyPaymentId];
  });
  return [stripeHeader, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}
