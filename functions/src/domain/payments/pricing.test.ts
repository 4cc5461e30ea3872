import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { feeScheduleOf, platformFeeMinor, validateTenantPricing, type FeeSchedule } from './ledger-postings.js';

const platform: FeeSchedule = { rateBps: 290, fixedMinor: 0n, rounding: 'half-even', disputeFeeMinor: 0n };

function refusal(run: () => unknown): { reason: string; field: string | undefined } {
  try { run(); } catch (error) {
    if (error instanceof TallyError) return { reason: error.reason, field: error.metadata.field };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('tenant pricing (issue 11 item 13)', () => {
  it('1.5 % + 25 cents on EUR 100.00 is 1.75 exactly; a currency without a fixed part pays the rate only', () => {
    const pricing = validateTenantPricing({ rateBps: 150, fixedMinorByCurrency: { EUR: 25n } });
    expect(platformFeeMinor(10_000n, 'EUR', feeScheduleOf(pricing, 'EUR', platform))).toBe(175n);
    expect(platformFeeMinor(10_000n, 'USD', feeScheduleOf(pricing, 'USD', platform))).toBe(150n);
    // Rounding stays the platform's (half-even): 1.5 % of 0.50 is 0.75 cent -> 1 cent, plus 25.
    expect(platformFeeMinor(50n, 'EUR', feeScheduleOf(pricing, 'EUR', platform))).toBe(26n);
    // Never more than the amount.
    expect(platformFeeMinor(10n, 'EUR', feeScheduleOf(pricing, 'EUR', platform))).toBe(10n);
  });

  it('refuses out-of-range rates and amounts, unknown currencies and too many of them, naming the field', () => {
    expect(refusal(() => validateTenantPricing({ rateBps: 10_001, fixedMinorByCurrency: {} }))).toEqual({ reason: 'FIELD_INVALID', field: 'pricing.rate_bps' });
    expect(refusal(() => validateTenantPricing({ rateBps: -1, fixedMinorByCurrency: {} }))).toEqual({ reason: 'FIELD_INVALID', field: 'pricing.rate_bps' });
    expect(refusal(() => validateTenantPricing({ rateBps: 1.5, fixedMinorByCurrency: {} }))).toEqual({ reason: 'FIELD_INVALID', field: 'pricing.rate_bps' });
    expect(refusal(() => validateTenantPricing({ rateBps: 0, fixedMinorByCurrency: { EUR: -1n } }))).toEqual({ reason: 'FIELD_INVALID', field: 'pricing.fixed_minor_by_currency.EUR' });
    expect(refusal(() => validateTenantPricing({ rateBps: 0, fixedMinorByCurrency: { EUR: 1_000_001n } }))).toEqual({ reason: 'FIELD_INVALID', field: 'pricing.fixed_minor_by_currency.EUR' });
    expect(refusal(() => validateTenantPricing({ rateBps: 0, fixedMinorByCurrency: { XXY: 1n } })).field).toBe('pricing.fixed_minor_by_currency.XXY');
    expect(refusal(() => validateTenantPricing({ rateBps: 0, fixedMinorByCurrency: { eur: 1n } })).field).toBe('pricing.fixed_minor_by_currency.eur');
  });

  it('any valid pricing: the fee is exact (rate rounded half-even + fixed), within [0, amount]', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000 }), fc.bigInt({ min: 0n, max: 1_000_000n }), fc.bigInt({ min: 0n, max: 10n ** 12n }), (rateBps, fixedMinor, amountMinor) => {
      const fees = feeScheduleOf(validateTenantPricing({ rateBps, fixedMinorByCurrency: { EUR: fixedMinor } }), 'EUR', platform);
      const fee = platformFeeMinor(amountMinor, 'EUR', fees);
      // Exact reference: half-even rounding of amount * rate / 10000 in integers.
      const numerator = amountMinor * BigInt(rateBps);
      let rate = numerator / 10_000n;
      const remainder = numerator % 10_000n;
      if (remainder * 2n > 10_000n || (remainder * 2n === 10_000n && rate % 2n === 1n)) rate += 1n;
      const expected = rate + fixedMinor > amountMinor ? amountMinor : rate + fixedMinor;
      expect(fee).toBe(expected);
    }), { seed: 13, numRuns: 500 });
  });
});
