import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { authorizationRateBps, validateReportPageSize, validateReportRange } from './reports.js';

const reasonOf = (run: () => unknown): { reason: string; field: string | undefined } => {
  try {
    run();
  } catch (error) {
    if (error instanceof TallyError) return { reason: error.reason, field: error.metadata.field };
    throw error;
  }
  throw new Error('no error');
};

describe('report bounds', () => {
  it('accepts a range up to 366 days and refuses an empty, inverted, open or longer one naming the field', () => {
    const start = Date.parse('2024-01-01T00:00:00Z');
    expect(validateReportRange(start, start + 366 * 86_400_000)).toEqual({ startMs: start, endMs: start + 366 * 86_400_000 });
    expect(reasonOf(() => validateReportRange(start, start + 366 * 86_400_000 + 1))).toEqual({ reason: 'FIELD_INVALID', field: 'end_time' });
    expect(reasonOf(() => validateReportRange(start, start))).toEqual({ reason: 'FIELD_INVALID', field: 'end_time' });
    expect(reasonOf(() => validateReportRange(start, start - 1))).toEqual({ reason: 'FIELD_INVALID', field: 'end_time' });
    expect(reasonOf(() => validateReportRange(undefined, start))).toEqual({ reason: 'FIELD_REQUIRED', field: 'start_time' });
    expect(reasonOf(() => validateReportRange(start, undefined))).toEqual({ reason: 'FIELD_REQUIRED', field: 'end_time' });
    expect(reasonOf(() => validateReportRange(-1, start))).toEqual({ reason: 'FIELD_INVALID', field: 'start_time' });
    // The analytics store's DateTime ends in 2106: a later start is refused, not sent to it.
    const lastStartMs = Date.parse('2106-02-07T06:28:15Z');
    expect(validateReportRange(lastStartMs + 999, lastStartMs + 1_000)).toEqual({ startMs: lastStartMs + 999, endMs: lastStartMs + 1_000 });
    expect(reasonOf(() => validateReportRange(lastStartMs + 1_000, lastStartMs + 2_000))).toEqual({ reason: 'FIELD_INVALID', field: 'start_time' });
    expect(reasonOf(() => validateReportRange(Date.parse('9999-12-31T00:00:00Z'), Date.parse('9999-12-31T01:00:00Z')))).toEqual({ reason: 'FIELD_INVALID', field: 'start_time' });
  });

  it('page size: 0 is the default, 1..1000 kept, anything else refused', () => {
    expect(validateReportPageSize(0)).toBe(500);
    expect(validateReportPageSize(1000)).toBe(1000);
    expect(reasonOf(() => validateReportPageSize(1001))).toEqual({ reason: 'FIELD_INVALID', field: 'page_size' });
    expect(reasonOf(() => validateReportPageSize(-1))).toEqual({ reason: 'FIELD_INVALID', field: 'page_size' });
  });

  it('authorization rate in basis points is the fraction rounded down, exactly (property)', () => {
    expect(authorizationRateBps(2n, 3n)).toBe(6666);
    expect(authorizationRateBps(0n, 0n)).toBe(0);
    expect(authorizationRateBps(7n, 7n)).toBe(10_000);
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 2n ** 62n }), fc.bigInt({ min: 0n, max: 2n ** 62n }), (attempts, raw) => {
      const authorized = raw % (attempts + 1n);
      const bps = BigInt(authorizationRateBps(authorized, attempts));
      // bps/10000 <= authorized/attempts < (bps+1)/10000, in integers.
      return bps * attempts <= authorized * 10_000n && authorized * 10_000n < (bps + 1n) * attempts;
    }), { seed: 13, numRuns: 500 });
  });
});
