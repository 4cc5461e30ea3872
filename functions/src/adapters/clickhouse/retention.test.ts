import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keepFromMonth } from './retention.js';

describe('analytics retention: the first month kept', () => {
  it('is the month holding now minus the retention (a month partly inside the retention is kept whole)', () => {
    expect(keepFromMonth(Date.parse('2026-12-07T00:00:00Z'), 84)).toBe('201912');
    expect(keepFromMonth(Date.parse('2026-01-01T00:00:00Z'), 84)).toBe('201901');
    expect(keepFromMonth(Date.parse('2026-12-31T23:59:59.999Z'), 84)).toBe('201912');
    expect(keepFromMonth(Date.parse('2026-03-31T12:00:00Z'), 1)).toBe('202602');
    expect(keepFromMonth(Date.parse('2026-01-15T00:00:00Z'), 13)).toBe('202412');
  });

  it('never drops a month holding an instant younger than the retention (property)', () => {
    fc.assert(fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.integer({ min: 1, max: 240 }), (nowMs, months) => {
      const keep = keepFromMonth(nowMs, months);
      const firstKept = Date.UTC(Number(keep.slice(0, 4)), Number(keep.slice(4)) - 1, 1);
      const boundary = new Date(nowMs);
      boundary.setUTCMonth(boundary.getUTCMonth() - months, 1);
      // The first kept month starts at or before the retention boundary's month, and the month
      // before it ends before the boundary: dropped months are entirely older.
      expect(firstKept).toBe(Date.UTC(boundary.getUTCFullYear(), boundary.getUTCMonth(), 1));
      expect(firstKept).toBeLessThanOrEqual(nowMs);
    }), { numRuns: 300, seed: 13 });
  });

  it('refuses a retention that is not a positive whole number of months', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => keepFromMonth(0, bad)).toThrow(/retentionMonths must be a positive integer/);
  });
});
