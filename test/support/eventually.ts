/**
 * The one way tests wait for something that happens asynchronously elsewhere (a webhook applied, a
 * message published, a document written by a trigger): retry an assertion until it passes or a
 * deadline passes, then fail with the assertion's own last error. Never a fixed sleep: a sleep is
 * either too short under load (a flake) or too long when idle (a slow suite), and it proves nothing
 * when the thing it waits for never happens. Code that takes a clock is tested with the fake clock
 * (functions/src/platform/resilience/fake-clock.ts) instead, which does not wait at all.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** How long the assertion may keep failing before the test fails with its last error. */
  timeoutMs: number;
  /** The pause between two tries (the assertion's own run time comes on top). */
  intervalMs: number;
}

/**
 * Runs `assertion` until it returns without throwing, and returns what it returned. After
 * `timeoutMs` it throws the last error the assertion threw (its message names what was expected
 * and what was seen), prefixed with how long and how many tries it kept failing.
 */
export async function eventually<T>(assertion: () => T | Promise<T>, options: EventuallyOptions): Promise<T> {
  const { timeoutMs, intervalMs } = options;
  if (!(timeoutMs > 0 && intervalMs > 0 && intervalMs <= timeoutMs)) {
    throw new Error(`assertion failed: eventually() needs 0 < intervalMs <= timeoutMs, got ${intervalMs} and ${timeoutMs}`);
  }
  const deadlineMs = Date.now() + timeoutMs;
  for (let tries = 1; ; tries++) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() + intervalMs > deadlineMs) {
        if (error instanceof Error) error.message = `still failing after ${timeoutMs} ms (${tries} tries): ${error.message}`;
        throw error;
      }
    }
    await delay(intervalMs);
  }
}

/**
 * Waits until the wall clock, which a server under test reads too, is past `instantMs`. Only for
 * behaviour defined by real time on a real server that takes no clock from the test (a hold's
 * timeout, two entries' create times differing); the caller says which.
 */
export function clockPast(instantMs: number, options: EventuallyOptions): Promise<void> {
  return eventually(() => {
    if (Date.now() <= instantMs) throw new Error(`the clock is not past ${new Date(instantMs).toISOString()} yet`);
  }, options);
}
