import { describe, expect, it } from 'vitest';
import { applyFaultsPatch, createSeededRandom, decideApiFault, noFaults } from './faults.js';
import { IdempotencyCache } from './idempotency.js';

const none = { stripe: { ...noFaults }, adyen: { ...noFaults } };

describe('sandbox faults', () => {
  it('replays the same decisions from the same seed', () => {
    const faults = { ...noFaults, serverErrorBeforeRate: 0.2, serverErrorAfterRate: 0.2, timeoutRate: 0.2 };
    const draw = (seed: number): string[] => {
      const random = createSeededRandom(seed);
      return Array.from({ length: 50 }, () => decideApiFault(faults, random));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(new Set(draw(7))).toEqual(new Set(['none', 'error_before', 'error_after', 'timeout']));
  });

  it('validates patches and keeps what they leave out', () => {
    const { faults, seed } = applyFaultsPatch(none, { seed: 3, adyen: { webhookHold: true, latencyMs: 5 } });
    expect(seed).toBe(3);
    expect(faults.adyen).toMatchObject({ webhookHold: true, latencyMs: 5, timeoutRate: 0 });
    expect(faults.stripe).toEqual(noFaults);
    // Each refusal names the field and why (a bare toThrow() would pass for any crash).
    const refusals: Array<[unknown, string]> = [
      [null, 'faults: expected an object'],
      [[], 'faults: expected an object'],
      [{ stripe: { timeoutRate: -1 } }, 'faults.stripe.timeoutRate: expected a probability in [0, 1]'],
      [{ stripe: { latencyMs: 1.5 } }, 'faults.stripe.latencyMs: expected an integer in [0, 60000]'],
      [{ stripe: { nope: 1 } }, 'faults.stripe.nope: unknown fault'],
      [{ seed: 'x' }, 'faults.seed: expected an integer'],
      [{ stripe: { webhookReorderWindow: 101 } }, 'faults.stripe.webhookReorderWindow: expected an integer in [0, 100]'],
    ];
    for (const [bad, message] of refusals) {
      expect(() => applyFaultsPatch(none, bad)).toThrow(expect.objectContaining({ name: 'SandboxInputError', message }));
    }
  });
});

describe('sandbox idempotency cache', () => {
  it('replays, refuses mismatches and in-progress keys, forgets abandoned ones, and stays bounded', () => {
    const cache = new IdempotencyCache(2);
    expect(cache.begin('k', 'a')).toEqual({ kind: 'new' });
    expect(cache.begin('k', 'a')).toEqual({ kind: 'in_progress' });
    cache.complete('k', { status: 200, headers: {}, body: '{}' });
    expect(cache.begin('k', 'a')).toMatchObject({ kind: 'replay' });
    expect(cache.begin('k', 'b')).toEqual({ kind: 'mismatch' });
    expect(cache.begin('j', 'a')).toEqual({ kind: 'new' });
    cache.abandon('j');
    expect(cache.begin('j', 'a')).toEqual({ kind: 'new' });
    cache.begin('i', 'a');
    expect(cache.begin('k', 'a')).toEqual({ kind: 'new' });
  });
});
