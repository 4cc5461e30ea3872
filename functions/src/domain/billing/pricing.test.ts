import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { billingInterval } from './calendar.js';
import { type Price, type PriceScheme, type PriceTier, validatePrice } from './catalog.js';
import { type UsageRecord, aggregateUsage, priceAmount } from './pricing.js';

const monthly = billingInterval('month', 1);
const price = (scheme: PriceScheme, extra: Partial<Price> = {}): Price => validatePrice({
  id: 'price_1', productId: 'prod_1', active: true, currency: 'USD', scheme, currencyOptions: {},
  recurring: { interval: monthly, usage: { type: 'licensed' } }, taxBehavior: 'exclusive', taxCategory: null, ...extra,
});
const tier = (upTo: bigint | null, unitAmountMinor: bigint, flatAmountMinor = 0n): PriceTier => ({ upTo, unitAmountMinor, flatAmountMinor });
// Stripe's documentation example: 1-5 units at $7.00, 6-10 at $6.50, 11+ at $6.00.
const stripeTiers = [tier(5n, 700n), tier(10n, 650n), tier(null, 600n)];
const minor = (p: Price, q: bigint, currency = 'USD'): bigint => priceAmount(p, currency, q).amount.amountMinor;

describe('priceAmount', () => {
  it('flat: the same amount whatever happens, and quantity must be 1', () => {
    const p = price({ kind: 'flat', amountMinor: 1999n });
    expect(minor(p, 1n)).toBe(1999n);
    expect(() => minor(p, 2n)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'quantity' } }));
  });

  it('per seat: unit amount times seats; zero seats refused', () => {
    const p = price({ kind: 'per_unit', unitAmountMinor: 1200n, unitAmountScale: 0 });
    expect(minor(p, 7n)).toBe(8400n);
    expect(() => minor(p, 0n)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'quantity' } }));
  });

  it('graduated vs volume on the same tiers (Stripe docs: 8 units -> $54.50 graduated, $52.00 volume)', () => {
    const graduated = price({ kind: 'tiered', mode: 'graduated', tiers: stripeTiers, unitAmountScale: 0 });
    const volume = price({ kind: 'tiered', mode: 'volume', tiers: stripeTiers, unitAmountScale: 0 });
    expect(minor(graduated, 8n)).toBe(5450n);
    expect(minor(volume, 8n)).toBe(5200n);
    expect(minor(graduated, 5n)).toBe(3500n);
    expect(minor(volume, 5n)).toBe(3500n);
    expect(minor(graduated, 11n)).toBe(3500n + 3250n + 600n);
    expect(minor(volume, 11n)).toBe(6600n);
  });

  it('tier flat amounts: graduated adds each reached tier\'s flat fee, volume only the chosen tier\'s', () => {
    const tiers = [tier(10n, 100n, 1000n), tier(null, 50n, 500n)];
    expect(minor(price({ kind: 'tiered', mode: 'graduated', tiers, unitAmountScale: 0 }), 12n)).toBe(1000n + 1000n + 100n + 500n);
    expect(minor(price({ kind: 'tiered', mode: 'volume', tiers, unitAmountScale: 0 }), 12n)).toBe(12n * 50n + 500n);
  });

  it('sub-cent unit amounts are exact until the line is rounded once, half-even ($0.0004 x 12,345 = $4.938 -> $4.94)', () => {
    const metered = price({ kind: 'per_unit', unitAmountMinor: 4n, unitAmountScale: 2 }, { recurring: { interval: monthly, usage: { type: 'metered', aggregation: 'sum' } } });
    expect(minor(metered, 12_345n)).toBe(494n);
    expect(minor(metered, 12_500n)).toBe(500n); // exactly 5.00
    expect(minor(metered, 0n)).toBe(0n); // metered may be zero
    const half = price({ kind: 'per_unit', unitAmountMinor: 5n, unitAmountScale: 1 }, { recurring: { interval: monthly, usage: { type: 'metered', aggregation: 'sum' } } });
    expect([1n, 3n].map((q) => minor(half, q))).toEqual([0n, 2n]); // 0.5 -> 0, 1.5 -> 2 (ties to even)
  });

  it('uses the currency option of the invoice currency, with that currency\'s exponent (JPY 0, BHD 3)', () => {
    const p = price({ kind: 'per_unit', unitAmountMinor: 1000n, unitAmountScale: 0 }, {
      currencyOptions: { JPY: { kind: 'per_unit', unitAmountMinor: 150n, unitAmountScale: 0 }, BHD: { kind: 'per_unit', unitAmountMinor: 3775n, unitAmountScale: 0 } },
    });
    expect(priceAmount(p, 'JPY', 3n).amount).toEqual({ amountMinor: 450n, currency: 'JPY' });
    expect(priceAmount(p, 'BHD', 2n).amount).toEqual({ amountMinor: 7550n, currency: 'BHD' });
    expect(() => priceAmount(p, 'EUR', 1n)).toThrow(expect.objectContaining({ reason: 'CURRENCY_MISMATCH' }));
  });

  it('property: graduated equals the sum of each unit priced at its own tier plus reached tiers\' flat fees', () => {
    const tiersArb = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 0, maxLength: 4 }).chain((bounds) =>
      fc.tuple(
        fc.constant([...bounds].sort((a, b) => a - b)),
        fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 0n, max: 5_000n })), { minLength: bounds.length + 1, maxLength: bounds.length + 1 }),
      ));
    fc.assert(fc.property(tiersArb, fc.integer({ min: 1, max: 100 }), ([bounds, amounts], q) => {
      const tiers = amounts.map(([unit, flat], i) => tier(i < bounds.length ? BigInt(bounds[i] ?? 0) : null, unit, flat));
      let expected = 0n;
      const reached = new Set<number>();
      for (let u = 1; u <= q; u++) {
        const i = tiers.findIndex((t) => t.upTo === null || BigInt(u) <= t.upTo);
        expected += tiers[i]?.unitAmountMinor ?? 0n;
        reached.add(i);
      }
      for (const i of reached) expected += tiers[i]?.flatAmountMinor ?? 0n;
      expect(minor(price({ kind: 'tiered', mode: 'graduated', tiers, unitAmountScale: 0 }), BigInt(q))).toBe(expected);
    }), { numRuns: 300 });
  });

  it.each([
    ['tiers not increasing', { kind: 'tiered', mode: 'graduated', tiers: [tier(5n, 1n), tier(5n, 1n), tier(null, 1n)], unitAmountScale: 0 }, 'scheme.tiers[1].upTo'],
    ['last tier bounded', { kind: 'tiered', mode: 'volume', tiers: [tier(5n, 1n)], unitAmountScale: 0 }, 'scheme.tiers[0].upTo'],
    ['negative unit amount', { kind: 'per_unit', unitAmountMinor: -1n, unitAmountScale: 0 }, 'scheme.unitAmountMinor'],
    ['scale too fine', { kind: 'per_unit', unitAmountMinor: 1n, unitAmountScale: 11 }, 'scheme.unitAmountScale'],
  ] as const)('validatePrice refuses %s', (_name, scheme, field) => {
    expect(() => price(scheme as PriceScheme)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field } }));
  });

  it('validatePrice refuses a flat metered price', () => {
    expect(() => price({ kind: 'flat', amountMinor: 1n }, { recurring: { interval: monthly, usage: { type: 'metered', aggregation: 'sum' } } }))
      .toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'scheme' } }));
  });
});

describe('aggregateUsage', () => {
  const period = { startMs: 1000, endMs: 2000 };
  const r = (key: string, quantity: bigint, timestampMs: number): UsageRecord => ({ idempotencyKey: key, subscriptionItemId: 'si_1', quantity, timestampMs });
  const records = [r('a', 5n, 1000), r('b', 9n, 1500), r('c', 2n, 1999), r('d', 100n, 2000), r('e', 100n, 999), r('b', 9n, 1500)];

  it('sum counts a retried record (same idempotency key) once and only records inside [start, end)', () => {
    expect(aggregateUsage(records, 'sum', period)).toBe(16n);
  });
  it('max takes the largest record in the period', () => {
    expect(aggregateUsage(records, 'max', period)).toBe(9n);
  });
  it('last takes the latest timestamp in the period; equal timestamps: the later reported', () => {
    expect(aggregateUsage(records, 'last', period)).toBe(2n);
    expect(aggregateUsage([r('x', 3n, 1500), r('y', 4n, 1500), r('z', 1n, 1200)], 'last', period)).toBe(4n);
  });
  it('no usage in the period is 0 for every aggregation', () => {
    for (const agg of ['sum', 'max', 'last'] as const) expect(aggregateUsage([r('d', 100n, 2000)], agg, period)).toBe(0n);
  });
});
