import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money } from '../money/index.js';
import { DAY_MS, billingInterval } from './calendar.js';
import { type Price, validatePrice } from './catalog.js';
import { type ProrationInput, prorate, prorateItemChange } from './proration.js';

const utc = (iso: string): number => Date.parse(iso);
// April 2025: a 30-day monthly period.
const april = { startMs: utc('2025-04-01T00:00:00Z'), endMs: utc('2025-05-01T00:00:00Z') };
const usd = (minor: bigint) => money(minor, 'USD');
const input = (over: Partial<ProrationInput> = {}): ProrationInput => ({
  period: april,
  changeAtMs: utc('2025-04-16T00:00:00Z'),
  from: { priceId: 'price_10', quantity: 1n, amount: usd(1000n) },
  to: { priceId: 'price_20', quantity: 1n, amount: usd(2000n) },
  behavior: 'create_prorations',
  granularity: 'second',
  ...over,
});

describe('prorate: table tests', () => {
  it.each(['second', 'day'] as const)('Stripe docs: USD 10 -> USD 20 monthly exactly halfway adds $5.00 (-$5.00 unused, +$10.00 remaining), per %s', (granularity) => {
    const r = prorate(input({ granularity }));
    expect([r.credit.amountMinor, r.charge.amountMinor, r.net.amountMinor]).toEqual([-500n, 1000n, 500n]);
    expect(r.lines.map((l) => [l.kind, l.priceId, l.amount.amountMinor, l.periodStartMs, l.periodEndMs])).toEqual([
      ['proration_credit', 'price_10', -500n, utc('2025-04-16T00:00:00Z'), april.endMs],
      ['proration_charge', 'price_20', 1000n, utc('2025-04-16T00:00:00Z'), april.endMs],
    ]);
    expect(r.invoiceNow).toBe(false);
  });

  it('a quantity change 5 -> 8 seats at $12 a third of the way through a 30-day month charges 20 days of 3 seats ($24.00)', () => {
    const r = prorate(input({
      changeAtMs: utc('2025-04-11T00:00:00Z'),
      from: { priceId: 'price_seat', quantity: 5n, amount: usd(6000n) },
      to: { priceId: 'price_seat', quantity: 8n, amount: usd(9600n) },
    }));
    expect([r.credit.amountMinor, r.charge.amountMinor, r.net.amountMinor]).toEqual([-4000n, 6400n, 2400n]);
  });

  it('per second: $10 -> $20 one second before the end of February 2024 (29 days) rounds each line half-even', () => {
    const feb = { startMs: utc('2024-02-01T00:00:00Z'), endMs: utc('2024-03-01T00:00:00Z') };
    const r = prorate(input({ period: feb, changeAtMs: feb.endMs - 1000 }));
    // 1 / 2,505,600 s of $10 is 0.0004 cents: both lines round to zero and are left out.
    expect([r.remainingUnits, r.totalUnits, r.net.amountMinor, r.lines.length]).toEqual([1n, 2_505_600n, 0n, 0]);
  });

  it('per day: the day of the change counts as remaining; per second it is prorated to the second', () => {
    const changeAtMs = utc('2025-04-16T18:00:00Z'); // 14.25 days left
    const byDay = prorate(input({ changeAtMs, granularity: 'day' }));
    const bySecond = prorate(input({ changeAtMs, granularity: 'second' }));
    expect([byDay.remainingUnits, byDay.totalUnits, byDay.net.amountMinor]).toEqual([15n, 30n, 500n]);
    expect([bySecond.remainingUnits, bySecond.net.amountMinor]).toEqual([BigInt(14.25 * 86_400), 475n]);
  });

  it('ties round half-even per line, on credits and charges', () => {
    const r = prorate(input({ from: { priceId: 'a', quantity: 1n, amount: usd(3n) }, to: { priceId: 'b', quantity: 1n, amount: usd(5n) } }));
    expect([r.credit.amountMinor, r.charge.amountMinor]).toEqual([-2n, 2n]);
    // And the other way round: $0.05 -> $0.03 gives -$0.02 (2.5 -> 2) and +$0.02 (1.5 -> 2).
    const back = prorate(input({ from: { priceId: 'b', quantity: 1n, amount: usd(5n) }, to: { priceId: 'a', quantity: 1n, amount: usd(3n) } }));
    expect([back.credit.amountMinor, back.charge.amountMinor]).toEqual([-2n, 2n]);
  });

  it('always_invoice asks for an invoice now; none creates nothing', () => {
    expect(prorate(input({ behavior: 'always_invoice' })).invoiceNow).toBe(true);
    const none = prorate(input({ behavior: 'none' }));
    expect([none.lines, none.net.amountMinor, none.invoiceNow]).toEqual([[], 0n, false]);
  });

  it.each([
    ['before the period', april.startMs - 1],
    ['at the period end', april.endMs],
    ['not an integer', april.startMs + 0.5],
  ])('refuses a proration date %s with FIELD_INVALID prorationDate', (_name, changeAtMs) => {
    expect(() => prorate(input({ changeAtMs }))).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'prorationDate' } }));
  });

  it('refuses sides in different currencies', () => {
    expect(() => prorate(input({ to: { priceId: 'b', quantity: 1n, amount: money(2000n, 'EUR') } })))
      .toThrow(expect.objectContaining({ reason: 'CURRENCY_MISMATCH' }));
  });
});

describe('prorate: properties', () => {
  it('credit + charge is within one minor unit of (new - old) x remaining / total; each line within half a unit', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 400 * 86_400 }), // period length in seconds
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }),
      fc.constantFrom('second', 'day'),
      (lengthS, where, oldMinor, newMinor, granularity) => {
        const period = { startMs: april.startMs, endMs: april.startMs + lengthS * 1000 };
        const changeAtMs = period.startMs + Math.floor(where * lengthS) * 1000;
        const r = prorate(input({ period, changeAtMs, granularity, from: { priceId: 'a', quantity: 1n, amount: usd(oldMinor) }, to: { priceId: 'b', quantity: 1n, amount: usd(newMinor) } }));
        const { remainingUnits: rem, totalUnits: total } = r;
        const abs = (x: bigint) => (x < 0n ? -x : x);
        // |x - exact| <= bound  <=>  |x * total - exactNumerator| <= bound * total (exact rational arithmetic)
        expect(2n * abs(r.credit.amountMinor * total + oldMinor * rem)).toBeLessThanOrEqual(total);
        expect(2n * abs(r.charge.amountMinor * total - newMinor * rem)).toBeLessThanOrEqual(total);
        expect(abs(r.net.amountMinor * total - (newMinor - oldMinor) * rem)).toBeLessThanOrEqual(total);
        expect(r.credit.amountMinor).toBeLessThanOrEqual(0n);
        expect(r.charge.amountMinor).toBeGreaterThanOrEqual(0n);
        expect(rem).toBeLessThanOrEqual(total);
        if (granularity === 'day') expect(total).toBe(BigInt(Math.ceil((lengthS * 1000) / DAY_MS)));
      },
    ), { numRuns: 1000 });
  });

  it('a change at the very start credits all of the old amount and charges all of the new', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }), (o, n) => {
      const r = prorate(input({ changeAtMs: april.startMs, from: { priceId: 'a', quantity: 1n, amount: usd(o) }, to: { priceId: 'b', quantity: 1n, amount: usd(n) } }));
      expect([r.credit.amountMinor, r.charge.amountMinor]).toEqual([-o, n]);
    }), { numRuns: 200 });
  });
});

describe('prorateItemChange', () => {
  const monthly = billingInterval('month', 1);
  const price = (id: string, unitAmountMinor: bigint, over: Partial<Price> = {}): Price => validatePrice({
    id, productId: 'prod_1', active: true, currency: 'USD', scheme: { kind: 'per_unit', unitAmountMinor, unitAmountScale: 0 }, currencyOptions: {},
    recurring: { interval: monthly, usage: { type: 'licensed' } }, taxBehavior: 'exclusive', taxCategory: null, ...over,
  });
  const change = (from: { price: Price; quantity: bigint }, to: { price: Price; quantity: bigint }) => prorateItemChange({
    period: april, changeAtMs: utc('2025-04-16T00:00:00Z'), currency: 'USD', from, to, behavior: 'create_prorations', granularity: 'second',
  });

  it('prices both sides for the full period: 3 seats at $10 -> 5 seats at $20 halfway nets -$15.00 + $50.00', () => {
    const r = change({ price: price('price_10', 1000n), quantity: 3n }, { price: price('price_20', 2000n), quantity: 5n });
    expect([r.credit.amountMinor, r.charge.amountMinor, r.net.amountMinor]).toEqual([-1500n, 5000n, 3500n]);
  });

  it.each([
    ['a metered price', price('price_m', 1n, { recurring: { interval: monthly, usage: { type: 'metered', aggregation: 'sum' } } }), 'price'],
    ['a one-off price', price('price_once', 1n, { recurring: null }), 'price'],
    ['another interval', price('price_y', 1n, { recurring: { interval: billingInterval('year', 1), usage: { type: 'licensed' } } }), 'price'],
  ])('refuses %s with FIELD_INVALID', (_name, to, field) => {
    expect(() => change({ price: price('price_10', 1000n), quantity: 1n }, { price: to, quantity: 1n })).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field } }));
  });

  it('refuses a quantity below 1 and a price without the currency', () => {
    expect(() => change({ price: price('a', 1000n), quantity: 1n }, { price: price('b', 1000n), quantity: 0n })).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'quantity' } }));
    expect(() => change({ price: price('a', 1000n), quantity: 1n }, { price: price('b', 1000n, { currency: 'EUR' }), quantity: 1n })).toThrow(expect.objectContaining({ reason: 'CURRENCY_MISMATCH' }));
  });
});
