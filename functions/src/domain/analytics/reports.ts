/**
 * Merchant reports (issue 13 item 5): the bounds every report request is held to and the exact
 * form of the authorization rate. Pure: no I/O.
 */
import { invalidField } from '../errors.js';

/** Longest period one report covers: a year with its leap day. */
export const reportRangeDaysMax = 366;
const dayMs = 86_400_000;
/** Rows per page. */
export const reportPageSizeMax = 1_000;
export const reportPageSizeDefault = 500;

/**
 * Latest start a report may have: ClickHouse's DateTime (whole seconds, UInt32) ends at
 * 2106-02-07T06:28:15Z, and the report queries narrow their partitions by the start as a DateTime.
 */
export const reportStartMsMax = 2 ** 32 * 1000 - 1;

/** A validated report period [startMs, endMs). */
export interface ReportRange { startMs: number; endMs: number }

/**
 * Checks a requested period: both ends given, start before end, at most `reportRangeDaysMax` days.
 * Refusals are FIELD_REQUIRED / FIELD_INVALID naming the field, never a clamp.
 */
export function validateReportRange(startMs: number | undefined, endMs: number | undefined): ReportRange {
  if (startMs === undefined) throw invalidField('start_time', 'required', 'FIELD_REQUIRED');
  if (endMs === undefined) throw invalidField('end_time', 'required', 'FIELD_REQUIRED');
  if (!Number.isSafeInteger(startMs) || startMs < 0) throw invalidField('start_time', 'must be a time after 1970-01-01');
  if (startMs > reportStartMsMax) throw invalidField('start_time', 'must be a time before 2106-02-07T06:28:16Z (the end of the analytics store\'s time range)');
  if (!Number.isSafeInteger(endMs) || endMs <= startMs) throw invalidField('end_time', 'must be after start_time');
  if (endMs - startMs > reportRangeDaysMax * dayMs) throw invalidField('end_time', `at most ${reportRangeDaysMax} days after start_time`);
  return { startMs, endMs };
}

/** A page size: 0 means the default; otherwise 1..reportPageSizeMax. */
export function validateReportPageSize(pageSize: number): number {
  if (pageSize === 0) return reportPageSizeDefault;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > reportPageSizeMax) throw invalidField('page_size', `must be 0..${reportPageSizeMax}`);
  return pageSize;
}

/**
 * The authorization rate in basis points, rounded down: `floor(10000 * authorized / attempts)`,
 * 0 without attempts. The exact rate is the fraction itself, which reports also carry.
 */
export function authorizationRateBps(authorized: bigint, attempts: bigint): number {
  if (attempts < 0n || authorized < 0n || authorized > attempts) throw new Error('assertion failed: 0 <= authorized <= attempts');
  return attempts === 0n ? 0 : Number((authorized * 10_000n) / attempts);
}
