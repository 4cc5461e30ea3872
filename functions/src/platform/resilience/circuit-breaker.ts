/**
 * A circuit breaker per key (one key per PSP): when a dependency's recent calls fail at or above a
 * rate, stop calling it for a while and fail fast, so a sick PSP costs callers milliseconds instead
 * of timeouts, and the routing layer can move on (or answer PSP_UNAVAILABLE) at once.
 *
 * States: `closed` (calls pass; outcomes feed a sliding window) -> `open` when, after a call is
 * recorded, the window holds >= `minimumCalls` calls and failures / calls >= `failureRateThreshold`
 * (rejects everything with `CircuitOpenError` until `retryAtMs` = opened + `openDurationMs`) ->
 * `half_open` once the clock reaches `retryAtMs` (admits up to `halfOpenProbesMax` concurrent calls)
 * -> the first probe outcome decides: success closes with an empty window, failure re-opens.
 *
 * What counts as a failure is the caller's to judge, and it must be the dependency's doing only:
 * one breaker per PSP is shared by every tenant, so a call refused before it was sent or a 4xx
 * about one request must not count (callers record `ignored` or `success`; for PSPs,
 * `pspCallVerdict` in domain/payments/psp-vocabulary.ts decides, ADR 0021).
 */
import type { Clock } from '../../ports/clock.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * The breaker refused the call without running it, so the dependency certainly saw nothing: safe
 * to route elsewhere. `retryAtMs` is the earliest time a call may be admitted: the end of the open
 * period, or, when half-open probes fill every slot (`state: 'half_open'`), the current time
 * (a slot frees as soon as a probe finishes).
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(
    readonly key: string,
    readonly state: 'open' | 'half_open',
    readonly retryAtMs: number,
  ) {
    super(`circuit ${key} is ${state}; retry at ${retryAtMs}`);
  }
}

export interface CircuitBreakerOptions {
  clock: Clock;
  /** Length of the sliding window of outcomes (> 0, a multiple of `windowBucketCount`). */
  windowMs: number;
  /**
   * The window is kept as this many fixed buckets of counts, so memory per key is constant however
   * many calls there are; it slides in steps of windowMs / windowBucketCount, and an outcome leaves
   * it between windowMs - step and windowMs after it was recorded.
   */
  windowBucketCount: number;
  /** Fewer calls than this in the window never open the circuit (>= 1): one failure is not a rate. */
  minimumCalls: number;
  /** Opens at or above this failure rate, in (0, 1]. */
  failureRateThreshold: number;
  /** How long the circuit stays open before probing (> 0). */
  openDurationMs: number;
  /** Concurrent calls admitted while half-open (>= 1). */
  halfOpenProbesMax: number;
  /**
   * Which errors thrown by `run`'s work count as failures: the dependency is unhealthy (timeouts,
   * 5xx, connection errors). Anything else (a card decline, a validation error) means it answered,
   * and counts as a success.
   */
  isFailure: (error: unknown) => boolean;
  /** Distinct keys this breaker may track; one more is a programmer error (keys are PSP names). */
  keysMax: number;
}

/** How an admitted call ended. `ignored` frees its slot without judging the dependency (e.g. the caller gave up). */
export type CallOutcome = 'success' | 'failure' | 'ignored';

/** One admitted call. `record` must be called exactly once, whatever happens. */
export interface CircuitPermit {
  record(outcome: CallOutcome): void;
}

/** A key's numbers, for metrics. */
export interface CircuitStats {
  key: string;
  state: CircuitState;
  callsInWindow: number;
  failuresInWindow: number;
  /** failuresInWindow / callsInWindow, 0 without calls. */
  failureRate: number;
  /** Admitted calls not yet recorded (from any state). */
  inFlight: number;
  /** End of the open period while `open`; otherwise null. */
  retryAtMs: number | null;
  /** Times the circuit opened, since the breaker was created. */
  openedTotal: number;
  /** Calls refused with CircuitOpenError, since the breaker was created. */
  rejectedTotal: number;
}

export interface CircuitBreaker {
  /**
   * Runs `work` if `key`'s circuit admits it, recording the outcome (a thrown error is a failure
   * iff `isFailure`); rejects with `CircuitOpenError` without running it otherwise.
   */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /**
   * The lower-level form of `run`, for work that reports health in its result rather than by
   * throwing (a PSP outcome of `retryable` or `unknown`): throws `CircuitOpenError` or returns a permit.
   */
  acquire(key: string): CircuitPermit;
  state(key: string): CircuitState;
  stats(): CircuitStats[];
}

interface KeyEntry {
  state: CircuitState;
  /** Bumped on every transition; outcomes of calls admitted under an older generation are not judged. */
  generation: number;
  retryAtMs: number;
  inFlight: number;
  /** Ring of buckets: which bucket index (nowMs / bucketMs) a slot holds, and its counts. */
  bucketIndexes: number[];
  bucketCalls: number[];
  bucketFailures: number[];
  openedTotal: number;
  rejectedTotal: number;
}

function assertOptions(o: CircuitBreakerOptions): void {
  const ok =
    Number.isInteger(o.windowMs) && o.windowMs > 0 &&
    Number.isInteger(o.windowBucketCount) && o.windowBucketCount >= 1 && o.windowMs % o.windowBucketCount === 0 &&
    Number.isInteger(o.minimumCalls) && o.minimumCalls >= 1 &&
    o.failureRateThreshold > 0 && o.failureRateThreshold <= 1 &&
    o.openDurationMs > 0 && Number.isFinite(o.openDurationMs) &&
    Number.isInteger(o.halfOpenProbesMax) && o.halfOpenProbesMax >= 1 &&
    Number.isInteger(o.keysMax) && o.keysMax >= 1;
  if (!ok) throw new Error('assertion failed: circuit breaker options out of range (see CircuitBreakerOptions)');
}

async function runWithPermit<T>(permit: CircuitPermit, work: () => Promise<T>, isFailure: (error: unknown) => boolean): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    let failed = true;
    try {
      failed = isFailure(error);
    } finally {
      // Recorded even if isFailure itself throws: an unrecorded permit would hold a half-open slot forever.
      permit.record(failed ? 'failure' : 'success');
    }
    throw error;
  }
  permit.record('success');
  return result;
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  assertOptions(options);
  const bucketCount = options.windowBucketCount;
  const bucketMs = options.windowMs / bucketCount;
  const entries = new Map<string, KeyEntry>();

  const entryFor = (key: string): KeyEntry => {
    const existing = entries.get(key);
    if (existing) return existing;
    if (entries.size >= options.keysMax) throw new Error(`assertion failed: circuit breaker keysMax (${options.keysMax}) exceeded by ${key}`);
    const entry: KeyEntry = {
      state: 'closed', generation: 0, retryAtMs: 0, inFlight: 0,
      bucketIndexes: new Array<number>(bucketCount).fill(Number.NEGATIVE_INFINITY),
      bucketCalls: new Array<number>(bucketCount).fill(0),
      bucketFailures: new Array<number>(bucketCount).fill(0),
      openedTotal: 0, rejectedTotal: 0,
    };
    entries.set(key, entry);
    return entry;
  };

  // The open -> half_open transition is driven by reading the clock, not by a timer: nothing to cancel.
  const refresh = (entry: KeyEntry, nowMs: number): void => {
    if (entry.state === 'open' && nowMs >= entry.retryAtMs) transition(entry, 'half_open');
  };

  const transition = (entry: KeyEntry, state: CircuitState): void => {
    entry.state = state;
    entry.generation++;
  };

  const open = (entry: KeyEntry, nowMs: number): void => {
    transition(entry, 'open');
    entry.retryAtMs = nowMs + options.openDurationMs;
    entry.openedTotal++;
  };

  const close = (entry: KeyEntry): void => {
    transition(entry, 'closed');
    entry.bucketIndexes.fill(Number.NEGATIVE_INFINITY);
  };

  const windowTotals = (entry: KeyEntry, nowMs: number): { calls: number; failures: number } => {
    const currentIndex = Math.floor(nowMs / bucketMs);
    let calls = 0;
    let failures = 0;
    for (let slot = 0; slot < bucketCount; slot++) {
      const index = entry.bucketIndexes[slot]!;
      if (index <= currentIndex - bucketCount || index > currentIndex) continue;
      calls += entry.bucketCalls[slot]!;
      failures += entry.bucketFailures[slot]!;
    }
    return { calls, failures };
  };

  const recordInWindow = (entry: KeyEntry, failed: boolean, nowMs: number): void => {
    const index = Math.floor(nowMs / bucketMs);
    const slot = ((index % bucketCount) + bucketCount) % bucketCount;
    if (entry.bucketIndexes[slot] !== index) {
      entry.bucketIndexes[slot] = index;
      entry.bucketCalls[slot] = 0;
      entry.bucketFailures[slot] = 0;
    }
    entry.bucketCalls[slot]!++;
    if (failed) entry.bucketFailures[slot]!++;
    const { calls, failures } = windowTotals(entry, nowMs);
    // Division, not failures >= threshold * calls: a/b rounds to the same double as the literal
    // threshold when they are equal (0.3 * 10 does not equal 3 in floating point, 3 / 10 equals 0.3).
    if (calls >= options.minimumCalls && failures / calls >= options.failureRateThreshold) open(entry, nowMs);
  };

  const judge = (entry: KeyEntry, outcome: 'success' | 'failure'): void => {
    const nowMs = options.clock.nowMs();
    if (entry.state === 'half_open') {
      if (outcome === 'success') close(entry);
      else open(entry, nowMs);
      return;
    }
    recordInWindow(entry, outcome === 'failure', nowMs);
  };

  const breaker: CircuitBreaker = {
    acquire(key) {
      const entry = entryFor(key);
      const nowMs = options.clock.nowMs();
      refresh(entry, nowMs);
      if (entry.state === 'open') {
        entry.rejectedTotal++;
        throw new CircuitOpenError(key, 'open', entry.retryAtMs);
      }
      // Every unrecorded call counts, not only this episode's probes: a half-open dependency sees
      // at most halfOpenProbesMax calls, stragglers from before it opened included.
      if (entry.state === 'half_open' && entry.inFlight >= options.halfOpenProbesMax) {
        entry.rejectedTotal++;
        throw new CircuitOpenError(key, 'half_open', nowMs);
      }
      entry.inFlight++;
      const generation = entry.generation;
      let recorded = false;
      return {
        record(outcome) {
          if (recorded) throw new Error('assertion failed: a circuit permit is recorded once');
          recorded = true;
          entry.inFlight--;
          if (outcome === 'ignored' || generation !== entry.generation) return;
          judge(entry, outcome);
        },
      };
    },
    // async, so a CircuitOpenError from acquire rejects the promise rather than throwing at the call.
    async run(key, work) {
      return runWithPermit(breaker.acquire(key), work, options.isFailure);
    },
    state(key) {
      const entry = entries.get(key);
      if (!entry) return 'closed';
      refresh(entry, options.clock.nowMs());
      return entry.state;
    },
    stats() {
      const nowMs = options.clock.nowMs();
      return [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, entry]) => {
        refresh(entry, nowMs);
        const { calls, failures } = windowTotals(entry, nowMs);
        return {
          key, state: entry.state, callsInWindow: calls, failuresInWindow: failures,
          failureRate: calls === 0 ? 0 : failures / calls, inFlight: entry.inFlight,
          retryAtMs: entry.state === 'open' ? entry.retryAtMs : null,
          openedTotal: entry.openedTotal, rejectedTotal: entry.rejectedTotal,
        };
      });
    },
  };
  return breaker;
}
