import { describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from './fake-clock.js';
import { backoffDelayMs, retryWithJitter, type RetryOptions } from './retry.js';

/** A fake clock that also records every sleep it is asked for. */
function recordingClock(): FakeClock & { sleeps: number[] } {
  const clock = createFakeClock({ startMs: 1_000 });
  const sleeps: number[] = [];
  return { ...clock, sleeps, sleep: (ms, signal) => { sleeps.push(ms); return clock.sleep(ms, signal); } };
}

/** Runs `promise` to completion by advancing the clock in small steps (bounded). */
async function settle<T>(clock: FakeClock, promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then((value) => { outcome = { value }; }, (error: unknown) => { outcome = { error }; });
  for (let step = 0; step < 1_000 && !outcome; step++) await clock.advance(10);
  if (!outcome) throw new Error('did not settle within 10 s of fake time');
  return outcome;
}

const failing = (calls: { n: number }) => async () => { calls.n++; throw new Error(`fail ${calls.n}`); };

describe('retryWithJitter', () => {
  const base = { baseDelayMs: 10, delayMsMax: 100, retryable: () => true } satisfies Partial<RetryOptions>;

  it('retries up to the bound with capped, jittered delays, then throws the last error', async () => {
    const clock = recordingClock();
    const calls = { n: 0 };
    const { error } = await settle(clock, retryWithJitter(failing(calls), { ...base, attemptsMax: 6, clock, random: () => 0.999 }));
    expect(error).toEqual(new Error('fail 6'));
    expect(calls.n).toBe(6);
    expect(clock.sleeps).toEqual([9, 19, 39, 79, 99]);
  });

  it('stops at once on a non-retryable error and returns the first success', async () => {
    const clock = recordingClock();
    const calls = { n: 0 };
    expect((await settle(clock, retryWithJitter(failing(calls), { ...base, attemptsMax: 5, clock, retryable: () => false }))).error).toEqual(new Error('fail 1'));
    expect(calls.n).toBe(1);
    const { value } = await settle(clock, retryWithJitter(async (attempt) => { if (attempt < 2) throw new Error('x'); return attempt; }, { ...base, attemptsMax: 5, clock }));
    expect(value).toBe(2);
  });

  it('full jitter: delays are uniform in [0, ceiling)', () => {
    expect(backoffDelayMs(3, { ...base, random: () => 0 })).toBe(0);
    expect(backoffDelayMs(3, { ...base, random: () => 0.5 })).toBe(40);
    expect(backoffDelayMs(30, { ...base, random: () => 0.5 })).toBe(50);
  });

  it('never sleeps past the deadline: stops when the next attempt could not start strictly before it', async () => {
    // random 0.999 with base 10: sleeps 9, 19, 39, 79 ... Deadline 1000 + 67: 0+9=9, 9+19=28, 28+39=67.
    const clock = recordingClock();
    const calls = { n: 0 };
    const startedAtMs: number[] = [];
    const work = async (_attempt: number, context: { deadlineAtMs: number | null }) => {
      startedAtMs.push(clock.nowMs());
      expect(context.deadlineAtMs).toBe(1_067);
      return failing(calls)();
    };
    const { error } = await settle(clock, retryWithJitter(work, { ...base, attemptsMax: 10, clock, random: () => 0.999, deadlineMs: 67 }));
    // The third sleep would end exactly at the deadline: not before it, so no sleep and no attempt.
    expect(clock.sleeps).toEqual([9, 19]);
    expect(startedAtMs).toEqual([1_000, 1_009, 1_028]);
    expect(error).toEqual(new Error('fail 3'));

    // One ms more of budget and the attempt at 1_067 may start.
    const roomy = recordingClock();
    const roomyCalls = { n: 0 };
    await settle(roomy, retryWithJitter(failing(roomyCalls), { ...base, attemptsMax: 10, clock: roomy, random: () => 0.999, deadlineMs: 68 }));
    expect(roomy.sleeps).toEqual([9, 19, 39]);
    expect(roomyCalls.n).toBe(4);
  });

  it('counts the attempts\' own time against the deadline', async () => {
    const clock = recordingClock();
    const calls = { n: 0 };
    const slow = async () => { await clock.sleep(50); return failing(calls)(); };
    const { error } = await settle(clock, retryWithJitter(slow, { ...base, attemptsMax: 10, clock, random: () => 0, deadlineMs: 120 }));
    // 0 ms jitter: attempts start at +0, +50 and +100 (< +120); the third ends at +150, past the deadline.
    expect(calls.n).toBe(3);
    expect(error).toEqual(new Error('fail 3'));
    expect(clock.sleeps.filter((ms) => ms !== 50)).toEqual([0, 0]);
  });

  it('honours Retry-After as a floor on the jitter, capped by delayMsMax', async () => {
    const hinted = (hintMs: number | undefined) => {
      const clock = recordingClock();
      const calls = { n: 0 };
      return settle(clock, retryWithJitter(failing(calls), { ...base, attemptsMax: 2, clock, random: () => 0.5, retryAfterMs: () => hintMs })).then(() => clock.sleeps);
    };
    expect(await hinted(undefined)).toEqual([5]); // jitter only: 0.5 * 10
    expect(await hinted(70)).toEqual([70]); // the server asked for more than the jitter
    expect(await hinted(2)).toEqual([5]); // the jitter already waits longer
    expect(await hinted(100)).toEqual([100]); // exactly the cap
    expect(await hinted(5_000)).toEqual([100]); // capped
    expect(await hinted(-1)).toEqual([5]); // nonsense hints are ignored
    expect(await hinted(Number.NaN)).toEqual([5]);
  });

  it('a Retry-After beyond the deadline stops the retries instead of sleeping', async () => {
    const clock = recordingClock();
    const calls = { n: 0 };
    const { error } = await settle(clock, retryWithJitter(failing(calls), { ...base, attemptsMax: 5, clock, random: () => 0, retryAfterMs: () => 80, deadlineMs: 80 }));
    expect(error).toEqual(new Error('fail 1'));
    expect(clock.sleeps).toEqual([]);
  });

  it('an aborted signal cancels the sleep in progress with its reason', async () => {
    const clock = recordingClock();
    const controller = new AbortController();
    const calls = { n: 0 };
    const pending = retryWithJitter(failing(calls), { ...base, attemptsMax: 5, clock, random: () => 0.999, signal: controller.signal });
    const outcome = pending.catch((error: unknown) => error);
    await clock.advance(5);
    expect(clock.sleeps).toEqual([9]);
    controller.abort(new Error('client went away'));
    expect(await outcome).toEqual(new Error('client went away'));
    expect(calls.n).toBe(1);
    expect(clock.pendingTimerCount()).toBe(0);
  });

  it('asserts its bounds', async () => {
    await expect(retryWithJitter(async () => 1, { ...base, attemptsMax: 0 })).rejects.toThrow('attemptsMax');
    await expect(retryWithJitter(async () => 1, { ...base, attemptsMax: 1, deadlineMs: 0 })).rejects.toThrow('deadlineMs');
  });
});
