import { describe, expect, it } from 'vitest';
import { ConcurrencyLimitError, createConcurrencyLimiter, type ConcurrencyLimitOptions } from './concurrency-limit.js';
import { createFakeClock } from './fake-clock.js';

function setup(overrides: Partial<ConcurrencyLimitOptions> = {}) {
  const clock = createFakeClock({ startMs: 0 });
  const limiter = createConcurrencyLimiter({ limit: 2, queueMax: 3, queueTimeoutMs: 1_000, clock, ...overrides });
  const order: string[] = [];
  /** Starts a call that records when it starts and then takes `ms` (failing if `fails`). */
  const call = (name: string, ms: number, options: { key?: string; fails?: boolean; signal?: AbortSignal } = {}) => {
    const result = limiter.run(options.key ?? 'stripe', async () => {
      order.push(`${name}@${clock.nowMs()}`);
      await clock.sleep(ms);
      if (options.fails) throw new Error(`${name} failed`);
      return name;
    }, options.signal);
    return result.then((value): { value?: string; error?: unknown } => ({ value }), (error: unknown) => ({ error }));
  };
  return { clock, limiter, order, call };
}

describe('createConcurrencyLimiter', () => {
  it('runs at most `limit` at once and starts the waiters in FIFO order', async () => {
    const { clock, order, call, limiter } = setup();
    const calls = [call('a', 100), call('b', 300), call('c', 50), call('d', 50), call('e', 50)];
    await clock.advance(0);
    expect(order).toEqual(['a@0', 'b@0']);
    expect(limiter.stats()).toEqual([{ key: 'stripe', inFlight: 2, queued: 3 }]);
    await clock.advance(300);
    // a ends at 100 -> c; c ends at 150 -> d; d ends at 200 -> e; b ends at 300.
    expect(order).toEqual(['a@0', 'b@0', 'c@100', 'd@150', 'e@200']);
    expect(await Promise.all(calls)).toEqual(['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })));
    expect(limiter.stats()).toEqual([]); // idle keys are forgotten
  });

  it('a newcomer does not overtake the queue when a slot frees', async () => {
    const { clock, order, call } = setup({ limit: 1 });
    // c arrives the moment a's call settles, i.e. after a released its slot but before b's work starts.
    void call('a', 100).then(() => call('c', 100));
    void call('b', 100);
    await clock.advance(100);
    expect(order).toEqual(['a@0', 'b@100']);
    await clock.advance(100);
    expect(order).toEqual(['a@0', 'b@100', 'c@200']);
  });

  it('releases on failure as well as success', async () => {
    const { clock, order, call } = setup({ limit: 1 });
    const failed = call('a', 10, { fails: true });
    const next = call('b', 10);
    await clock.advance(20);
    expect(await failed).toEqual({ error: new Error('a failed') });
    expect(await next).toEqual({ value: 'b' });
    expect(order).toEqual(['a@0', 'b@10']);
  });

  it('refuses at once when the queue is full', async () => {
    const { clock, call } = setup({ limit: 1, queueMax: 1 });
    void call('a', 100);
    void call('b', 100);
    const refused = await call('c', 100);
    expect(refused.error).toBeInstanceOf(ConcurrencyLimitError);
    expect(refused.error).toMatchObject({ key: 'stripe', reason: 'queue_full', limit: 1 });
    await clock.advance(200);

    const noQueue = setup({ limit: 1, queueMax: 0 });
    void noQueue.call('a', 100);
    expect((await noQueue.call('b', 100)).error).toMatchObject({ reason: 'queue_full' });
  });

  it('a waiter times out after exactly queueTimeoutMs and leaves the queue', async () => {
    const { clock, order, call, limiter } = setup({ limit: 1, queueTimeoutMs: 1_000 });
    void call('a', 5_000);
    const waiting = call('b', 10);
    let settled = false;
    void waiting.then(() => { settled = true; });
    await clock.advance(999);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await waiting).toEqual({ error: new ConcurrencyLimitError('stripe', 'queue_timeout', 1) });
    expect(limiter.stats()).toEqual([{ key: 'stripe', inFlight: 1, queued: 0 }]);
    await clock.advance(4_000);
    expect(order).toEqual(['a@0']); // b never ran
    expect(limiter.stats()).toEqual([]);
  });

  it('an aborted waiter leaves the queue with the signal\'s reason', async () => {
    const { clock, order, call } = setup({ limit: 1 });
    const controller = new AbortController();
    void call('a', 100);
    const waiting = call('b', 10, { signal: controller.signal });
    void call('c', 10);
    controller.abort(new Error('client went away'));
    expect(await waiting).toEqual({ error: new Error('client went away') });
    await clock.advance(200);
    expect(order).toEqual(['a@0', 'c@100']);
  });

  it('keys are independent', async () => {
    const { clock, order, call } = setup({ limit: 1 });
    void call('a', 100, { key: 'stripe' });
    void call('b', 100, { key: 'adyen' });
    await clock.advance(0);
    expect(order).toEqual(['a@0', 'b@0']);
  });

  it('asserts its bounds', () => {
    expect(() => setup({ limit: 0 })).toThrow('assertion failed');
    expect(() => setup({ queueMax: -1 })).toThrow('assertion failed');
    expect(() => setup({ queueTimeoutMs: 0 })).toThrow('assertion failed');
  });
});
