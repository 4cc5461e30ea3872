/**
 * A deadline on one piece of asynchronous work, enforced through `AbortSignal` so the work (an HTTP
 * call, a PSP SDK request) actually stops instead of running on unobserved.
 */
import type { TimerClock } from './clock.js';

/**
 * The work did not finish within `timeoutMs`. `workStarted` says whether it may have had an effect:
 * a timeout after a request was sent is ambiguous (the PSP may have acted), so the payment goes to
 * `unknown` and is resolved by asking the PSP, never by re-routing. `withTimeout` only ever times
 * out work it has started, so its errors always say `true`; `false` is for callers that give up
 * before sending (e.g. while waiting for a connection slot).
 */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly timeoutMs: number;
  readonly workStarted: boolean;
  constructor(options: { timeoutMs: number; workStarted: boolean }) {
    super(`timed out after ${options.timeoutMs} ms`);
    this.timeoutMs = options.timeoutMs;
    this.workStarted = options.workStarted;
  }
}

export interface TimeoutOptions {
  /** How long the work may run (> 0). */
  timeoutMs: number;
  clock: TimerClock;
  /** The caller's own cancellation (e.g. the request's); aborting it aborts the work too. */
  parentSignal?: AbortSignal;
}

/**
 * Runs `work` with a signal that aborts after `timeoutMs` (reason: a `TimeoutError`) or when
 * `parentSignal` aborts (reason: the parent's). Settles with whichever comes first: the work's
 * result, a `TimeoutError`, or the parent's reason. It does not wait for aborted work to wind down
 * (work that ignores its signal cannot hold the caller past the deadline); a late result or
 * rejection of such work is dropped. If `parentSignal` is already aborted the work never starts.
 */
export function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, options: TimeoutOptions): Promise<T> {
  const { timeoutMs, clock, parentSignal } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`assertion failed: timeoutMs > 0, got ${timeoutMs}`);
  if (parentSignal?.aborted) return Promise.reject(parentSignal.reason);
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      parentSignal?.removeEventListener('abort', onParentAbort);
      finish();
    };
    const onParentAbort = (): void => {
      settle(() => reject(parentSignal?.reason));
      controller.abort(parentSignal?.reason);
    };
    const cancelTimer = clock.setTimer(() => {
      const error = new TimeoutError({ timeoutMs, workStarted: true });
      settle(() => reject(error));
      controller.abort(error);
    }, timeoutMs);
    parentSignal?.addEventListener('abort', onParentAbort, { once: true });
    let running: Promise<T>;
    try {
      running = work(controller.signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}
