/**
 * The billing calendar: where billing periods start and end, in UTC, from a billing-cycle anchor.
 *
 * Rule (ADR 0031): period boundary `k` is computed from the ORIGINAL anchor, `anchor + k * interval`,
 * never from the previous boundary. For month and year intervals the day of month is clamped to
 * the target month's length, so an anchor on Jan 31 gives Feb 28 (Feb 29 in a leap year) and then
 * Mar 31 again: a clamp never sticks. An anchor on Feb 29 with a yearly interval renews on Feb 28
 * in common years and Feb 29 in leap years. The anchor's time of day is kept on every boundary.
 * Days are 86,400,000 ms: UTC has no DST, and leap seconds do not exist in JavaScript time.
 */
import { TallyError, assert, invalidField } from '../errors.js';

/** Every interval unit. */
export const intervalUnits = ['day', 'week', 'month', 'year'] as const;
/** `'day' | 'week' | 'month' | 'year'`. */
export type IntervalUnit = (typeof intervalUnits)[number];

/** A recurring interval: `count` units (e.g. 3 months). Validate with `billingInterval`. */
export interface BillingInterval {
  readonly unit: IntervalUnit;
  /** Whole number of units, at least 1; the interval is at most `INTERVAL_DAYS_MAX` long. */
  readonly count: number;
}

/** One day in milliseconds (UTC days are all this long). */
export const DAY_MS = 86_400_000;
/** Longest interval, in days (3 years, as Stripe): 1095 days, 156 weeks, 36 months or 3 years. */
export const INTERVAL_DAYS_MAX = 1095;
/** Earliest and latest instants the calendar accepts (1970-01-01 .. 9999-12-31, UTC). */
export const CALENDAR_MS_MIN = 0;
export const CALENDAR_MS_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const unitDaysMax: Record<IntervalUnit, number> = { day: 1095, week: 156, month: 36, year: 3 };

/**
 * Validates and freezes an interval. Throws `FIELD_INVALID` (field `interval`) for an unknown unit
 * or a count that is not an integer in 1..(1095 days, 156 weeks, 36 months, 3 years).
 */
export function billingInterval(unit: string, count: number, field = 'interval'): BillingInterval {
  if (!(intervalUnits as readonly string[]).includes(unit)) {
    throw invalidField(field, `unit must be one of ${intervalUnits.join(', ')}`);
  }
  const max = unitDaysMax[unit as IntervalUnit];
  if (!Number.isSafeInteger(count) || count < 1 || count > max) {
    throw invalidField(field, `count must be an integer from 1 to ${max} for unit ${unit}`);
  }
  return Object.freeze({ unit: unit as IntervalUnit, count });
}

/** A half-open billing period `[startMs, endMs)` and its index from the anchor (0 starts at the anchor). */
export interface BillingPeriod {
  readonly index: number;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Boundary `index` of the calendar: `anchorMs + index * interval` (month-end clamped, see the
 * module comment). Index 0 is the anchor itself; negative indices go backwards. Throws
 * `FIELD_INVALID` when the result leaves 1970..9999.
 */
export function periodBoundaryMs(anchorMs: number, interval: BillingInterval, index: number): number {
  checkInstant(anchorMs, 'anchor');
  assert(Number.isSafeInteger(index), 'periodBoundaryMs: index must be an integer');
  const steps = index * interval.count;
  let ms: number;
  switch (interval.unit) {
    case 'day':
      ms = anchorMs + steps * DAY_MS;
      break;
    case 'week':
      ms = anchorMs + steps * 7 * DAY_MS;
      break;
    case 'month':
      ms = addMonthsClamped(anchorMs, steps);
      break;
    case 'year':
      ms = addMonthsClamped(anchorMs, steps * 12);
      break;
  }
  if (!(ms >= CALENDAR_MS_MIN && ms <= CALENDAR_MS_MAX)) {
    throw invalidField('periodEnd', 'the billing calendar only covers 1970-01-01 to 9999-12-31 UTC');
  }
  return ms;
}

/** The period with `index`: `[boundary(index), boundary(index + 1))`. */
export function periodByIndex(anchorMs: number, interval: BillingInterval, index: number): BillingPeriod {
  return Object.freeze({
    index,
    startMs: periodBoundaryMs(anchorMs, interval, index),
    endMs: periodBoundaryMs(anchorMs, interval, index + 1),
  });
}

/**
 * The period containing `atMs` (`startMs <= atMs < endMs`), before the anchor as well (negative
 * index). Constant work: the index is estimated arithmetically, then corrected by at most a few steps.
 */
export function periodAt(anchorMs: number, interval: BillingInterval, atMs: number): BillingPeriod {
  checkInstant(anchorMs, 'anchor');
  checkInstant(atMs, 'at');
  let index = estimateIndex(anchorMs, interval, atMs);
  // The estimate is off by at most one period either way (month clamping moves a boundary by at
  // most 3 days, less than any period of a month or more); 4 steps is a generous bound.
  for (let step = 0; step < 4 && periodBoundaryMs(anchorMs, interval, index) > atMs; step++) index -= 1;
  for (let step = 0; step < 4 && periodBoundaryMs(anchorMs, interval, index + 1) <= atMs; step++) index += 1;
  const period = periodByIndex(anchorMs, interval, index);
  assert(period.startMs <= atMs && atMs < period.endMs, 'periodAt: the estimate converged');
  return period;
}

/** Length of a period in milliseconds (months and years vary: 28..31 days, 365/366 days). */
export function periodLengthMs(period: BillingPeriod): number {
  return period.endMs - period.startMs;
}

/** Options of `initialSchedule`. */
export interface InitialScheduleInput {
  /** When the subscription is created. */
  readonly startMs: number;
  readonly interval: BillingInterval;
  /** Trial length in whole days from `startMs` (0..730); exclusive with `trialEndMs`. */
  readonly trialDays?: number;
  /** Explicit trial end (after `startMs`); exclusive with `trialDays`. */
  readonly trialEndMs?: number;
  /**
   * Billing-cycle anchor. Default: the trial end, else `startMs`. When later than the start (or
   * trial end), the time until the anchor is a stub period `[firstBillingMs, anchorMs)` that is
   * invoiced prorated; it may not be more than one interval after it.
   */
  readonly anchorMs?: number;
}

/** Where a new subscription stands: trial, anchor and its first (possibly stub) period. */
export interface InitialSchedule {
  /** `trialing` when a trial is running at `startMs`, else `active`. */
  readonly status: 'trialing' | 'active';
  /** End of the trial, or `null` without one. */
  readonly trialEndMs: number | null;
  readonly anchorMs: number;
  /** First billed instant: the trial end, else the start. */
  readonly firstBillingMs: number;
  /** The first billed period: `[firstBillingMs, anchorMs)` when it is a stub, else period 0. */
  readonly firstPeriod: { readonly startMs: number; readonly endMs: number; readonly stub: boolean };
}

/** Longest trial in days (two years). */
export const TRIAL_DAYS_MAX = 730;

/**
 * The trial, anchor and first period of a new subscription. Throws `FIELD_INVALID` for a trial
 * that is negative, too long or given twice, or an anchor before the first billed instant or more
 * than one interval after it.
 */
export function initialSchedule(input: InitialScheduleInput): InitialSchedule {
  const { startMs, interval } = input;
  checkInstant(startMs, 'start');
  if (input.trialDays !== undefined && input.trialEndMs !== undefined) {
    throw invalidField('trialDays', 'give either trialDays or trialEnd, not both');
  }
  let trialEndMs: number | null = null;
  if (input.trialDays !== undefined) {
    if (!Number.isSafeInteger(input.trialDays) || input.trialDays < 0 || input.trialDays > TRIAL_DAYS_MAX) {
      throw invalidField('trialDays', `must be an integer from 0 to ${TRIAL_DAYS_MAX}`);
    }
    trialEndMs = input.trialDays === 0 ? null : startMs + input.trialDays * DAY_MS;
  } else if (input.trialEndMs !== undefined) {
    checkInstant(input.trialEndMs, 'trialEnd');
    if (input.trialEndMs <= startMs || input.trialEndMs > startMs + TRIAL_DAYS_MAX * DAY_MS) {
      throw invalidField('trialEnd', `must be after the start and at most ${TRIAL_DAYS_MAX} days after it`);
    }
    trialEndMs = input.trialEndMs;
  }
  const firstBillingMs = trialEndMs ?? startMs;
  const anchorMs = input.anchorMs ?? firstBillingMs;
  checkInstant(anchorMs, 'billingCycleAnchor');
  if (anchorMs < firstBillingMs || anchorMs > periodBoundaryMs(firstBillingMs, interval, 1)) {
    throw invalidField('billingCycleAnchor', 'must be between the first billed instant (start or trial end) and one interval after it');
  }
  const stub = anchorMs > firstBillingMs;
  const firstPeriod = stub
    ? { startMs: firstBillingMs, endMs: anchorMs, stub }
    : { startMs: anchorMs, endMs: periodBoundaryMs(anchorMs, interval, 1), stub };
  return Object.freeze({
    status: trialEndMs === null ? 'active' : 'trialing',
    trialEndMs,
    anchorMs,
    firstBillingMs,
    firstPeriod: Object.freeze(firstPeriod),
  });
}

/** Days in a month (`month0` 0..11) of a proleptic Gregorian year. */
export function daysInMonth(year: number, month0: number): number {
  if (month0 === 1) return isLeapYear(year) ? 29 : 28;
  return monthDays[month0] ?? assertNever(month0);
}

const monthDays: readonly number[] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function assertNever(month0: number): never {
  throw new Error(`assertion failed: month index ${month0} outside 0..11`);
}

/** Gregorian leap year: divisible by 4, except centuries not divisible by 400. */
export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** `ms` moved by `months` calendar months, the day of month clamped to the target month's length. */
function addMonthsClamped(ms: number, months: number): number {
  const d = new Date(ms);
  const monthIndex = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(monthIndex / 12);
  const month0 = monthIndex - year * 12;
  const day = Math.min(d.getUTCDate(), daysInMonth(year, month0));
  const out = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  out.setUTCFullYear(year, month0, day);
  out.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return out.getTime();
}

function estimateIndex(anchorMs: number, interval: BillingInterval, atMs: number): number {
  switch (interval.unit) {
    case 'day':
      return Math.floor((atMs - anchorMs) / (interval.count * DAY_MS));
    case 'week':
      return Math.floor((atMs - anchorMs) / (interval.count * 7 * DAY_MS));
    case 'month':
    case 'year': {
      const a = new Date(anchorMs);
      const t = new Date(atMs);
      const months = (t.getUTCFullYear() - a.getUTCFullYear()) * 12 + (t.getUTCMonth() - a.getUTCMonth());
      return Math.floor(months / (interval.count * (interval.unit === 'year' ? 12 : 1)));
    }
  }
}

function checkInstant(ms: number, field: string): void {
  if (!Number.isSafeInteger(ms) || ms < CALENDAR_MS_MIN || ms > CALENDAR_MS_MAX) {
    throw new TallyError('FIELD_INVALID', `${field}: must be an instant between 1970-01-01 and 9999-12-31 UTC (integer ms)`, { field });
  }
}
