/**
 * The retry schedule of a webhook delivery (ADR 0034): the first attempt at once; after failed
 * attempt n the next comes after a delay drawn uniformly from [0, min(delayMsMax, baseDelayMs *
 * 2^(n-1))) (full jitter), never later than the delivery's deadline; one last attempt is made at
 * the deadline, then the delivery fails. Pure: the caller passes the random draw.
 */
export interface RetrySchedule {
  /** Ceiling of the first retry's delay; doubles per failed attempt. */
  baseDelayMs: number;
  /** No delay between two attempts is drawn above this. */
  delayMsMax: number;
  /** How long after its creation a delivery is retried (about 3 days). */
  retryWindowMs: number;
  /** Most attempts of one delivery; reaching it fails the delivery (and is logged as an error). */
  attemptsMax: number;
  /** An endpoint failing for this long is disabled. */
  disableAfterMs: number;
}

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;

/** The documented schedule: 30 s doubling to 4 h, full jitter, for 72 h; disabled after 5 days failing. */
export const defaultRetrySchedule: RetrySchedule = {
  baseDelayMs: 30_000, delayMsMax: 4 * hourMs, retryWindowMs: 72 * hourMs, attemptsMax: 64, disableAfterMs: 5 * 24 * hourMs,
};

export type NextStep =
  | { kind: 'retry'; atMs: number }
  /** Out of time (`deadline`) or attempts (`attempts_exhausted`): the delivery fails. */
  | { kind: 'give_up'; why: 'deadline' | 'attempts_exhausted' };

/**
 * What follows failed attempt number `attemptsMade` (1-based) of a delivery due by `deadlineAtMs`,
 * at `nowMs`. `random` is a draw in [0, 1).
 */
export function nextAfterFailure(schedule: RetrySchedule, attemptsMade: number, nowMs: number, deadlineAtMs: number, random: number): NextStep {
  if (attemptsMade >= schedule.attemptsMax) return { kind: 'give_up', why: 'attempts_exhausted' };
  if (nowMs >= deadlineAtMs) return { kind: 'give_up', why: 'deadline' };
  // The resilience kit's `backoffDelayMs` formula (the domain may not import platform/).
  const ceilingMs = Math.min(schedule.delayMsMax, schedule.baseDelayMs * 2 ** Math.min(attemptsMade - 1, 40));
  const delayMs = Math.floor(random * ceilingMs);
  return { kind: 'retry', atMs: Math.min(nowMs + delayMs, deadlineAtMs) };
}

/** Whether an endpoint failing since `failingSinceMs` has failed long enough to be disabled. */
export function shouldDisable(schedule: RetrySchedule, failingSinceMs: number | null, nowMs: number): boolean {
  return failingSinceMs !== null && nowMs - failingSinceMs >= schedule.disableAfterMs;
}
