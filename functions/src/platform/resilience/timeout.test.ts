import { describe, expect, it } from 'vitest';
import { createFakeClock } from './fake-clock.js';
import { TimeoutError, withTimeout } from './timeout.js';

/** Work that finishes after `ms` on the clock unless its signal aborts first (then rejects with the reason). */
function workTaking(clock: ReturnType<typeof createFakeClock>, ms: number, seen: { signal?: AbortSignal }) {
  return (signal: AbortSignal) => {
    seen.signal = signal;
    return clock.sleep(ms, signal).then(() => 'done');
  };
}

describe('withTimeout', () => {
  it('returns the result when the work beats the deadline, and cancels its timer', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const seen: { signal?: AbortSignal } = {};
    const result = withTimeout(workTaking(clock, 99, seen), { timeoutMs: 100, clock });
    await clock.advance(99);
    expect(await result).toBe('done');
    expect(seen.signal?.aborted).toBe(false);
    expect(clock.pendingTimerCount()).toBe(0);
  });

  it('at exactly timeoutMs aborts the signal with a TimeoutError that says the work had started', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const seen: { signal?: AbortSignal } = {};
    const result = withTimeout(workTaking(clock, 500, seen), { timeoutMs: 100, clock }).catch((error: unknown) => error);
    await clock.advance(99);
    expect(seen.signal?.aborted).toBe(false);
    await clock.advance(1);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ name: 'TimeoutError', timeoutMs: 100, workStarted: true });
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBe(error);
  });

  it('does not wait for work that ignores its signal', async () => {
    const clock = createFakeClock({ startMs: 0 });
    let finishLate: (value: string) => void = () => {};
    const result = withTimeout(() => new Promise<string>((resolve) => { finishLate = resolve; }), { timeoutMs: 10, clock }).catch((error: unknown) => error);
    await clock.advance(10);
    expect(await result).toBeInstanceOf(TimeoutError);
    finishLate('too late'); // dropped, not an unhandled rejection or a second settle
  });

  it('passes the work\'s own rejection through, including a synchronous throw', async () => {
    const clock = createFakeClock({ startMs: 0 });
    await expect(withTimeout(async () => { throw new Error('declined'); }, { timeoutMs: 10, clock })).rejects.toThrow('declined');
    await expect(withTimeout(() => { throw new Error('sync'); }, { timeoutMs: 10, clock })).rejects.toThrow('sync');
    expect(clock.pendingTimerCount()).toBe(0);
  });

  it('follows the parent signal: aborts the work with the parent\'s reason, or never starts it', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const parent = new AbortController();
    const seen: { signal?: AbortSignal } = {};
    const result = withTimeout(workTaking(clock, 500, seen), { timeoutMs: 100, clock, parentSignal: parent.signal }).catch((error: unknown) => error);
    await clock.advance(10);
    parent.abort(new Error('request canceled'));
    expect(await result).toEqual(new Error('request canceled'));
    expect(seen.signal?.reason).toEqual(new Error('request canceled'));
    expect(clock.pendingTimerCount()).toBe(0);

    let started = false;
    await expect(withTimeout(async () => { started = true; }, { timeoutMs: 100, clock, parentSignal: parent.signal })).rejects.toThrow('request canceled');
    expect(started).toBe(false);
  });

  it('asserts a positive timeout', () => {
    const clock = createFakeClock({ startMs: 0 });
    expect(() => withTimeout(async () => 1, { timeoutMs: 0, clock })).toThrow('timeoutMs > 0');
  });
});
