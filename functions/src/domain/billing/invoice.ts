/**
 * Invoices: lines, discounts, tax and totals, and the invoice state machine.
 *
 * Computing an invoice is three pure steps around one (possibly remote) tax call:
 *
 *   const discounted = discountInvoice(currency, lineInputs, coupons);     // coupon.ts rules
 *   const calculation = await taxCalculator.calculate(taxRequestFor(discounted, parties));
 *   const { lines, totals } = priceInvoice(discounted, calculation);       // per-line tax, totals
 *
 * Totals (all exact, each the sum of its lines' fields):
 *   subtotal          = sum of line amounts as priced (net for exclusive lines, gross for inclusive)
 *   discountTotal     = sum of line discounts = sum of coupon discounts
 *   totalExcludingTax = sum of line nets
 *   taxTotal          = sum of line taxes
 *   total             = sum of line totals = totalExcludingTax + taxTotal
 *                     = subtotal - discountTotal + (tax of exclusive lines)
 *
 * Statuses (Stripe's): draft -> open (finalize: immutable from then on, numbered) -> paid | void |
 * uncollectible; uncollectible -> paid | void. paid and void are final. Anything else is
 * `INVALID_STATE_TRANSITION`; so is changing a finalized invoice's lines (`assertDraft`).
 */
import { TallyError, assert } from '../errors.js';
import { type Money, currencyOf, money } from '../money/index.js';
import type { TaxCalculation, TaxCustomer, TaxRequest, TaxSeller } from '../tax/tax-types.js';
import type { TaxBehavior, TaxCategory } from './catalog.js';
import { type Coupon, type LineDiscount, applyCoupons } from './coupon.js';

/** Every invoice status. */
export const invoiceStatuses = ['draft', 'open', 'paid', 'void', 'uncollectible'] as const;
/** One of `invoiceStatuses`. */
export type InvoiceStatus = (typeof invoiceStatuses)[number];

/** Allowed transitions `from -> [to...]`. */
export const invoiceTransitions: Readonly<Record<InvoiceStatus, readonly InvoiceStatus[]>> = Object.freeze({
  draft: ['open'],
  open: ['paid', 'void', 'uncollectible'],
  uncollectible: ['paid', 'void'],
  paid: [],
  void: [],
});

/** What a line bills. */
export type InvoiceLineKind = 'subscription' | 'usage' | 'proration_credit' | 'proration_charge' | 'one_off';

/** A line before discounts and tax. */
export interface InvoiceLineInput {
  /** `il_...`, unique in the invoice. */
  readonly id: string;
  readonly kind: InvoiceLineKind;
  readonly description: string;
  readonly priceId: string | null;
  readonly productId: string | null;
  readonly quantity: bigint;
  /** As priced: net for exclusive, gross for inclusive; negative for a proration credit. */
  readonly amount: Money;
  readonly periodStartMs: number | null;
  readonly periodEndMs: number | null;
  readonly taxBehavior: TaxBehavior;
  readonly taxCategory: TaxCategory;
  /** Whether coupons apply to it (proration credits: false). */
  readonly discountable: boolean;
}

/** Most lines per invoice. */
export const INVOICE_LINES_MAX = 1000;

/** A line with its discounts applied (the taxable amount is what tax sees). */
export interface DiscountedLine extends InvoiceLineInput {
  readonly discounts: readonly LineDiscount[];
  readonly discountAmount: Money;
  /** `amount - discountAmount`: net (exclusive) or gross (inclusive) after discounts. */
  readonly taxableAmount: Money;
}

/** An invoice's lines after discounts, before tax. */
export interface DiscountedInvoice {
  readonly currency: string;
  readonly lines: readonly DiscountedLine[];
  /** Each coupon's whole discount, in application order. */
  readonly discounts: readonly LineDiscount[];
}

/** A finished line. `total = net + tax`. */
export interface InvoiceLine extends DiscountedLine {
  readonly net: Money;
  readonly tax: Money;
  readonly ratePpm: number;
  readonly total: Money;
}

/** An invoice's totals (module comment). */
export interface InvoiceTotals {
  readonly subtotal: Money;
  readonly discountTotal: Money;
  readonly totalExcludingTax: Money;
  readonly taxTotal: Money;
  readonly total: Money;
}

/** An invoice as the domain sees it. */
export interface Invoice {
  /** `inv_...` */
  readonly id: string;
  /** Gapless per tenant, assigned at finalization (`formatInvoiceNumber`); `null` while draft. */
  readonly number: string | null;
  readonly status: InvoiceStatus;
  readonly customerId: string;
  readonly subscriptionId: string | null;
  readonly currency: string;
  readonly lines: readonly InvoiceLine[];
  readonly discounts: readonly LineDiscount[];
  readonly totals: InvoiceTotals;
  /** The tax calculation used, stored as evidence. */
  readonly taxCalculation: TaxCalculation;
  readonly periodStartMs: number | null;
  readonly periodEndMs: number | null;
  readonly createdAtMs: number;
  readonly finalizedAtMs: number | null;
  readonly paidAtMs: number | null;
  readonly voidedAtMs: number | null;
  readonly markedUncollectibleAtMs: number | null;
}

/**
 * Step 1: checks the lines (unique ids, one currency, at most `INVOICE_LINES_MAX`) and applies
 * the coupons. Throws `CURRENCY_MISMATCH`, `LIMIT_EXCEEDED`, `FIELD_INVALID` (duplicate line id).
 */
export function discountInvoice(currency: string, lines: readonly InvoiceLineInput[], coupons: readonly Coupon[]): DiscountedInvoice {
  currencyOf(currency);
  if (lines.length > INVOICE_LINES_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `at most ${INVOICE_LINES_MAX} lines per invoice`, { limit: String(INVOICE_LINES_MAX) });
  }
  const ids = new Set<string>();
  for (const line of lines) {
    if (ids.has(line.id)) throw new TallyError('FIELD_INVALID', `lines: duplicate line id ${line.id}`, { field: 'lines' });
    ids.add(line.id);
  }
  const discounts = applyCoupons(
    lines.map((l) => ({ lineId: l.id, amount: l.amount, discountable: l.discountable, productId: l.productId })),
    coupons,
    currency,
  );
  const discounted = lines.map((line, i): DiscountedLine => {
    const d = discounts.lines[i];
    assert(d !== undefined && d.lineId === line.id, 'discountInvoice: one discount result per line');
    return Object.freeze({
      ...line,
      discounts: d.discounts,
      discountAmount: d.discountTotal,
      taxableAmount: money(line.amount.amountMinor - d.discountTotal.amountMinor, currency),
    });
  });
  return Object.freeze({ currency, lines: Object.freeze(discounted), discounts: discounts.coupons });
}

/** Step 2: the tax request for a discounted invoice. */
export function taxRequestFor(
  invoice: DiscountedInvoice,
  parties: { readonly seller: TaxSeller; readonly customer: TaxCustomer; readonly date: string },
): TaxRequest {
  return Object.freeze({
    currency: invoice.currency,
    seller: parties.seller,
    customer: parties.customer,
    date: parties.date,
    lines: invoice.lines.map((l) => ({ lineId: l.id, amount: l.taxableAmount, taxBehavior: l.taxBehavior, taxCategory: l.taxCategory })),
    rateOverridePpm: null,
  });
}

/**
 * Step 3: lines with their tax, and the totals. The calculation must answer every line, in order,
 * with `net + tax` equal to the taxable amount (inclusive) or `net` equal to it (exclusive);
 * otherwise it is refused as `FIELD_INVALID` (field `taxCalculation`): an external tax service
 * cannot make an invoice invent or lose a cent.
 */
export function priceInvoice(invoice: DiscountedInvoice, calculation: TaxCalculation): { lines: InvoiceLine[]; totals: InvoiceTotals } {
  const c = invoice.currency;
  if (calculation.currency !== c || calculation.lines.length !== invoice.lines.length) {
    throw badCalculation('it does not answer every line of the invoice in its currency');
  }
  const lines = invoice.lines.map((line, i): InvoiceLine => {
    const t = calculation.lines[i];
    if (t === undefined || t.lineId !== line.id || t.taxBehavior !== line.taxBehavior || t.net.currency !== c || t.tax.currency !== c) {
      throw badCalculation(`line ${line.id} is missing or out of order`);
    }
    const consistent = line.taxBehavior === 'exclusive'
      ? t.net.amountMinor === line.taxableAmount.amountMinor
      : t.net.amountMinor + t.tax.amountMinor === line.taxableAmount.amountMinor;
    if (!consistent) throw badCalculation(`line ${line.id}: net and tax do not add up to the taxable amount`);
    return Object.freeze({ ...line, net: t.net, tax: t.tax, ratePpm: t.ratePpm, total: money(t.net.amountMinor + t.tax.amountMinor, c) });
  });
  return { lines, totals: invoiceTotals(c, lines) };
}

/** Totals of finished lines (module comment). */
export function invoiceTotals(currency: string, lines: readonly InvoiceLine[]): InvoiceTotals {
  let subtotal = 0n;
  let discount = 0n;
  let net = 0n;
  let tax = 0n;
  for (const l of lines) {
    subtotal += l.amount.amountMinor;
    discount += l.discountAmount.amountMinor;
    net += l.net.amountMinor;
    tax += l.tax.amountMinor;
  }
  return Object.freeze({
    subtotal: money(subtotal, currency),
    discountTotal: money(discount, currency),
    totalExcludingTax: money(net, currency),
    taxTotal: money(tax, currency),
    total: money(net + tax, currency),
  });
}

/** True when `from -> to` is allowed. */
export function canTransitionInvoice(from: InvoiceStatus, to: InvoiceStatus): boolean {
  return invoiceTransitions[from].includes(to);
}

/** Throws `INVALID_STATE_TRANSITION` unless the invoice is a draft: finalized invoices are immutable. */
export function assertDraft(invoice: Pick<Invoice, 'id' | 'status'>): void {
  if (invoice.status !== 'draft') {
    throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoice.id} is ${invoice.status}: a finalized invoice cannot change`, {
      invoiceId: invoice.id, from: invoice.status, to: 'draft',
    });
  }
}

/**
 * `draft -> open`: freezes the invoice under its `number`. Throws `INVALID_STATE_TRANSITION` from
 * any other status, `FIELD_INVALID` (field `number`) for an empty number.
 */
export function finalizeInvoice(invoice: Invoice, number: string, atMs: number): Invoice {
  checkTransition(invoice, 'open');
  if (number === '') throw new TallyError('FIELD_INVALID', 'number: a finalized invoice needs a number', { field: 'number' });
  assertInvoiceInvariants(invoice);
  return Object.freeze({ ...invoice, status: 'open', number, finalizedAtMs: atMs });
}

/** `open | uncollectible -> paid`. Throws `INVALID_STATE_TRANSITION` otherwise. */
export function markInvoicePaid(invoice: Invoice, atMs: number): Invoice {
  checkTransition(invoice, 'paid');
  return Object.freeze({ ...invoice, status: 'paid', paidAtMs: atMs });
}

/** `open | uncollectible -> void`. Throws `INVALID_STATE_TRANSITION` otherwise. */
export function voidInvoice(invoice: Invoice, atMs: number): Invoice {
  checkTransition(invoice, 'void');
  return Object.freeze({ ...invoice, status: 'void', voidedAtMs: atMs });
}

/** `open -> uncollectible`. Throws `INVALID_STATE_TRANSITION` otherwise. */
export function markInvoiceUncollectible(invoice: Invoice, atMs: number): Invoice {
  checkTransition(invoice, 'uncollectible');
  return Object.freeze({ ...invoice, status: 'uncollectible', markedUncollectibleAtMs: atMs });
}

/**
 * Asserts the invariants every invoice keeps (a failure is a bug): one currency, totals equal the
 * sums of the lines, each line's `total = net + tax` and `taxable = amount - discount`, discounts by
 * coupon equal discounts by line.
 */
export function assertInvoiceInvariants(invoice: Pick<Invoice, 'currency' | 'lines' | 'discounts' | 'totals'>): void {
  const c = invoice.currency;
  for (const l of invoice.lines) {
    for (const m of [l.amount, l.discountAmount, l.taxableAmount, l.net, l.tax, l.total]) assert(m.currency === c, 'invoice: one currency');
    assert(l.taxableAmount.amountMinor === l.amount.amountMinor - l.discountAmount.amountMinor, 'invoice line: taxable = amount - discount');
    assert(l.total.amountMinor === l.net.amountMinor + l.tax.amountMinor, 'invoice line: total = net + tax');
    assert(l.discountAmount.amountMinor === l.discounts.reduce((a, d) => a + d.amount.amountMinor, 0n), 'invoice line: discount = sum of its coupon shares');
  }
  const expected = invoiceTotals(c, invoice.lines);
  for (const key of ['subtotal', 'discountTotal', 'totalExcludingTax', 'taxTotal', 'total'] as const) {
    assert(expected[key].amountMinor === invoice.totals[key].amountMinor, `invoice: ${key} = sum of lines`);
  }
  assert(invoice.discounts.reduce((a, d) => a + d.amount.amountMinor, 0n) === expected.discountTotal.amountMinor, 'invoice: coupon discounts = line discounts');
}

/**
 * The number of the `sequence`-th finalized invoice of a tenant: `<prefix>-<sequence, 6+ digits>`,
 * e.g. `TLY-000042`. The app allocates sequences without gaps (a counter in the finalizing transaction).
 */
export function formatInvoiceNumber(prefix: string, sequence: number): string {
  if (!/^[A-Z0-9]{1,12}$/.test(prefix)) throw new TallyError('FIELD_INVALID', 'invoicePrefix: 1 to 12 of A-Z, 0-9', { field: 'invoicePrefix' });
  assert(Number.isSafeInteger(sequence) && sequence >= 1, 'formatInvoiceNumber: sequence starts at 1');
  return `${prefix}-${String(sequence).padStart(6, '0')}`;
}

function checkTransition(invoice: Invoice, to: InvoiceStatus): void {
  if (!canTransitionInvoice(invoice.status, to)) {
    throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoice.id} cannot go from ${invoice.status} to ${to}`, {
      invoiceId: invoice.id, from: invoice.status, to,
    });
  }
}

function badCalculation(why: string): TallyError {
  return new TallyError('FIELD_INVALID', `taxCalculation: ${why}`, { field: 'taxCalculation' });
}
