/**
 * A concurrency limit per key (one key per PSP): at most `limit` calls run at once, up to
 * `queueMax` more wait in FIFO order for at most `queueTimeoutMs`, and everything beyond is refused
 * at once. Keeps one slow PSP from soaking up every connection and every request's time: excess
 * load fails fast with a typed error the routing layer can act on.
 */
import type { TimerClock } from './clock.js';

/**
 * The call was refused before it started (the dependency saw nothing): `queue_full` when `queueMax`
 * callers were already waiting, `queue_timeout` when it waited `queueTimeoutMs` without a slot.
 */
export class ConcurrencyLimitError extends Error {
  override readonly name = 'ConcurrencyLimitError';
  constructor(
    readonly key: string,
    readonly reason: 'queue_full' | 'queue_timeout',
    readonly limit: number,
  ) {
    super(`concurrency limit ${limit} for ${key}: ${reason === 'queue_full' ? 'queue full' : 'timed out waiting in queue'}`);
  }
}

export interface ConcurrencyLimitOptions {
  /** Calls running at once per key (>= 1). */
  limit: number;
  /** Callers waiting per key (>= 0; 0 refuses as soon as `limit` calls run). */
  queueMax: number;
  /** Longest wait in the queue (> 0); it does not count the call's own running time. */
  queueTimeoutMs: number;
  clock: TimerClock;
}

/** A key's numbers, for metrics. Idle keys are forgotten, so they do not appear. */
export interface ConcurrencyStats {
  key: string;
  inFlight: number;
  queued: number;
}

export interface ConcurrencyLimiter {
  /**
   * Runs `work` when `key` has a free slot, in arrival order; the slot is released when the work
   * settles, success or failure. Rejects with `ConcurrencyLimitError` when the queue is full or the
   * wait times out, and with `signal.reason` if `signal` aborts while waiting (the work never starts).
   * An abort after the work started is the work's own business.
   */
  run<T>(key: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  stats(): ConcurrencyStats[];
}

interface Waiter { grant: () => void }
interface KeyEntry { inFlight: number; queue: Waiter[] }

export function createConcurrencyLimiter(options: ConcurrencyLimitOptions): ConcurrencyLimiter {
  const { limit, queueMax, queueTimeoutMs, clock } = options;
  const ok = Number.isInteger(limit) && limit >= 1 && Number.isInteger(queueMax) && queueMax >= 0 && Number.isFinite(queueTimeoutMs) && queueTimeoutMs > 0;
  if (!ok) throw new Error('assertion failed: limit >= 1, queueMax >= 0, queueTimeoutMs > 0');
  // Entries exist only while a key has calls running or waiting, so memory follows the load.
  const entries = new Map<string, KeyEntry>();

  const forgetIfIdle = (key: string, entry: KeyEntry): void => {
    if (entry.inFlight === 0 && entry.queue.length === 0) entries.delete(key);
  };

  const releaseOnce = (key: string, entry: KeyEntry): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = entry.queue.shift();
      // Hand the slot straight to the head of the queue (inFlight unchanged), so a caller arriving
      // before the head's work starts cannot take it: FIFO.
      if (next) next.grant();
      else {
        entry.inFlight--;
        forgetIfIdle(key, entry);
      }
    };
  };

  const acquire = (key: string, signal: AbortSignal | undefined): Promise<() => void> => {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let entry = entries.get(key);
    if (!entry) {
      entry = { inFlight: 0, queue: [] };
      entries.set(key, entry);
    }
    if (entry.inFlight < limit && entry.queue.length === 0) {
      entry.inFlight++;
      return Promise.resolve(releaseOnce(key, entry));
    }
    if (entry.queue.length >= queueMax) return Promise.reject(new ConcurrencyLimitError(key, 'queue_full', limit));
    const queued = entry;
    return new Promise((resolve, reject) => {
      const leave = (): void => {
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        const index = queued.queue.indexOf(waiter);
        if (index >= 0) queued.queue.splice(index, 1);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(releaseOnce(key, queued));
        },
      };
      const onAbort = (): void => {
        leave();
        reject(signal?.reason);
      };
      const cancelTimer = clock.setTimer(() => {
        leave();
        reject(new ConcurrencyLimitError(key, 'queue_timeout', limit));
      }, queueTimeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      queued.queue.push(waiter);
    });
  };

  return {
    async run(key, work, signal) {
      const release = await acquire(key, signal);
      try {
        return await work();
      } finally {
        release();
      }
    },
    stats: () => [...entries.entries()].map(([key, entry]) => ({ key, inFlight: entry.inFlight, queued: entry.queue.length })),
  };
}
