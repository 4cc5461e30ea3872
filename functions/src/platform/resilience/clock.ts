/**
 * The time source the resilience kit runs on: the current time plus the two timer primitives the kit
 * needs. Every piece takes one explicitly so tests drive time with `createFakeClock` instead of
 * waiting; production passes `systemTimers`. It extends the app's `Clock` port, so a `TimerClock`
 * can be handed to anything that only reads the time.
 */
import type { Clock } from '../../ports/clock.js';

export interface TimerClock extends Clock {
  /** Milliseconds since the epoch (or since the fake clock's start). */
  nowMs(): number;
  /**
   * Resolves after `ms` (values <= 0 resolve on the next timer turn, like `setTimeout(fn, 0)`).
   * Rejects with `signal.reason` if `signal` is already aborted or aborts while sleeping; the timer
   * is then cancelled, so an aborted sleep holds nothing.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Runs `fn` once after `ms`. Returns a cancel function; calling it after the timer ran is a no-op. */
  setTimer(fn: () => void, ms: number): () => void;
}

/**
 * Builds `sleep` from `setTimer`, so the real and the fake clock share one abort-handling path
 * (the part that is easy to get wrong: the listener must go when the timer fires, and vice versa).
 */
export function sleepOnTimers(setTimer: TimerClock['setTimer'], ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const timerDelayMsMax = 2 ** 31 - 1;

/** The real clock: `Date.now()` and Node's timers (delays above 2^31 - 1 ms are assertion failures). */
export const systemTimers: TimerClock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) => sleepOnTimers(systemTimers.setTimer, ms, signal),
  setTimer(fn, ms) {
    // Node silently turns a delay above 2^31 - 1 ms (~24.8 days) into 1 ms: a bug, never a wish.
    if (!(ms <= timerDelayMsMax)) throw new Error(`assertion failed: timer delay ${ms} ms exceeds ${timerDelayMsMax}`);
    const handle = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(handle);
  },
};
