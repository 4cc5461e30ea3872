/**
 * Bounded retries with capped exponential backoff and full jitter
 * (delay = random(0, min(capMs, baseMs * 2^attempt))), as AWS's "Exponential Backoff and Jitter"
 * recommends: spreads retries of contending callers instead of synchronizing them.
 */
export interface RetryOptions {
  /** Total attempts, including the first (>= 1). */
  attemptsMax: number;
  baseDelayMs: number;
  delayMsMax: number;
  /** Whether an error may be retried; others are rethrown at once. */
  retryable: (error: unknown) => boolean;
  /** Injected for tests: the sleep and the random source. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export function backoffDelayMs(attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'delayMsMax' | 'random'>): number {
  const ceilingMs = Math.min(options.delayMsMax, options.baseDelayMs * 2 ** attempt);
  return Math.floor((options.random ?? Math.random)() * ceilingMs);
}

/** Runs `work` up to `attemptsMax` times; throws the last error when all attempts fail. */
export async function retryWithJitter<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  if (!Number.isInteger(options.attemptsMax) || options.attemptsMax < 1) throw new Error('assertion failed: attemptsMax >= 1');
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt + 1 >= options.attemptsMax || !options.retryable(error)) throw error;
      await sleep(backoffDelayMs(attempt, options));
    }
  }
}
