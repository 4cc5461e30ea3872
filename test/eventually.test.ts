/** The one waiting helper (test/support/eventually.ts): it must pass late and fail at its deadline. */
import { describe, expect, it } from 'vitest';
import { clockPast, eventually } from './support/eventually.js';

describe('eventually', () => {
  it('retries until the assertion passes and returns its value', async () => {
    let tries = 0;
    const value = await eventually(() => {
      tries++;
      expect(tries).toBeGreaterThanOrEqual(3);
      return 'ready';
    }, { timeoutMs: 5_000, intervalMs: 1 });
    expect({ value, tries }).toEqual({ value: 'ready', tries: 3 });
  });

  it('fails at the deadline with the assertion\'s own last error, never passing silently', async () => {
    let tries = 0;
    const failing = eventually(() => { tries++; expect(tries).toBe(-1); }, { timeoutMs: 50, intervalMs: 5 });
    await expect(failing).rejects.toThrow(/^still failing after 50 ms \(\d+ tries\): expected \d+ to be -1/);
    expect(tries).toBeGreaterThan(1);
  });

  it('refuses options without a bound', async () => {
    await expect(eventually(() => undefined, { timeoutMs: 0, intervalMs: 1 })).rejects.toThrow('0 < intervalMs <= timeoutMs');
    await expect(eventually(() => undefined, { timeoutMs: 10, intervalMs: 20 })).rejects.toThrow('0 < intervalMs <= timeoutMs');
  });

  it('clockPast waits for the instant and fails if it is beyond the deadline', async () => {
    const instantMs = Date.now() + 20;
    await clockPast(instantMs, { timeoutMs: 1_000, intervalMs: 5 });
    expect(Date.now()).toBeGreaterThan(instantMs);
    await expect(clockPast(Date.now() + 60_000, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(/the clock is not past/);
  });
});
