import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DAY_MS, billingInterval, daysInMonth, initialSchedule, isLeapYear, periodAt, periodBoundaryMs, periodByIndex,
} from './calendar.js';

const utc = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const monthly = billingInterval('month', 1);

describe('billing calendar: month ends and leap years', () => {
  it('an anchor on Jan 31 bills Feb 29 (leap year), then Mar 31 again: every end is computed from the original anchor', () => {
    const anchor = utc('2024-01-31T10:30:00.000Z');
    const ends = [1, 2, 3, 4, 5, 13].map((k) => iso(periodBoundaryMs(anchor, monthly, k)));
    expect(ends).toEqual([
      '2024-02-29T10:30:00.000Z',
      '2024-03-31T10:30:00.000Z',
      '2024-04-30T10:30:00.000Z',
      '2024-05-31T10:30:00.000Z',
      '2024-06-30T10:30:00.000Z',
      '2025-02-28T10:30:00.000Z',
    ]);
  });

  it('an anchor on Jan 31 bills Feb 28 in a common year', () => {
    expect(iso(periodBoundaryMs(utc('2025-01-31T00:00:00Z'), monthly, 1))).toBe('2025-02-28T00:00:00.000Z');
    expect(iso(periodBoundaryMs(utc('2025-01-31T00:00:00Z'), monthly, 2))).toBe('2025-03-31T00:00:00.000Z');
  });

  it('a yearly anchor on Feb 29 renews on Feb 28 in common years and Feb 29 in leap years', () => {
    const anchor = utc('2024-02-29T12:00:00Z');
    const yearly = billingInterval('year', 1);
    expect([1, 2, 3, 4].map((k) => iso(periodBoundaryMs(anchor, yearly, k)).slice(0, 10))).toEqual(['2025-02-28', '2026-02-28', '2027-02-28', '2028-02-29']);
  });

  it('quarterly (3 months) from Nov 30 clamps to Feb 28 then returns to May 30', () => {
    const q = billingInterval('month', 3);
    const anchor = utc('2024-11-30T00:00:00Z');
    expect([1, 2, 3].map((k) => iso(periodBoundaryMs(anchor, q, k)).slice(0, 10))).toEqual(['2025-02-28', '2025-05-30', '2025-08-30']);
  });

  it('day and week intervals are exact multiples of 24 h in UTC (no DST)', () => {
    const anchor = utc('2025-03-29T23:00:00Z'); // Europe's DST switch is irrelevant in UTC
    expect(periodBoundaryMs(anchor, billingInterval('day', 3), 2) - anchor).toBe(6 * DAY_MS);
    expect(periodBoundaryMs(anchor, billingInterval('week', 2), 1) - anchor).toBe(14 * DAY_MS);
  });

  it('leap-year rules: 2000 and 2024 are leap, 1900 and 2100 are not', () => {
    expect([2000, 2024, 1900, 2100, 2023].map(isLeapYear)).toEqual([true, true, false, false, false]);
    expect(daysInMonth(2100, 1)).toBe(28);
    expect(daysInMonth(2000, 1)).toBe(29);
  });

  it('periodAt finds the period containing an instant, boundaries half-open', () => {
    const anchor = utc('2024-01-31T00:00:00Z');
    expect(periodAt(anchor, monthly, utc('2024-02-29T00:00:00Z'))).toEqual({
      index: 1, startMs: utc('2024-02-29T00:00:00Z'), endMs: utc('2024-03-31T00:00:00Z'),
    });
    expect(periodAt(anchor, monthly, utc('2024-02-28T23:59:59.999Z')).index).toBe(0);
    expect(periodAt(anchor, monthly, utc('2023-12-31T00:00:00Z')).index).toBe(-1);
  });

  it('property: periodAt agrees with the boundaries, for every unit and count', () => {
    const unit = fc.constantFrom('day', 'week', 'month', 'year');
    fc.assert(
      fc.property(
        unit, fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: utc('1990-01-01T00:00:00Z'), max: utc('2060-01-01T00:00:00Z') }),
        fc.integer({ min: 0, max: 40 * 365 * DAY_MS }),
        (u, count, anchorMs, offsetMs) => {
          const interval = billingInterval(u, count);
          const at = anchorMs + offsetMs;
          const p = periodAt(anchorMs, interval, at);
          expect(p.startMs).toBeLessThanOrEqual(at);
          expect(at).toBeLessThan(p.endMs);
          expect(p).toEqual(periodByIndex(anchorMs, interval, p.index));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: a monthly boundary keeps the anchor day when the month has it, else the last day of the month', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1971, max: 2200 }), fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 0, max: 600 }), (y, m, d, k) => {
        const day = Math.min(d, daysInMonth(y, m));
        const anchor = Date.UTC(y, m, day, 7, 15);
        const end = new Date(periodBoundaryMs(anchor, monthly, k));
        const targetMonth = (m + k) % 12;
        expect(end.getUTCMonth()).toBe(targetMonth);
        expect(end.getUTCDate()).toBe(Math.min(day, daysInMonth(end.getUTCFullYear(), targetMonth)));
        expect([end.getUTCHours(), end.getUTCMinutes()]).toEqual([7, 15]);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['month', 0], ['month', 37], ['day', 1.5], ['week', 157], ['year', 4], ['fortnight', 1],
  ])('refuses interval %s x %s with FIELD_INVALID', (unit, count) => {
    expect(() => billingInterval(unit, count)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'interval' } }));
  });
});

describe('initialSchedule: trials and anchors', () => {
  const start = utc('2025-01-31T09:00:00Z');

  it('without a trial the subscription is active, anchored at its start', () => {
    expect(initialSchedule({ startMs: start, interval: monthly })).toEqual({
      status: 'active', trialEndMs: null, anchorMs: start, firstBillingMs: start,
      firstPeriod: { startMs: start, endMs: utc('2025-02-28T09:00:00Z'), stub: false },
    });
  });

  it('a 14-day trial starts trialing and anchors billing at the trial end', () => {
    const s = initialSchedule({ startMs: start, interval: monthly, trialDays: 14 });
    expect(s.status).toBe('trialing');
    expect(iso(s.trialEndMs ?? 0)).toBe('2025-02-14T09:00:00.000Z');
    expect(s.anchorMs).toBe(s.trialEndMs);
    expect(iso(s.firstPeriod.endMs)).toBe('2025-03-14T09:00:00.000Z');
  });

  it('a later anchor (the 1st of next month) gives a stub first period up to it', () => {
    const anchor = utc('2025-02-01T00:00:00Z');
    const s = initialSchedule({ startMs: start, interval: monthly, anchorMs: anchor });
    expect(s.firstPeriod).toEqual({ startMs: start, endMs: anchor, stub: true });
  });

  it.each([
    [{ anchorMs: utc('2025-01-30T00:00:00Z') }, 'billingCycleAnchor'],
    [{ anchorMs: utc('2025-03-01T00:00:00Z') }, 'billingCycleAnchor'],
    [{ trialDays: -1 }, 'trialDays'],
    [{ trialDays: 731 }, 'trialDays'],
    [{ trialDays: 3, trialEndMs: start + DAY_MS }, 'trialDays'],
    [{ trialEndMs: start }, 'trialEnd'],
  ])('refuses %j naming field %s', (extra, field) => {
    expect(() => initialSchedule({ startMs: start, interval: monthly, ...extra })).toThrow(
      expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field } }),
    );
  });
});
