import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitOpenError, createCircuitBreaker, type CircuitBreaker, type CircuitBreakerOptions, type CircuitPermit } from './circuit-breaker.js';
import { createFakeClock } from './fake-clock.js';

class Http5xx extends Error {}
class Declined extends Error {}

function setup(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = createFakeClock({ startMs: 0 });
  const breaker = createCircuitBreaker({
    clock,
    windowMs: 10_000,
    windowBucketCount: 10,
    minimumCalls: 4,
    failureRateThreshold: 0.5,
    openDurationMs: 5_000,
    halfOpenProbesMax: 2,
    isFailure: (error) => !(error instanceof Declined),
    keysMax: 4,
    ...overrides,
  });
  const succeed = () => breaker.run('stripe', async () => 'ok');
  // Each swallows only the error its call throws: a call refused by the breaker (CircuitOpenError)
  // or any other error fails the test instead of passing for a recorded outcome.
  const fail = () => breaker.run('stripe', async () => { throw new Http5xx('502'); }).catch((error: unknown) => { if (!(error instanceof Http5xx)) throw error; });
  const decline = () => breaker.run('stripe', async () => { throw new Declined('card_declined'); }).catch((error: unknown) => { if (!(error instanceof Declined)) throw error; });
  return { clock, breaker, succeed, fail, decline };
}

function tryAcquire(breaker: CircuitBreaker): CircuitPermit | CircuitOpenError {
  try {
    return breaker.acquire('stripe');
  } catch (error) {
    if (error instanceof CircuitOpenError) return error;
    throw error;
  }
}

describe('createCircuitBreaker', () => {
  it('opens exactly at the failure-rate threshold once minimumCalls is reached, not below', async () => {
    const { breaker, succeed, fail } = setup();
    await fail();
    await fail();
    await fail(); // 3/3 failed, but fewer than minimumCalls (4)
    expect(breaker.state('stripe')).toBe('closed');
    await succeed(); // 3/4 = 0.75 >= 0.5: opens, even though this call succeeded
    expect(breaker.state('stripe')).toBe('open');

    const below = setup({ failureRateThreshold: 0.6 });
    await below.fail();
    await below.fail();
    await below.succeed();
    await below.succeed(); // 2/4 = 0.5 < 0.6
    await below.succeed(); // 2/5
    await below.fail(); // 3/6 = 0.5
    expect(below.breaker.state('stripe')).toBe('closed');
    await below.fail(); // 4/7 = 0.571...
    expect(below.breaker.state('stripe')).toBe('closed');
    await below.fail(); // 5/8 = 0.625 >= 0.6
    expect(below.breaker.state('stripe')).toBe('open');
  });

  it('rate exactly equal to a non-binary fraction opens (3/10 against 0.3)', async () => {
    const { breaker, succeed, fail } = setup({ failureRateThreshold: 0.3, minimumCalls: 10 });
    for (let i = 0; i < 7; i++) await succeed();
    await fail();
    await fail();
    expect(breaker.state('stripe')).toBe('closed'); // 2/9, below minimumCalls too
    await fail(); // 3/10
    expect(breaker.state('stripe')).toBe('open');
  });

  it('declines are answers, not failures', async () => {
    const { breaker, decline } = setup();
    for (let i = 0; i < 10; i++) await decline();
    expect(breaker.state('stripe')).toBe('closed');
    expect(breaker.stats()[0]).toMatchObject({ callsInWindow: 10, failuresInWindow: 0 });
  });

  it('fails fast while open with retryAtMs, then half-opens exactly at retryAtMs', async () => {
    const { clock, breaker, fail } = setup();
    await clock.advance(1_234);
    for (let i = 0; i < 4; i++) await fail();
    let ran = false;
    const rejected = await breaker.run('stripe', async () => { ran = true; }).catch((error: unknown) => error);
    expect(ran).toBe(false);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(rejected).toMatchObject({ key: 'stripe', state: 'open', retryAtMs: 6_234 });
    await clock.advance(4_999);
    expect(() => breaker.acquire('stripe')).toThrow(CircuitOpenError);
    await clock.advance(1);
    expect(breaker.state('stripe')).toBe('half_open');
    expect(breaker.stats()[0]).toMatchObject({ state: 'half_open', openedTotal: 1, rejectedTotal: 2, retryAtMs: null });
  });

  it('half-open admits at most halfOpenProbesMax concurrent probes; a success closes with a fresh window', async () => {
    const { clock, breaker, fail, succeed } = setup();
    for (let i = 0; i < 4; i++) await fail();
    await clock.advance(5_000);
    const first = breaker.acquire('stripe');
    const second = breaker.acquire('stripe');
    const third = tryAcquire(breaker);
    expect(third).toMatchObject({ state: 'half_open', retryAtMs: 5_000 });
    first.record('ignored'); // frees the slot without a verdict
    expect(breaker.state('stripe')).toBe('half_open');
    const replacement = breaker.acquire('stripe');
    second.record('success');
    expect(breaker.state('stripe')).toBe('closed');
    replacement.record('failure'); // admitted under half-open: no longer judged once closed
    expect(breaker.stats()[0]).toMatchObject({ state: 'closed', callsInWindow: 0, failuresInWindow: 0, inFlight: 0 });
    await fail();
    await fail();
    await fail();
    expect(breaker.state('stripe')).toBe('closed'); // old failures did not survive the close
    await succeed();
    expect(breaker.state('stripe')).toBe('open');
  });

  it('a failed probe re-opens for another openDurationMs', async () => {
    const { clock, breaker, fail } = setup();
    for (let i = 0; i < 4; i++) await fail();
    await clock.advance(5_000);
    await fail();
    expect(breaker.state('stripe')).toBe('open');
    expect(() => breaker.acquire('stripe')).toThrow(expect.objectContaining({ retryAtMs: 10_000 }));
    expect(breaker.stats()[0]).toMatchObject({ openedTotal: 2 });
  });

  it('calls admitted before it opened still hold half-open slots', async () => {
    const { clock, breaker, fail } = setup({ halfOpenProbesMax: 1 });
    const straggler = breaker.acquire('stripe');
    for (let i = 0; i < 4; i++) await fail();
    await clock.advance(5_000);
    expect(() => breaker.acquire('stripe')).toThrow(CircuitOpenError);
    straggler.record('success'); // from the closed generation: frees the slot, decides nothing
    expect(breaker.state('stripe')).toBe('half_open');
    breaker.acquire('stripe').record('success');
    expect(breaker.state('stripe')).toBe('closed');
  });

  it('the window slides old failures out, bucket by bucket', async () => {
    const { clock, breaker, fail, succeed } = setup({ minimumCalls: 4, failureRateThreshold: 0.5 });
    await fail();
    await fail(); // bucket [0, 1000)
    await clock.advance(5_000);
    await succeed(); // bucket [5000, 6000): window 2 failures / 3 calls
    expect(breaker.stats()[0]).toMatchObject({ callsInWindow: 3, failuresInWindow: 2 });
    await clock.advance(4_999); // now 9_999: bucket 0 still inside
    expect(breaker.stats()[0]).toMatchObject({ callsInWindow: 3, failuresInWindow: 2 });
    await clock.advance(1); // now 10_000: bucket 0 slid out
    expect(breaker.stats()[0]).toMatchObject({ callsInWindow: 1, failuresInWindow: 0 });
    await fail(); // 1/2
    await succeed(); // 1/3
    await succeed(); // 1/4 = 0.25 < 0.5: with the old failures it would have been 3/6 and opened
    expect(breaker.state('stripe')).toBe('closed');
  });

  it('keeps keys apart and bounds how many it tracks', async () => {
    const { breaker, fail } = setup({ keysMax: 2 });
    for (let i = 0; i < 4; i++) await fail();
    expect(breaker.state('stripe')).toBe('open');
    expect(breaker.state('adyen')).toBe('closed');
    await breaker.run('adyen', async () => 1);
    expect(() => breaker.acquire('third')).toThrow('keysMax');
    expect(breaker.stats().map((s) => s.key)).toEqual(['adyen', 'stripe']);
  });

  it('a permit is recorded once; bad options are assertions', () => {
    const { breaker } = setup();
    const permit = breaker.acquire('stripe');
    permit.record('success');
    expect(() => permit.record('success')).toThrow('recorded once');
    expect(() => setup({ windowMs: 10_001 })).toThrow('assertion failed');
    expect(() => setup({ failureRateThreshold: 0 })).toThrow('assertion failed');
    expect(() => setup({ failureRateThreshold: 1.01 })).toThrow('assertion failed');
  });

  it('property: half-open admits a call only while fewer than halfOpenProbesMax are in flight; open refuses every call before retryAtMs', async () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const) }),
      fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), outcome: fc.constantFrom('success' as const, 'failure' as const, 'ignored' as const) }),
      // Durations near the open period's edges, so runs land exactly on and just before retryAtMs.
      fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.constantFrom(1, 999, 1_000, 1_999, 2_000)) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(operation, { minLength: 20, maxLength: 100 }), async (halfOpenProbesMax, operations) => {
        const { clock, breaker } = setup({ halfOpenProbesMax, minimumCalls: 2, failureRateThreshold: 0.5, windowMs: 4_000, windowBucketCount: 4, openDurationMs: 2_000 });
        const outstanding: CircuitPermit[] = [];
        let openUntilMs: number | null = null;
        for (const op of operations) {
          if (op.kind === 'advance') {
            await clock.advance(op.ms);
          } else if (op.kind === 'finish') {
            if (outstanding.length === 0) continue;
            outstanding.splice(op.pick % outstanding.length, 1)[0]!.record(op.outcome);
          } else {
            const before = breaker.state('stripe');
            const admitted = tryAcquire(breaker);
            if (admitted instanceof CircuitOpenError) {
              if (admitted.state === 'open') expect(admitted.retryAtMs).toBeGreaterThan(clock.nowMs());
              else expect(outstanding.length).toBeGreaterThanOrEqual(halfOpenProbesMax);
            } else {
              expect(before).not.toBe('open');
              outstanding.push(admitted);
              // Stragglers admitted while closed may outlive the open period; they count against the probes.
              if (before === 'half_open') expect(outstanding.length).toBeLessThanOrEqual(halfOpenProbesMax);
            }
          }
          // Whenever the breaker says open, it names a retryAtMs in the future and refuses until then.
          const stats = breaker.stats()[0];
          if (stats?.state === 'open') {
            expect(stats.retryAtMs).toBeGreaterThan(clock.nowMs());
            if (openUntilMs !== null && openUntilMs > clock.nowMs()) expect(stats.retryAtMs).toBeGreaterThanOrEqual(openUntilMs);
            openUntilMs = stats.retryAtMs;
          }
          if (openUntilMs !== null && clock.nowMs() < openUntilMs) expect(stats?.state).toBe('open');
        }
      }),
      { numRuns: 150 },
    );
  });
});
