import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defaultRetrySchedule as s, nextAfterFailure, shouldDisable } from './retry-schedule.js';

describe('webhook retry schedule', () => {
  it('the delay after attempt n is below min(4 h, 30 s * 2^(n-1)) and never past the deadline', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 63 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 0, max: 72 * 3_600_000 - 1 }),
      (n, r, elapsedMs) => {
        const deadline = 72 * 3_600_000;
        const step = nextAfterFailure(s, n, elapsedMs, deadline, r);
        if (step.kind !== 'retry') return false;
        const ceiling = Math.min(s.delayMsMax, s.baseDelayMs * 2 ** (n - 1));
        return step.atMs >= elapsedMs && step.atMs - elapsedMs <= ceiling && step.atMs <= deadline;
      }));
  });

  it('the worst case (every draw at the top) still makes its last attempt at 72 h, then gives up', () => {
    let now = 0;
    let attempts = 1;
    const deadline = s.retryWindowMs;
    for (;;) {
      const step = nextAfterFailure(s, attempts, now, deadline, 0.999_999);
      if (step.kind === 'give_up') { expect(step.why).toBe('deadline'); break; }
      now = step.atMs;
      attempts += 1;
    }
    expect(now).toBe(deadline);
    // 30 s .. 4 h doubling: 10 ramp steps (about 8.5 h), then 4 h apart: about 26 attempts.
    expect(attempts).toBeGreaterThan(20);
    expect(attempts).toBeLessThan(s.attemptsMax);
  });

  it('gives up at attemptsMax whatever the time left', () => {
    expect(nextAfterFailure(s, s.attemptsMax, 0, s.retryWindowMs, 0.5)).toEqual({ kind: 'give_up', why: 'attempts_exhausted' });
  });

  it('disables after 5 days failing, not before, never when not failing', () => {
    const day = 86_400_000;
    expect(shouldDisable(s, 0, 5 * day - 1)).toBe(false);
    expect(shouldDisable(s, 0, 5 * day)).toBe(true);
    expect(shouldDisable(s, null, 50 * day)).toBe(false);
  });
});
