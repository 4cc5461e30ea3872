import { describe, expect, it } from 'vitest';
import { systemTimers } from './clock.js';
import { createFakeClock } from './fake-clock.js';

describe('createFakeClock', () => {
  it('runs due timers in due-time then scheduling order, reading each one\'s due time', async () => {
    const clock = createFakeClock({ startMs: 100 });
    const ran: string[] = [];
    clock.setTimer(() => ran.push(`b@${clock.nowMs()}`), 20);
    clock.setTimer(() => ran.push(`a@${clock.nowMs()}`), 10);
    clock.setTimer(() => ran.push(`c@${clock.nowMs()}`), 20);
    clock.setTimer(() => ran.push('late'), 31);
    await clock.advance(30);
    expect(ran).toEqual(['a@110', 'b@120', 'c@120']);
    expect(clock.nowMs()).toBe(130);
    expect(clock.pendingTimerCount()).toBe(1);
  });

  it('flushes promise chains between timers, so a sleep loop advances step by step', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const woke: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        await Promise.resolve();
        woke.push(clock.nowMs());
      }
    })();
    await clock.advance(25);
    expect(woke).toEqual([10, 20]);
    await clock.advance(5);
    expect(woke).toEqual([10, 20, 30]);
  });

  it('cancels timers and aborted sleeps', async () => {
    const clock = createFakeClock({ startMs: 0 });
    let ran = false;
    const cancel = clock.setTimer(() => { ran = true; }, 5);
    cancel();
    const controller = new AbortController();
    const sleeping = clock.sleep(10, controller.signal).catch((error: unknown) => error);
    controller.abort(new Error('stop'));
    expect(await sleeping).toEqual(new Error('stop'));
    await clock.advance(20);
    expect(ran).toBe(false);
    expect(clock.pendingTimerCount()).toBe(0);
    await expect(clock.sleep(1, controller.signal)).rejects.toThrow('stop');
  });

  it('bounds timers per advance, catching a timer that re-arms itself forever', async () => {
    const clock = createFakeClock({ startMs: 0, timersPerAdvanceMax: 50 });
    const rearm = (): void => { clock.setTimer(rearm, 0); };
    rearm();
    await expect(clock.advance(1)).rejects.toThrow('more than 50 timers');
  });
});

describe('systemTimers', () => {
  it('sleeps on real time and refuses delays Node would silently truncate', async () => {
    const startMs = systemTimers.nowMs();
    await systemTimers.sleep(5);
    expect(systemTimers.nowMs() - startMs).toBeGreaterThanOrEqual(4);
    expect(() => systemTimers.setTimer(() => {}, 2 ** 31)).toThrow('exceeds');
    const controller = new AbortController();
    const sleeping = systemTimers.sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
  });
});
