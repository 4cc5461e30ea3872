import { describe, expect, it } from 'vitest';
import { backoffDelayMs, retryWithJitter } from './retry.js';

describe('retryWithJitter', () => {
  const base = { baseDelayMs: 10, delayMsMax: 100, retryable: () => true };

  it('retries up to the bound with capped, jittered delays, then throws the last error', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    await expect(retryWithJitter(async () => { calls++; throw new Error(`fail ${calls}`); }, {
      ...base, attemptsMax: 6, random: () => 0.999, sleep: async (ms) => { sleeps.push(ms); },
    })).rejects.toThrow('fail 6');
    expect(calls).toBe(6);
    expect(sleeps).toEqual([9, 19, 39, 79, 99]);
  });

  it('stops at once on a non-retryable error and returns the first success', async () => {
    let calls = 0;
    await expect(retryWithJitter(async () => { calls++; throw new Error('fatal'); }, { ...base, attemptsMax: 5, retryable: () => false, sleep: async () => {} })).rejects.toThrow('fatal');
    expect(calls).toBe(1);
    expect(await retryWithJitter(async (attempt) => { if (attempt < 2) throw new Error('x'); return attempt; }, { ...base, attemptsMax: 5, sleep: async () => {} })).toBe(2);
  });

  it('full jitter: delays are uniform in [0, ceiling)', () => {
    expect(backoffDelayMs(3, { ...base, random: () => 0 })).toBe(0);
    expect(backoffDelayMs(3, { ...base, random: () => 0.5 })).toBe(40);
    expect(backoffDelayMs(30, { ...base, random: () => 0.5 })).toBe(50);
  });
});
