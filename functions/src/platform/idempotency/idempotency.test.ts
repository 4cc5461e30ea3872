import { describe, expect, it } from 'vitest';
import { TallyError } from '../../domain/errors.js';
import type { StoredIdempotency } from '../../ports/idempotency-store.js';
import { decideReservation, waitWhileInProgress } from './idempotency.js';

const record = (overrides: Partial<StoredIdempotency>): StoredIdempotency => ({
  requestHash: 'h', state: 'in_progress', leaseToken: 't', leaseUntilMs: 1_000, response: null, ...overrides,
});

describe('decideReservation', () => {
  it('executes a new key, replays a completed one, refuses another request, waits for a live lease, takes over an expired one', () => {
    expect(decideReservation(undefined, 'h', 0)).toBe('execute');
    expect(decideReservation(record({ state: 'completed', response: new Uint8Array([1]) }), 'h', 5_000)).toBe('replay');
    expect(decideReservation(record({}), 'h', 999)).toBe('in_progress');
    expect(decideReservation(record({}), 'h', 1_000)).toBe('execute');
  });

  it('a different request under the key is refused whatever the record state', () => {
    for (const state of ['in_progress', 'completed'] as const) {
      for (const nowMs of [0, 10_000]) expect(decideReservation(record({ state }), 'other', nowMs)).toBe('mismatch');
    }
  });
});

describe('waitWhileInProgress', () => {
  it('reruns while the holder runs, then answers; gives up with IDEMPOTENCY_KEY_IN_PROGRESS at the deadline', async () => {
    let nowMs = 0;
    const clock = { nowMs: () => nowMs };
    const sleep = async (ms: number) => { nowMs += ms; };
    let calls = 0;
    expect(await waitWhileInProgress({ clock, waitMs: 1_000, sleep }, async () => (++calls < 4 ? 'in_progress' : 'done'))).toBe('done');
    expect(calls).toBe(4);

    calls = 0;
    const stuck = waitWhileInProgress({ clock, waitMs: 1_000, sleep }, async () => { calls++; return 'in_progress' as const; });
    await expect(stuck).rejects.toSatisfy((e) => e instanceof TallyError && e.reason === 'IDEMPOTENCY_KEY_IN_PROGRESS');
    // Bounded: one try per poll interval (50 ms) within the wait, plus the first.
    expect(calls).toBeLessThanOrEqual(1_000 / 50 + 1);
    expect(calls).toBeGreaterThan(1);
  });
});
