/**
 * Credit notes: reversing a share of a finalized (open or paid) invoice, line by line.
 *
 * A credit note line names an invoice line and the part of that line's TOTAL (tax included) to
 * credit. The tax inside it is computed cumulatively so that crediting a line in several notes
 * reverses exactly the line's tax, never a cent more or less (ADR 0031):
 *
 *   taxCredited(c) = round_half_up(lineTax * c / lineTotal)     (c = total credited so far)
 *   this note's tax = taxCredited(before + amount) - taxCredited(before); net = amount - tax
 *
 * So the notes of a line add up to its total, net and tax exactly once it is fully credited.
 * Lines with a total <= 0 (proration credits) cannot be credited.
 */
import { TallyError, assert, invalidField } from '../errors.js';
import { type Money, allocate, divideRounded, money } from '../money/index.js';
import type { Invoice, InvoiceLine } from './invoice.js';

/** Why a credit note was issued (Stripe's reasons). */
export type CreditNoteReason = 'duplicate' | 'fraudulent' | 'order_change' | 'product_unsatisfactory' | 'other';

/** Part of one invoice line to credit. */
export interface CreditNoteLineRequest {
  readonly invoiceLineId: string;
  /** Positive, in the invoice's currency, of the line's total (tax included). */
  readonly amount: Money;
}

/** One credited line: `total = net + tax`. */
export interface CreditNoteLine {
  readonly invoiceLineId: string;
  readonly total: Money;
  readonly net: Money;
  readonly tax: Money;
}

/** A credit note's amounts (persistence adds id, number, timestamps). */
export interface CreditNoteAmounts {
  readonly invoiceId: string;
  readonly currency: string;
  readonly lines: readonly CreditNoteLine[];
  readonly total: Money;
  readonly net: Money;
  readonly tax: Money;
}

/** Most lines per credit note. */
export const CREDIT_NOTE_LINES_MAX = 1000;

/**
 * The amounts of a credit note on `invoice`, given the notes already issued on it. Throws
 * `INVALID_STATE_TRANSITION` unless the invoice is open or paid, `NOT_FOUND`-style `FIELD_INVALID`
 * (field `lines`) for an unknown or repeated line, a non-positive amount or a line that cannot be
 * credited, `CURRENCY_MISMATCH` for another currency, `LIMIT_EXCEEDED` when a line would be
 * credited beyond its total.
 */
export function creditNoteAmounts(
  invoice: Invoice,
  previous: readonly Pick<CreditNoteAmounts, 'lines'>[],
  requests: readonly CreditNoteLineRequest[],
): CreditNoteAmounts {
  if (invoice.status !== 'open' && invoice.status !== 'paid') {
    throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoice.id} is ${invoice.status}: only open or paid invoices take credit notes`, {
      invoiceId: invoice.id, from: invoice.status,
    });
  }
  if (requests.length < 1 || requests.length > CREDIT_NOTE_LINES_MAX) throw invalidField('lines', `must have 1 to ${CREDIT_NOTE_LINES_MAX} lines`);
  const c = invoice.currency;
  const seen = new Set<string>();
  const lines = requests.map((r): CreditNoteLine => {
    const line = invoice.lines.find((l) => l.id === r.invoiceLineId);
    if (line === undefined || seen.has(r.invoiceLineId)) throw invalidField('lines', `unknown or repeated invoice line ${r.invoiceLineId}`);
    seen.add(r.invoiceLineId);
    if (r.amount.currency !== c) {
      throw new TallyError('CURRENCY_MISMATCH', `credit note amount in ${r.amount.currency}, invoice in ${c}`, { field: 'amount', expected: c, actual: r.amount.currency });
    }
    if (r.amount.amountMinor <= 0n) throw invalidField('amount', 'must be positive');
    if (line.total.amountMinor <= 0n) throw invalidField('lines', `line ${line.id} has nothing to credit`);
    const beforeMinor = creditedTotalMinor(previous, line.id);
    const afterMinor = beforeMinor + r.amount.amountMinor;
    if (afterMinor > line.total.amountMinor) {
      throw new TallyError('LIMIT_EXCEEDED', `line ${line.id}: credits would exceed its total`, {
        field: 'amount', invoiceLineId: line.id, creditableMinor: String(line.total.amountMinor - beforeMinor),
      });
    }
    const taxMinor = taxCreditedMinor(line, afterMinor) - taxCreditedMinor(line, beforeMinor);
    return Object.freeze({ invoiceLineId: line.id, total: r.amount, tax: money(taxMinor, c), net: money(r.amount.amountMinor - taxMinor, c) });
  });
  const sumOf = (f: (l: CreditNoteLine) => Money) => money(lines.reduce((a, l) => a + f(l).amountMinor, 0n), c);
  return Object.freeze({ invoiceId: invoice.id, currency: c, lines: Object.freeze(lines), total: sumOf((l) => l.total), net: sumOf((l) => l.net), tax: sumOf((l) => l.tax) });
}

/**
 * Requests that credit `amount` of the invoice's remaining creditable total, spread over its
 * creditable lines in proportion to what each has left (largest remainder: exact). Throws
 * `LIMIT_EXCEEDED` when `amount` exceeds what is left.
 */
export function creditShareRequests(
  invoice: Invoice,
  previous: readonly Pick<CreditNoteAmounts, 'lines'>[],
  amount: Money,
): CreditNoteLineRequest[] {
  const left = invoice.lines.map((l) => (l.total.amountMinor > 0n ? l.total.amountMinor - creditedTotalMinor(previous, l.id) : 0n));
  const leftMinor = left.reduce((a, b) => a + b, 0n);
  if (amount.amountMinor <= 0n) throw invalidField('amount', 'must be positive');
  if (amount.amountMinor > leftMinor) {
    throw new TallyError('LIMIT_EXCEEDED', `invoice ${invoice.id}: only ${leftMinor} minor units are left to credit`, {
      field: 'amount', creditableMinor: String(leftMinor),
    });
  }
  const parts = allocate(amount, left);
  return invoice.lines
    .map((l, i) => ({ invoiceLineId: l.id, amount: parts[i] ?? money(0n, invoice.currency) }))
    .filter((r) => r.amount.amountMinor > 0n);
}

function creditedTotalMinor(previous: readonly Pick<CreditNoteAmounts, 'lines'>[], lineId: string): bigint {
  let total = 0n;
  for (const note of previous) for (const l of note.lines) if (l.invoiceLineId === lineId) total += l.total.amountMinor;
  return total;
}

function taxCreditedMinor(line: InvoiceLine, creditedMinor: bigint): bigint {
  assert(line.total.amountMinor > 0n, 'taxCreditedMinor: positive line total');
  return divideRounded(line.tax.amountMinor * creditedMinor, line.total.amountMinor, 'half-up');
}
