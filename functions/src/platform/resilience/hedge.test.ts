import { describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from './fake-clock.js';
import { hedge } from './hedge.js';

interface Attempt { attempt: number; startedAtMs: number; signal: AbortSignal }

/** Work whose attempt `n` takes `durationsMs[n]` and then resolves (or rejects, for a negative duration). */
function scripted(clock: FakeClock, durationsMs: number[], started: Attempt[]) {
  return async (signal: AbortSignal, attempt: number) => {
    started.push({ attempt, startedAtMs: clock.nowMs(), signal });
    const durationMs = durationsMs[attempt]!;
    await clock.sleep(Math.abs(durationMs), signal);
    if (durationMs < 0) throw new Error(`attempt ${attempt} failed`);
    return `answer ${attempt}`;
  };
}

function capture<T>(promise: Promise<T>): { outcome: { value?: T; error?: unknown } | null } {
  const box: { outcome: { value?: T; error?: unknown } | null } = { outcome: null };
  promise.then((value) => { box.outcome = { value }; }, (error: unknown) => { box.outcome = { error }; });
  return box;
}

describe('hedge', () => {
  it('a fast first attempt never starts a second', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    const result = capture(hedge(scripted(clock, [50, 10], started), { hedgeDelayMs: 100, attemptsMax: 2, clock }));
    await clock.advance(200);
    expect(result.outcome).toEqual({ value: 'answer 0' });
    expect(started.map((a) => a.attempt)).toEqual([0]);
    expect(clock.pendingTimerCount()).toBe(0);
  });

  it('starts the hedge after hedgeDelayMs; the first success wins and the loser is aborted', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    const result = capture(hedge(scripted(clock, [1_000, 30], started), { hedgeDelayMs: 100, attemptsMax: 2, clock }));
    await clock.advance(99);
    expect(started).toHaveLength(1);
    await clock.advance(1);
    expect(started.map((a) => [a.attempt, a.startedAtMs])).toEqual([[0, 0], [1, 100]]);
    await clock.advance(30);
    expect(result.outcome).toEqual({ value: 'answer 1' });
    expect(started[0]!.signal.aborted).toBe(true);
    expect((started[0]!.signal.reason as DOMException).name).toBe('AbortError');
    expect(started[1]!.signal.aborted).toBe(false); // the winner's signal stays usable (e.g. a streaming body)
    expect(clock.pendingTimerCount()).toBe(0); // the loser's sleep was cancelled by its abort
  });

  it('never has more than attemptsMax in flight', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    const result = capture(hedge(scripted(clock, [1_000, 1_000, 1_000, 10], started), { hedgeDelayMs: 100, attemptsMax: 3, clock }));
    await clock.advance(900);
    expect(started.map((a) => a.startedAtMs)).toEqual([0, 100, 200]);
    await clock.advance(100);
    expect(result.outcome).toEqual({ value: 'answer 0' });
    expect(started.map((a) => a.signal.aborted)).toEqual([false, true, true]);
  });

  it('a failed attempt starts the next at once; when all fail, rejects with the last to fail', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    // Attempt 0 fails at 20 -> attempt 1 starts at 20 (not 100) and fails at 320; attempt 2 starts at 120, fails at 170.
    const result = capture(hedge(scripted(clock, [-20, -300, -50], started), { hedgeDelayMs: 100, attemptsMax: 3, clock }));
    await clock.advance(200);
    expect(started.map((a) => [a.attempt, a.startedAtMs])).toEqual([[0, 0], [1, 20], [2, 120]]);
    expect(result.outcome).toBeNull(); // attempt 1 still running: it may yet succeed
    await clock.advance(120);
    expect(result.outcome).toEqual({ error: new Error('attempt 1 failed') });
  });

  it('a failure does not cancel a slower attempt that then succeeds', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    const result = capture(hedge(scripted(clock, [500, -10], started), { hedgeDelayMs: 100, attemptsMax: 2, clock }));
    await clock.advance(500);
    expect(result.outcome).toEqual({ value: 'answer 0' });
  });

  it('the parent signal aborts every attempt and rejects with its reason', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const started: Attempt[] = [];
    const parent = new AbortController();
    const result = capture(hedge(scripted(clock, [1_000, 1_000], started), { hedgeDelayMs: 100, attemptsMax: 3, clock, parentSignal: parent.signal }));
    await clock.advance(150);
    parent.abort(new Error('client went away'));
    await clock.advance(0);
    expect(result.outcome).toEqual({ error: new Error('client went away') });
    expect(started.map((a) => a.signal.aborted)).toEqual([true, true]);
    expect(clock.pendingTimerCount()).toBe(0);
  });

  it('asserts attemptsMax in 1..3', () => {
    const clock = createFakeClock({ startMs: 0 });
    expect(() => hedge(async () => 1, { hedgeDelayMs: 10, attemptsMax: 4, clock })).toThrow('1..3');
    expect(() => hedge(async () => 1, { hedgeDelayMs: 10, attemptsMax: 0, clock })).toThrow('1..3');
  });
});
