/**
 * Bounded retries with capped exponential backoff and full jitter
 * (delay = random(0, min(delayMsMax, baseDelayMs * 2^attempt))), as AWS's "Exponential Backoff and
 * Jitter" recommends: spreads retries of contending callers instead of synchronizing them. Bounded
 * three ways: `attemptsMax`, the per-sleep cap `delayMsMax`, and an optional total `deadlineMs`.
 */
import { systemTimers, type TimerClock } from './clock.js';

export interface RetryOptions {
  /** Total attempts, including the first (>= 1). */
  attemptsMax: number;
  /** Backoff ceiling for the first retry; doubles per attempt up to `delayMsMax` (>= 0). */
  baseDelayMs: number;
  /** No sleep is longer than this, server hints included (>= 0). */
  delayMsMax: number;
  /** Whether an error may be retried; others are rethrown at once. */
  retryable: (error: unknown) => boolean;
  /**
   * Total budget in ms for the whole call (attempts and sleeps), measured on `clock` from the call.
   * Never sleeps past it: when the next attempt could not start strictly before it, the last error
   * is rethrown at once instead of sleeping. Attempts already running are not cut off; bound them
   * with `withTimeout` using `context.deadlineAtMs`. Absent: only `attemptsMax` bounds the call.
   */
  deadlineMs?: number;
  /**
   * The server's retry hint for an error (e.g. a parsed `Retry-After`), in ms; `undefined`, negative
   * or non-finite values are ignored. Honoured as a floor on the jittered delay, capped by
   * `delayMsMax`: delay = max(jitter, min(hint, delayMsMax)).
   */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** Cancels the retries: a sleep in progress rejects with `signal.reason`; no further attempt starts. */
  signal?: AbortSignal;
  /** Time and sleeps. Documented default: `systemTimers`. */
  clock?: TimerClock;
  /** Random source in [0, 1) for the jitter. Documented default: `Math.random`. */
  random?: () => number;
}

/** What an attempt knows about its budget. */
export interface RetryAttemptContext {
  /** The absolute time (on the retry's clock) the whole call must finish by; `null` without `deadlineMs`. */
  deadlineAtMs: number | null;
}

export function backoffDelayMs(attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'delayMsMax' | 'random'>): number {
  const ceilingMs = Math.min(options.delayMsMax, options.baseDelayMs * 2 ** attempt);
  return Math.floor((options.random ?? Math.random)() * ceilingMs);
}

/** The sleep before retry number `attempt + 1`: full jitter, raised to the server's (capped) hint. */
function retryDelayMs(attempt: number, error: unknown, options: RetryOptions): number {
  const jitterMs = backoffDelayMs(attempt, options);
  const hintMs = options.retryAfterMs?.(error);
  if (hintMs === undefined || !Number.isFinite(hintMs) || hintMs < 0) return jitterMs;
  return Math.max(jitterMs, Math.min(Math.ceil(hintMs), options.delayMsMax));
}

function assertOptions(options: RetryOptions): void {
  if (!Number.isInteger(options.attemptsMax) || options.attemptsMax < 1) throw new Error('assertion failed: attemptsMax >= 1');
  if (!(options.baseDelayMs >= 0) || !(options.delayMsMax >= 0)) throw new Error('assertion failed: baseDelayMs and delayMsMax >= 0');
  if (options.deadlineMs !== undefined && !(options.deadlineMs > 0)) throw new Error('assertion failed: deadlineMs > 0');
}

/**
 * Runs `work` up to `attemptsMax` times; throws the last error when all attempts fail, when an
 * error is not retryable, or when the deadline leaves no room for another attempt.
 */
export async function retryWithJitter<T>(work: (attempt: number, context: RetryAttemptContext) => Promise<T>, options: RetryOptions): Promise<T> {
  assertOptions(options);
  const clock = options.clock ?? systemTimers;
  const context: RetryAttemptContext = {
    deadlineAtMs: options.deadlineMs === undefined ? null : clock.nowMs() + options.deadlineMs,
  };
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await work(attempt, context);
    } catch (error) {
      if (attempt + 1 >= options.attemptsMax || !options.retryable(error)) throw error;
      const delayMs = retryDelayMs(attempt, error, options);
      if (context.deadlineAtMs !== null && clock.nowMs() + delayMs >= context.deadlineAtMs) throw error;
      await clock.sleep(delayMs, options.signal);
    }
  }
}
