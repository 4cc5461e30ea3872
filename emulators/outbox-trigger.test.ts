import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextPollDelayMs } from './outbox-trigger.js';

describe('nextPollDelayMs (the local outbox poller\'s duty cycle, ADR 0024)', () => {
  it('keeps polling at most dutyMax of the time whatever a poll costs, and never polls faster than the interval', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 600_000 }), fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (pollMs, intervalMs, duty) => {
      const delayMs = nextPollDelayMs(pollMs, intervalMs, duty);
      expect(delayMs).toBeGreaterThanOrEqual(intervalMs);
      expect(pollMs / (pollMs + delayMs)).toBeLessThanOrEqual(duty + 1e-9);
    }));
    // A 500 ms scan (10,000 documents on the emulator) at the default 10%: the next poll 4.5 s later.
    expect(nextPollDelayMs(500, 200, 0.1)).toBe(4_500);
    expect(nextPollDelayMs(10, 200, 0.1)).toBe(200);
  });

  it('refuses a duty cycle outside (0, 1]', () => {
    expect(() => nextPollDelayMs(1, 200, 0)).toThrow(/pollDutyMax/);
    expect(() => nextPollDelayMs(1, 200, 1.5)).toThrow(/pollDutyMax/);
  });
});
