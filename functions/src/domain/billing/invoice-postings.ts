/**
 * The ledger entries an invoice implies (ADR 0032), pure. Accounts (one set per currency, ids
 * `acc_bil_<code>_<CUR>`):
 * - `billing_receivable` (asset): what customers owe on finalized invoices.
 * - `billing_revenue` (revenue): what the tenant earned, net of discounts and tax.
 * - `billing_tax_payable` (liability): tax collected for the authorities.
 * - `billing_collected` (asset): invoice payments collected through Tally's payments (the capture
 *   itself is the payments ledger's entry: psp_receivable / merchant_payable).
 * - `billing_customer_credit` (liability): credit notes on what was already paid, and negative
 *   invoices' totals (the customer's credit balance), owed back or consumed by later invoices.
 * - `billing_bad_debt` (expense): receivables written off when an invoice is marked uncollectible
 *   (dunning exhausted, ADR 0035), as Stripe records an uncollectible invoice as bad debt.
 *
 * Entries (total T = net N + tax X):
 * - finalization (`je_binv_<invoiceId>`): debit receivable T; credit revenue N; credit tax payable X.
 * - payment (`je_bpay_<invoiceId>`): debit collected T; credit receivable T.
 * - credit note of c = n + x (`je_bcn_<creditNoteId>`): debit revenue n; debit tax payable x; credit
 *   receivable c while the invoice is unpaid, customer credit once paid.
 * - void (`je_bvoid_<invoiceId>`): the finalization's lines the other way round, less what credit
 *   notes already reversed.
 * - customer credit (`je_bcred_<invoiceId>`): a negative total carried to the customer's credit
 *   (debit receivable, credit customer credit) or credit applied (debit customer credit, credit receivable).
 * - uncollectible (`je_bunc_<invoiceId>`): debit bad debt, credit receivable, by the amount due then;
 *   paid or voided later, the write-off is reversed first (`je_bunc_<invoiceId>_rev`).
 * Lines of zero are left out and a negative amount posts on the other side (the ledger wants
 * positive amounts: a negative invoice debits revenue and tax, credits receivable); an entry with
 * fewer than two lines is not posted at all (a zero invoice).
 */
import type { EntryInput, Posting } from '../ledger/index.js';
import type { ReservedLedgerNamespace } from '../ledger/namespace.js';

export const billingAccounts = [
  { code: 'billing_receivable', type: 'asset' },
  { code: 'billing_revenue', type: 'revenue' },
  { code: 'billing_tax_payable', type: 'liability' },
  { code: 'billing_collected', type: 'asset' },
  { code: 'billing_customer_credit', type: 'liability' },
  { code: 'billing_bad_debt', type: 'expense' },
] as const;
export type BillingAccountCode = (typeof billingAccounts)[number]['code'];

export const BILLING_ACCOUNT_ID_PREFIX = 'acc_bil_';

/** `acc_bil_<code>_<CUR>`: deterministic, in the reserved namespace below. */
export function billingAccountId(code: BillingAccountCode, currency: string): string {
  return `${BILLING_ACCOUNT_ID_PREFIX}${code.replace('billing_', '')}_${currency}`;
}

const entryPrefixes = { finalize: 'binv', pay: 'bpay', creditNote: 'bcn', void: 'bvoid', customerCredit: 'bcred', uncollectible: 'bunc' } as const;

/** Names the billing path derives: the public ledger RPCs refuse them (RESERVED_NAMESPACE). */
export const billingLedgerNamespace: ReservedLedgerNamespace = Object.freeze({
  owner: 'billing',
  accountIdPrefixes: Object.freeze([BILLING_ACCOUNT_ID_PREFIX]),
  accountCodeFamilies: Object.freeze(billingAccounts.map((a) => a.code)),
  entryIdFamilies: Object.freeze(Object.values(entryPrefixes)),
});

function entry(id: string, description: string, currency: string, lines: readonly [BillingAccountCode, 'debit' | 'credit', bigint][], metadata: Record<string, string>): EntryInput | null {
  // A negative amount is the opposite side (a negative invoice: debit revenue and tax, credit receivable).
  const postings: Posting[] = lines.filter(([, , amount]) => amount !== 0n)
    .map(([code, direction, amountMinor]) => ({
      accountId: billingAccountId(code, currency), currency,
      direction: amountMinor > 0n ? direction : direction === 'debit' ? 'credit' : 'debit', amountMinor: amountMinor > 0n ? amountMinor : -amountMinor,
    }));
  return postings.length < 2 ? null : { id, postings, description, metadata };
}

/** Finalization: debit receivable N + X; credit revenue N, tax payable X. Null for a zero invoice. */
export function finalizationEntry(invoice: { id: string; number: string; currency: string; netMinor: bigint; taxMinor: bigint }): EntryInput | null {
  return entry(`je_${entryPrefixes.finalize}_${invoice.id}`, `invoice ${invoice.number} finalized`, invoice.currency, [
    ['billing_receivable', 'debit', invoice.netMinor + invoice.taxMinor],
    ['billing_revenue', 'credit', invoice.netMinor],
    ['billing_tax_payable', 'credit', invoice.taxMinor],
  ], { invoiceId: invoice.id, invoiceNumber: invoice.number });
}

/**
 * Customer credit balance used by an invoice (`je_bcred_<invoiceId>`): a negative invoice total
 * carried to the customer's credit (`appliedMinor` < 0: debit receivable, credit customer credit),
 * or credit applied to an invoice (> 0: debit customer credit, credit receivable). Null at 0.
 */
export function customerCreditEntry(invoice: { id: string; number: string; currency: string }, appliedMinor: bigint, returned = false): EntryInput | null {
  // `returned`: the void of an invoice gives back the credit applied to it (`je_bcred_<invoiceId>_void`).
  const id = `je_${entryPrefixes.customerCredit}_${invoice.id}${returned ? '_void' : ''}`;
  return entry(id, `invoice ${invoice.number} customer credit ${returned ? 'returned' : appliedMinor < 0n ? 'created' : 'applied'}`, invoice.currency, [
    ['billing_customer_credit', 'debit', appliedMinor],
    ['billing_receivable', 'credit', appliedMinor],
  ], { invoiceId: invoice.id });
}

/** Payment: debit collected, credit receivable, by the amount paid. */
export function paymentEntry(invoice: { id: string; number: string; currency: string }, amountMinor: bigint, paymentId: string): EntryInput | null {
  return entry(`je_${entryPrefixes.pay}_${invoice.id}`, `invoice ${invoice.number} paid`, invoice.currency, [
    ['billing_collected', 'debit', amountMinor],
    ['billing_receivable', 'credit', amountMinor],
  ], { invoiceId: invoice.id, paymentId });
}

/** A credit note's share: debit revenue n and tax payable x; credit receivable (unpaid) or customer credit (paid). */
export function creditNoteEntry(
  note: { id: string; netMinor: bigint; taxMinor: bigint }, invoice: { id: string; number: string; currency: string }, paid: boolean,
): EntryInput | null {
  return entry(`je_${entryPrefixes.creditNote}_${note.id}`, `credit note on invoice ${invoice.number}`, invoice.currency, [
    ['billing_revenue', 'debit', note.netMinor],
    ['billing_tax_payable', 'debit', note.taxMinor],
    [paid ? 'billing_customer_credit' : 'billing_receivable', 'credit', note.netMinor + note.taxMinor],
  ], { invoiceId: invoice.id, creditNoteId: note.id });
}

/** Void: reverses what is left of the finalization entry (net and tax not yet credited). */
export function voidEntry(invoice: { id: string; number: string; currency: string }, netLeftMinor: bigint, taxLeftMinor: bigint): EntryInput | null {
  const e = entry(`je_${entryPrefixes.void}_${invoice.id}`, `invoice ${invoice.number} voided`, invoice.currency, [
    ['billing_revenue', 'debit', netLeftMinor],
    ['billing_tax_payable', 'debit', taxLeftMinor],
    ['billing_receivable', 'credit', netLeftMinor + taxLeftMinor],
  ], { invoiceId: invoice.id });
  return e && { ...e, reversesEntryId: `je_${entryPrefixes.finalize}_${invoice.id}` };
}

/**
 * An invoice marked uncollectible (`je_bunc_<invoiceId>`): its amount due written off, debit bad
 * debt, credit receivable. `reversed`: the write-off undone because the invoice is paid or voided
 * after all (`je_bunc_<invoiceId>_rev`: debit receivable, credit bad debt), so the payment or void
 * that follows settles the receivable as for an open invoice. Null at 0.
 */
export function uncollectibleEntry(invoice: { id: string; number: string; currency: string }, writtenOffMinor: bigint, reversed = false): EntryInput | null {
  return entry(`je_${entryPrefixes.uncollectible}_${invoice.id}${reversed ? '_rev' : ''}`, `invoice ${invoice.number} ${reversed ? 'write-off reversed' : 'marked uncollectible'}`, invoice.currency, [
    ['billing_bad_debt', reversed ? 'credit' : 'debit', writtenOffMinor],
    ['billing_receivable', reversed ? 'debit' : 'credit', writtenOffMinor],
  ], { invoiceId: invoice.id });
}
