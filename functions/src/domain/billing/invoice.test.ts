import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money } from '../money/index.js';
import { calculateEuVat } from '../tax/eu-vat.js';
import type { TaxCalculation } from '../tax/tax-types.js';
import type { Coupon } from './coupon.js';
import { creditNoteAmounts, creditShareRequests } from './credit-note.js';
import {
  type Invoice, type InvoiceLineInput, type InvoiceStatus, assertDraft, assertInvoiceInvariants, discountInvoice, finalizeInvoice,
  formatInvoiceNumber, invoiceStatuses, invoiceTransitions, markInvoicePaid, markInvoiceUncollectible, priceInvoice, taxRequestFor, voidInvoice,
} from './invoice.js';

const eur = (minor: bigint) => money(minor, 'EUR');
const line = (id: string, amountMinor: bigint, over: Partial<InvoiceLineInput> = {}): InvoiceLineInput => ({
  id, kind: 'subscription', description: id, priceId: `price_${id}`, productId: 'prod_a', quantity: 1n, amount: eur(amountMinor),
  periodStartMs: null, periodEndMs: null, taxBehavior: 'exclusive', taxCategory: 'standard', discountable: true, ...over,
});
const percent = (id: string, bps: number, appliesToProductIds: string[] | null = null): Coupon => ({
  id, discount: { kind: 'percent', percentOffBps: bps }, duration: 'once', durationPeriods: null, appliesToProductIds,
});
const amountOff = (id: string, minor: bigint): Coupon => ({
  id, discount: { kind: 'amount', amountOffMinorByCurrency: { EUR: minor } }, duration: 'once', durationPeriods: null, appliesToProductIds: null,
});
const parties = (country = 'DE', vatId: string | null = null) => ({
  seller: { country: 'DE', vatId: 'DE123456789' }, customer: { country, postcode: null, vatId }, date: '2025-06-01',
});

/** The three steps an invoice goes through, with the built-in engine. */
function build(lines: InvoiceLineInput[], coupons: Coupon[] = [], country = 'DE', vatId: string | null = null) {
  const discounted = discountInvoice('EUR', lines, coupons);
  const calculation = calculateEuVat(taxRequestFor(discounted, parties(country, vatId)));
  return { discounted, calculation, ...priceInvoice(discounted, calculation) };
}

function invoiceOf(lines: InvoiceLineInput[], coupons: Coupon[] = []): Invoice {
  const { discounted, calculation, lines: priced, totals } = build(lines, coupons);
  return {
    id: 'inv_1', number: null, status: 'draft', customerId: 'cus_1', subscriptionId: null, currency: 'EUR', lines: priced,
    discounts: discounted.discounts, totals, taxCalculation: calculation, periodStartMs: null, periodEndMs: null,
    createdAtMs: 0, finalizedAtMs: null, paidAtMs: null, voidedAtMs: null, markedUncollectibleAtMs: null,
  };
}

const minors = (ms: { amountMinor: bigint }[]) => ms.map((m) => m.amountMinor);

describe('invoice math: examples', () => {
  it('10 % off three lines before 19 % German VAT: discount spread in proportion, tax per line, totals add up', () => {
    const { lines, totals } = build([line('a', 1000n), line('b', 2000n), line('c', 3000n)], [percent('c10', 1000)]);
    expect(minors(lines.map((l) => l.discountAmount))).toEqual([100n, 200n, 300n]);
    expect(minors(lines.map((l) => l.tax))).toEqual([171n, 342n, 513n]);
    expect(totals).toEqual({ subtotal: eur(6000n), discountTotal: eur(600n), totalExcludingTax: eur(5400n), taxTotal: eur(1026n), total: eur(6426n) });
  });

  it('a fixed 1.00 off three lines of 3.33, 3.33, 3.34 loses no cent: 33 + 33 + 34 (largest remainder)', () => {
    const { lines, totals } = build([line('a', 333n), line('b', 333n), line('c', 334n)], [amountOff('eur1', 100n)]);
    expect(minors(lines.map((l) => l.discountAmount))).toEqual([33n, 33n, 34n]);
    expect(totals.discountTotal).toEqual(eur(100n));
  });

  it('coupons stack in order, each on what the previous left: 50 % then 10.00 off 30.00 leaves 5.00', () => {
    const { discounted, totals } = build([line('a', 1000n), line('b', 2000n)], [percent('half', 5000), amountOff('ten', 1000n)]);
    expect(minors(discounted.discounts.map((d) => d.amount))).toEqual([1500n, 1000n]);
    expect(totals.totalExcludingTax).toEqual(eur(500n));
  });

  it('a fixed coupon larger than the invoice is capped at it: lines never go negative', () => {
    const { lines, totals } = build([line('a', 700n)], [amountOff('big', 5000n)]);
    expect([lines[0]?.taxableAmount.amountMinor, totals.total.amountMinor, totals.discountTotal.amountMinor]).toEqual([0n, 0n, 700n]);
  });

  it('a coupon restricted to a product touches only its lines; proration credits are never discounted', () => {
    const { lines } = build([
      line('a', 1000n, { productId: 'prod_a' }), line('b', 1000n, { productId: 'prod_b' }),
      line('credit', -500n, { kind: 'proration_credit', discountable: false }),
    ], [percent('only_b', 2000, ['prod_b'])]);
    expect(minors(lines.map((l) => l.discountAmount))).toEqual([0n, 200n, 0n]);
    expect(minors(lines.map((l) => l.tax))).toEqual([190n, 152n, -95n]);
  });

  it('tax-inclusive lines carve the tax out: 11.90 gross at 19 % is 10.00 + 1.90; 10.00 at FI 25.5 % is 7.97 + 2.03', () => {
    const de = build([line('a', 1190n, { taxBehavior: 'inclusive' })]);
    expect([de.lines[0]?.net.amountMinor, de.lines[0]?.tax.amountMinor, de.totals.total.amountMinor]).toEqual([1000n, 190n, 1190n]);
    const fi = build([line('a', 1000n, { taxBehavior: 'inclusive' })], [], 'FI');
    expect([fi.lines[0]?.net.amountMinor, fi.lines[0]?.tax.amountMinor, fi.totals.total.amountMinor]).toEqual([797n, 203n, 1000n]);
  });

  it('B2B to another EU country is reverse-charged: 0 % and the legal note', () => {
    const { calculation, totals } = build([line('a', 1000n)], [], 'FR', 'FR12345678901');
    expect([calculation.reverseCharge, totals.taxTotal.amountMinor, calculation.lines[0]?.treatment]).toEqual([true, 0n, 'reverse_charge']);
    expect(calculation.note).toContain('Article 196');
  });

  it('refuses a tax calculation whose lines do not add up (an external service cannot invent a cent)', () => {
    const discounted = discountInvoice('EUR', [line('a', 1190n, { taxBehavior: 'inclusive' })], []);
    const good = calculateEuVat(taxRequestFor(discounted, parties()));
    const bad: TaxCalculation = { ...good, lines: good.lines.map((l) => ({ ...l, tax: eur(l.tax.amountMinor + 1n) })) };
    expect(() => priceInvoice(discounted, bad)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'taxCalculation' } }));
    expect(() => priceInvoice(discounted, { ...good, lines: [] })).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
  });

  it('refuses a malformed coupon (over 100 %) instead of taking a line below zero', () => {
    expect(() => build([line('a', 1000n)], [percent('p', 20_000)])).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'percentOff' } }));
  });

  it('refuses duplicate line ids and lines in another currency', () => {
    expect(() => discountInvoice('EUR', [line('a', 1n), line('a', 2n)], [])).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'lines' } }));
    expect(() => discountInvoice('EUR', [line('a', 1n, { amount: money(1n, 'USD') })], [])).toThrow(expect.objectContaining({ reason: 'CURRENCY_MISMATCH' }));
  });
});

describe('invoice math: properties', () => {
  const lineArb = fc.record({
    amountMinor: fc.bigInt({ min: -100_000n, max: 10_000_000n }),
    taxBehavior: fc.constantFrom('exclusive' as const, 'inclusive' as const),
    taxCategory: fc.constantFrom('standard' as const, 'reduced' as const),
    discountable: fc.boolean(),
    productId: fc.constantFrom('prod_a', 'prod_b'),
  });
  const couponArb = fc.oneof(
    fc.record({ bps: fc.integer({ min: 1, max: 10_000 }), only: fc.option(fc.constantFrom(['prod_a'], ['prod_b']), { nil: null }) })
      .map(({ bps, only }) => percent(`p${bps}`, bps, only === null ? null : [...only])),
    fc.bigInt({ min: 1n, max: 5_000_000n }).map((m) => amountOff(`a${m}`, m)),
  );

  it('totals equal the sums of the lines; discounts and tax never lose or invent a cent', () => {
    fc.assert(fc.property(
      fc.array(lineArb, { minLength: 1, maxLength: 12 }), fc.array(couponArb, { maxLength: 3 }), fc.constantFrom('DE', 'FI', 'FR', 'IE', 'HU'),
      (specs, coupons, country) => {
        const inputs = specs.map((s, i) => line(`l${i}`, s.amountMinor, { taxBehavior: s.taxBehavior, taxCategory: s.taxCategory, discountable: s.discountable, productId: s.productId }));
        const { discounted, calculation, lines, totals } = build(inputs, coupons, country);
        assertInvoiceInvariants({ currency: 'EUR', lines, discounts: discounted.discounts, totals });
        const sum = (f: (l: (typeof lines)[number]) => bigint) => lines.reduce((a, l) => a + f(l), 0n);
        expect(totals.total.amountMinor).toBe(sum((l) => l.total.amountMinor));
        expect(totals.total.amountMinor).toBe(totals.subtotal.amountMinor - totals.discountTotal.amountMinor + sum((l) => (l.taxBehavior === 'exclusive' ? l.tax.amountMinor : 0n)));
        expect(totals.taxTotal.amountMinor).toBe(calculation.taxTotal.amountMinor);
        expect(discounted.discounts.reduce((a, d) => a + d.amount.amountMinor, 0n)).toBe(totals.discountTotal.amountMinor);
        for (const l of lines) {
          // A discount never exceeds what a line has, never touches a non-discountable or negative line.
          if (!l.discountable || l.amount.amountMinor <= 0n) expect(l.discountAmount.amountMinor).toBe(0n);
          else expect(l.discountAmount.amountMinor >= 0n && l.discountAmount.amountMinor <= l.amount.amountMinor).toBe(true);
          // Each line's tax is within half a cent of exact: |tax - exact| <= 1/2.
          const rate = BigInt(l.ratePpm);
          const base = l.taxableAmount.amountMinor;
          const [num, den] = l.taxBehavior === 'exclusive' ? [base * rate, 1_000_000n] : [base * rate, 1_000_000n + rate];
          const diff = l.tax.amountMinor * den - num;
          expect(2n * (diff < 0n ? -diff : diff)).toBeLessThanOrEqual(den);
        }
      },
    ), { numRuns: 400 });
  });

  it('a single percent coupon discounts within half a cent of the exact percentage of the discountable lines', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 0n, max: 10_000_000n }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 10_000 }), (amounts, bps) => {
      const { totals } = build(amounts.map((a, i) => line(`l${i}`, a)), [percent('p', bps)]);
      const base = amounts.reduce((a, b) => a + b, 0n);
      const diff = totals.discountTotal.amountMinor * 10_000n - base * BigInt(bps);
      expect(2n * (diff < 0n ? -diff : diff)).toBeLessThanOrEqual(10_000n);
    }), { numRuns: 300 });
  });
});

describe('invoice status machine', () => {
  const all = invoiceStatuses.flatMap((from) => invoiceStatuses.map((to) => [from, to] as const));
  const allowed = new Set(['draft>open', 'open>paid', 'open>void', 'open>uncollectible', 'uncollectible>paid', 'uncollectible>void']);
  const step: Record<InvoiceStatus, ((i: Invoice) => Invoice) | null> = {
    draft: null,
    open: (i) => finalizeInvoice(i, 'TLY-000001', 10),
    paid: (i) => markInvoicePaid(i, 20),
    void: (i) => voidInvoice(i, 20),
    uncollectible: (i) => markInvoiceUncollectible(i, 20),
  };
  const base = invoiceOf([line('a', 1000n)]);

  it('the table is exactly draft -> open -> paid | void | uncollectible, uncollectible -> paid | void', () => {
    expect(Object.entries(invoiceTransitions).flatMap(([f, tos]) => tos.map((t) => `${f}>${t}`)).sort()).toEqual([...allowed].sort());
  });

  it.each(all)('%s -> %s is allowed only when the table says so', (from, to) => {
    const go = step[to];
    if (go === null) return; // nothing moves back to draft
    const invoice = { ...base, status: from };
    if (allowed.has(`${from}>${to}`)) expect(go(invoice).status).toBe(to);
    else expect(() => go(invoice)).toThrow(expect.objectContaining({ reason: 'INVALID_STATE_TRANSITION' }));
  });

  it('finalizing numbers and timestamps it; a finalized invoice is immutable', () => {
    const open = finalizeInvoice(base, formatInvoiceNumber('TLY', 42), 1234);
    expect([open.status, open.number, open.finalizedAtMs, Object.isFrozen(open)]).toEqual(['open', 'TLY-000042', 1234, true]);
    expect(() => assertDraft(base)).not.toThrow();
    expect(() => assertDraft(open)).toThrow(expect.objectContaining({ reason: 'INVALID_STATE_TRANSITION' }));
  });
});

describe('credit notes', () => {
  const open = finalizeInvoice(invoiceOf([line('a', 1000n), line('b', 333n), line('credit', -100n, { discountable: false, kind: 'proration_credit' })]), 'TLY-000001', 1);

  it('crediting a whole line reverses exactly its net and tax', () => {
    const note = creditNoteAmounts(open, [], [{ invoiceLineId: 'a', amount: eur(1190n) }]);
    expect([note.total, note.net, note.tax].map((m) => m.amountMinor)).toEqual([1190n, 1000n, 190n]);
  });

  it('three partial credits of a line add up to exactly its tax (cumulative rounding)', () => {
    const l = open.lines[1]!; // 3.33 + 0.63 tax = 3.96
    const parts = [131n, 131n, l.total.amountMinor - 262n];
    const notes: ReturnType<typeof creditNoteAmounts>[] = [];
    for (const p of parts) notes.push(creditNoteAmounts(open, notes, [{ invoiceLineId: 'b', amount: eur(p) }]));
    expect(notes.reduce((a, n) => a + n.tax.amountMinor, 0n)).toBe(l.tax.amountMinor);
    expect(notes.reduce((a, n) => a + n.net.amountMinor, 0n)).toBe(l.net.amountMinor);
  });

  it('refuses crediting beyond a line\'s total, a negative line, an unknown line, and a draft or void invoice', () => {
    expect(() => creditNoteAmounts(open, [], [{ invoiceLineId: 'a', amount: eur(1191n) }])).toThrow(expect.objectContaining({ reason: 'LIMIT_EXCEEDED' }));
    expect(() => creditNoteAmounts(open, [], [{ invoiceLineId: 'credit', amount: eur(1n) }])).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
    expect(() => creditNoteAmounts(open, [], [{ invoiceLineId: 'zzz', amount: eur(1n) }])).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
    expect(() => creditNoteAmounts({ ...open, status: 'draft' }, [], [{ invoiceLineId: 'a', amount: eur(1n) }])).toThrow(expect.objectContaining({ reason: 'INVALID_STATE_TRANSITION' }));
    expect(() => creditNoteAmounts(voidInvoice(open, 2), [], [{ invoiceLineId: 'a', amount: eur(1n) }])).toThrow(expect.objectContaining({ reason: 'INVALID_STATE_TRANSITION' }));
  });

  it('property: any sequence of share credits that ends fully credited reverses exactly the invoice\'s tax and net', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 1n, max: 10_000n }), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 5 }), (amounts, shares) => {
      const inv = finalizeInvoice(invoiceOf(amounts.map((a, i) => line(`l${i}`, a, { taxBehavior: i % 2 === 0 ? 'exclusive' : 'inclusive' }))), 'T-000001', 1);
      const creditable = inv.lines.reduce((a, l) => a + l.total.amountMinor, 0n);
      const notes: ReturnType<typeof creditNoteAmounts>[] = [];
      let credited = 0n;
      for (const share of shares) {
        const amountMinor = (creditable - credited) * BigInt(share) / 1000n;
        if (amountMinor === 0n) continue;
        notes.push(creditNoteAmounts(inv, notes, creditShareRequests(inv, notes, eur(amountMinor))));
        credited += amountMinor;
      }
      if (creditable > credited) notes.push(creditNoteAmounts(inv, notes, creditShareRequests(inv, notes, eur(creditable - credited))));
      expect(notes.reduce((a, n) => a + n.total.amountMinor, 0n)).toBe(inv.totals.total.amountMinor);
      expect(notes.reduce((a, n) => a + n.tax.amountMinor, 0n)).toBe(inv.totals.taxTotal.amountMinor);
      for (const n of notes) expect(n.net.amountMinor + n.tax.amountMinor).toBe(n.total.amountMinor);
    }), { numRuns: 200 });
  });
});
