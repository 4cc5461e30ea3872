import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FingerprintSet, fingerprint53 } from './summary.js';

describe('FingerprintSet', () => {
  it('answers as a Set of the same numbers would, across growth', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 53 - 1 }), { maxLength: 3_000 }), (values) => {
      const set = new FingerprintSet();
      const oracle = new Set<number>();
      for (const v of values) expect(set.add(v)).toBe(!oracle.has(v) && oracle.add(v) !== undefined);
    }), { numRuns: 50 });
  });

  it('holds 100,000 distinct fingerprints and finds each again', () => {
    const set = new FingerprintSet();
    let added = 0;
    let foundAgain = 0;
    for (let i = 0; i < 100_000; i++) if (set.add(fingerprint53('Settled', `ref${i}`, '', '42'))) added++;
    for (let i = 0; i < 100_000; i++) if (!set.add(fingerprint53('Settled', `ref${i}`, '', '42'))) foundAgain++;
    expect([added, foundAgain]).toEqual([100_000, 100_000]);
  });

  it('fingerprints separate their parts and stay within 53 bits', () => {
    expect(fingerprint53('ab', 'c')).not.toBe(fingerprint53('a', 'bc'));
    fc.assert(fc.property(fc.array(fc.string(), { maxLength: 4 }), (parts) => {
      const fp = fingerprint53(...parts);
      expect(Number.isSafeInteger(fp) && fp >= 0).toBe(true);
    }));
  });
});
