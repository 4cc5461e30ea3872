/**
 * A controllable `TimerClock` for tests: time stands still until `advance(ms)` moves it, running each
 * due timer in (due time, scheduling order) and letting promise chains settle between timers, so
 * code that awaits a sleep and then schedules the next one behaves as it would on real time.
 */
import { sleepOnTimers, type TimerClock } from './clock.js';

export interface FakeClock extends TimerClock {
  /**
   * Moves time forward by `ms` (>= 0). Timers due on the way run in order, the clock reading their
   * due time while each runs; pending promise callbacks are flushed before the first timer, between
   * timers and at the end. Timers scheduled by a timer run too if they fall due within the advance.
   */
  advance(ms: number): Promise<void>;
  /** Timers scheduled and neither run nor cancelled. */
  pendingTimerCount(): number;
}

export interface FakeClockOptions {
  /** What `nowMs()` reads before any advance. */
  startMs: number;
  /**
   * Timers one `advance` may run before it throws: catches a timer that keeps re-arming itself at
   * 0 ms, which would otherwise spin forever. Documented default: 10,000.
   */
  timersPerAdvanceMax?: number;
}

interface FakeTimer { seq: number; dueMs: number; fn: () => void }

/** Resolves after every promise callback queued so far (and any they queue) has run. */
function flushMicrotasks(): Promise<void> {
  // setImmediate runs after the microtask queue drains, however long its chains are.
  return new Promise((resolve) => setImmediate(resolve));
}

export function createFakeClock(options: FakeClockOptions): FakeClock {
  const timersPerAdvanceMax = options.timersPerAdvanceMax ?? 10_000;
  let nowMs = options.startMs;
  let seq = 0;
  const timers = new Map<number, FakeTimer>();

  const earliestDueBy = (limitMs: number): FakeTimer | undefined => {
    let best: FakeTimer | undefined;
    for (const timer of timers.values()) {
      if (timer.dueMs > limitMs) continue;
      if (!best || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.seq < best.seq)) best = timer;
    }
    return best;
  };

  const clock: FakeClock = {
    nowMs: () => nowMs,
    sleep: (ms, signal) => sleepOnTimers(clock.setTimer, ms, signal),
    setTimer(fn, ms) {
      const timer = { seq: seq++, dueMs: nowMs + Math.max(0, ms), fn };
      timers.set(timer.seq, timer);
      return () => {
        timers.delete(timer.seq);
      };
    },
    async advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`assertion failed: advance(ms) needs a finite ms >= 0, got ${ms}`);
      const targetMs = nowMs + ms;
      await flushMicrotasks();
      for (let ran = 0; ; ran++) {
        const timer = earliestDueBy(targetMs);
        if (!timer) break;
        if (ran >= timersPerAdvanceMax) throw new Error(`assertion failed: more than ${timersPerAdvanceMax} timers in one advance`);
        timers.delete(timer.seq);
        nowMs = timer.dueMs;
        timer.fn();
        await flushMicrotasks();
      }
      nowMs = targetMs;
      await flushMicrotasks();
    },
    pendingTimerCount: () => timers.size,
  };
  return clock;
}
