import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money } from '../money/index.js';
import { formatPercent, lineTax, parsePercent } from './tax-math.js';

const eur = (minor: bigint) => money(minor, 'EUR');

describe('lineTax', () => {
  it('exclusive: 19 % of 10.00 is 1.90', () => {
    expect(lineTax(eur(1000n), 190_000, 'exclusive')).toEqual({ net: eur(1000n), tax: eur(190n), gross: eur(1190n) });
  });

  it('rounds ties half-up (away from zero), per line: 1 % of 2.50 is 0.03, of -2.50 is -0.03', () => {
    expect(lineTax(eur(250n), 10_000, 'exclusive').tax).toEqual(eur(3n));
    expect(lineTax(eur(-250n), 10_000, 'exclusive').tax).toEqual(eur(-3n));
    expect(lineTax(eur(350n), 10_000, 'exclusive').tax).toEqual(eur(4n));
  });

  it('inclusive: tax = gross x r / (1 + r) rounded half-up; 1.05 at 5 % holds 0.05', () => {
    expect(lineTax(eur(105n), 50_000, 'inclusive')).toEqual({ net: eur(100n), tax: eur(5n), gross: eur(105n) });
    expect(lineTax(eur(63n), 50_000, 'inclusive').tax).toEqual(eur(3n));
    // A tie: 0.05 gross at 100 % holds 0.025 of tax -> 0.03 (half-up), net 0.02.
    expect(lineTax(eur(5n), 1_000_000, 'inclusive')).toEqual({ net: eur(2n), tax: eur(3n), gross: eur(5n) });
  });

  it('property: net + tax = gross exactly and tax is within half a minor unit of exact, both behaviours', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 1_000_000 }), fc.boolean(), (amount, ppm, inclusive) => {
      const r = lineTax(eur(amount), ppm, inclusive ? 'inclusive' : 'exclusive');
      expect(r.net.amountMinor + r.tax.amountMinor).toBe(r.gross.amountMinor);
      const den = inclusive ? 1_000_000n + BigInt(ppm) : 1_000_000n;
      const diff = r.tax.amountMinor * den - amount * BigInt(ppm);
      expect(2n * (diff < 0n ? -diff : diff)).toBeLessThanOrEqual(den);
    }), { numRuns: 1000 });
  });
});

describe('percent text', () => {
  it.each([['25.5', 255_000], ['20', 200_000], ['4.8', 48_000], ['8.875', 88_750], ['0', 0], ['100', 1_000_000], ['0.0001', 1]])('%s %% is %i ppm and back', (text, ppm) => {
    expect(parsePercent(text)).toBe(ppm);
    expect(formatPercent(ppm)).toBe(text);
  });

  it.each(['-1', '100.0001', '101', '1.23456', '1e2', ' 5', '5,5', '', '.5'])('refuses %j', (text) => {
    expect(() => parsePercent(text)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'rate' } }));
  });
});
