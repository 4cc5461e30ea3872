/**
 * Hedged requests for idempotent reads (a PSP payment lookup): if the first attempt is slow, start
 * another instead of waiting out the tail latency, and take whichever answers first. Only for
 * reads: every attempt may reach the dependency, so a write would happen more than once.
 */
import type { TimerClock } from './clock.js';

export interface HedgeOptions {
  /** How long an attempt may run before the next one starts alongside it (>= 0). */
  hedgeDelayMs: number;
  /** Attempts started in all, the first included (1..3): each one is extra load on the dependency. */
  attemptsMax: number;
  clock: TimerClock;
  /** The caller's cancellation: aborts every attempt and rejects with its reason. */
  parentSignal?: AbortSignal;
}

/** The hedge ceiling: more than 3 copies of a read buys almost no latency and a lot of load. */
export const hedgeAttemptsMaxLimit = 3;

/**
 * Runs `work` (given its own signal and the attempt number 0, 1, 2) and starts the next attempt
 * every `hedgeDelayMs` while none has succeeded and fewer than `attemptsMax` have started. An
 * attempt that fails starts the next one at once (its delay is cut short: waiting cannot help).
 * The first success wins: the others' signals abort (reason: a DOMException named AbortError) and
 * their results are dropped. When every attempt has failed, rejects with the error of the last to
 * fail. Bound each attempt's duration inside `work` (e.g. `withTimeout`): hedging starts attempts,
 * it does not stop slow ones.
 */
export function hedge<T>(work: (signal: AbortSignal, attempt: number) => Promise<T>, options: HedgeOptions): Promise<T> {
  const { hedgeDelayMs, attemptsMax, clock, parentSignal } = options;
  if (!Number.isInteger(attemptsMax) || attemptsMax < 1 || attemptsMax > hedgeAttemptsMaxLimit) throw new Error(`assertion failed: attemptsMax in 1..${hedgeAttemptsMaxLimit}, got ${attemptsMax}`);
  if (!Number.isFinite(hedgeDelayMs) || hedgeDelayMs < 0) throw new Error(`assertion failed: hedgeDelayMs >= 0, got ${hedgeDelayMs}`);
  if (parentSignal?.aborted) return Promise.reject(parentSignal.reason);
  return new Promise<T>((resolve, reject) => {
    const controllers: AbortController[] = [];
    let running = 0;
    let settled = false;
    let cancelHedgeTimer = (): void => {};

    const settle = (finish: () => void): void => {
      settled = true;
      cancelHedgeTimer();
      parentSignal?.removeEventListener('abort', onParentAbort);
      finish();
    };
    const onParentAbort = (): void => {
      settle(() => reject(parentSignal?.reason));
      for (const controller of controllers) controller.abort(parentSignal?.reason);
    };

    const start = (): void => {
      const attempt = controllers.length;
      const controller = new AbortController();
      controllers.push(controller);
      running++;
      cancelHedgeTimer();
      if (controllers.length < attemptsMax) cancelHedgeTimer = clock.setTimer(start, hedgeDelayMs);
      let pending: Promise<T>;
      try {
        pending = work(controller.signal, attempt);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (value) => {
          running--;
          if (settled) return;
          settle(() => resolve(value));
          // Not the winner's signal: its result may still be streaming (a response body tied to it).
          const lost = new DOMException(`hedged attempt ${attempt} won`, 'AbortError');
          controllers.forEach((loser, index) => {
            if (index !== attempt) loser.abort(lost);
          });
        },
        (error: unknown) => {
          running--;
          if (settled) return;
          if (controllers.length < attemptsMax) start();
          else if (running === 0) settle(() => reject(error));
        },
      );
    };

    parentSignal?.addEventListener('abort', onParentAbort, { once: true });
    start();
  });
}
