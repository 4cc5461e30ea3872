/**
 * The resilience kit: bounded building blocks for calling PSPs. Every piece takes its clock and
 * every bound explicitly, does no I/O beyond timers, and fails with a typed error saying what the
 * caller should do. A typical PSP call composes them outside-in, the limiter outermost so its own
 * back-pressure never counts against the PSP's health in the breaker:
 *
 *   limiter.run(psp, () => breaker.run(psp, () => withTimeout((signal) => gateway.authorize({ ..., signal }), { timeoutMs, clock })))
 *
 * `CircuitOpenError` and `ConcurrencyLimitError` mean the PSP saw nothing (safe to route
 * elsewhere); a `TimeoutError` with `workStarted` means the outcome is unknown (never re-route;
 * ask the PSP).
 */

/** The time source the kit runs on (`nowMs`, abortable `sleep`, cancellable `setTimer`), and the real one. */
export { systemTimers, type TimerClock } from './clock.js';

/** A fake `TimerClock` for tests: time moves only on `advance(ms)`, running due timers in order. */
export { createFakeClock, type FakeClock, type FakeClockOptions } from './fake-clock.js';

/** `withTimeout`: aborts the work's signal after `timeoutMs` and rejects with `TimeoutError`. */
export { TimeoutError, withTimeout, type TimeoutOptions } from './timeout.js';

/** `retryWithJitter`: capped exponential backoff with full jitter, Retry-After hints and a total deadline. */
export { backoffDelayMs, retryWithJitter, type RetryAttemptContext, type RetryOptions } from './retry.js';

/** `createCircuitBreaker`: a per-key breaker over a bucketed failure-rate window, with half-open probes. */
export {
  CircuitOpenError,
  createCircuitBreaker,
  type CallOutcome,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitState,
  type CircuitStats,
} from './circuit-breaker.js';

/** `hedge`: parallel attempts of an idempotent read, staggered by `hedgeDelayMs`; the first success wins. */
export { hedge, hedgeAttemptsMaxLimit, type HedgeOptions } from './hedge.js';

/** `createConcurrencyLimiter`: per-key FIFO limit with a bounded, timed queue. */
export {
  ConcurrencyLimitError,
  createConcurrencyLimiter,
  type ConcurrencyLimiter,
  type ConcurrencyLimitOptions,
  type ConcurrencyStats,
} from './concurrency-limit.js';
