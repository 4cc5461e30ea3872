import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../platform/resilience/index.js';
import type { LookupRequest, PspGateway, PspOutcome } from '../../ports/psp-gateway.js';
import { hedgedLookup } from './hedged-lookup.js';

type Answer = { afterMs: number; outcome: PspOutcome | { kind: 'not_found' } };

/** A gateway whose n-th lookup answers `answers[n]` after its delay on the fake clock (aborts honoured). */
function gatewayAnswering(clock: ReturnType<typeof createFakeClock>, answers: Answer[]) {
  const started: number[] = [];
  const aborted: number[] = [];
  const gateway = {
    lookup: (request: LookupRequest) => new Promise((resolve, reject) => {
      const n = started.length;
      started.push(clock.nowMs());
      const answer = answers[n] ?? answers.at(-1)!;
      const cancel = clock.setTimer(() => resolve(answer.outcome), answer.afterMs);
      request.signal.addEventListener('abort', () => { aborted.push(n); cancel(); reject(request.signal.reason); }, { once: true });
    }),
  } as unknown as PspGateway;
  return { gateway, started, aborted };
}

const captured: PspOutcome = { kind: 'captured', pspReference: 'pi_1', amountMinor: 100n, currency: 'EUR' };
const timedOut: PspOutcome = { kind: 'unknown', reason: 'timeout', detail: 'slow' };

describe('hedgedLookup', () => {
  it('a slow first lookup is overtaken by a second started after the hedge delay; the slow one is aborted', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const { gateway, started, aborted } = gatewayAnswering(clock, [{ afterMs: 5_000, outcome: captured }, { afterMs: 100, outcome: captured }]);
    const result = hedgedLookup(gateway, { paymentId: 'pay_1', pspReference: null }, new AbortController().signal, { delayMs: 500, attemptsMax: 2, clock });
    await clock.advance(700);
    expect(await result).toEqual(captured);
    expect(started).toEqual([0, 500]);
    expect(aborted).toEqual([0]);
  });

  it('an inconclusive answer does not win: the other attempt answers; only when none does better is it returned', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const first = gatewayAnswering(clock, [{ afterMs: 50, outcome: timedOut }, { afterMs: 300, outcome: { kind: 'not_found' } }]);
    const found = hedgedLookup(first.gateway, { paymentId: 'pay_1', pspReference: null }, new AbortController().signal, { delayMs: 500, attemptsMax: 2, clock });
    await clock.advance(400);
    // The timeout at 50 ms started the second attempt at once (no waiting out the delay).
    expect(await found).toEqual({ kind: 'not_found' });
    expect(first.started).toEqual([0, 50]);

    const both = gatewayAnswering(clock, [{ afterMs: 50, outcome: timedOut }]);
    const inconclusive = hedgedLookup(both.gateway, { paymentId: 'pay_1', pspReference: null }, new AbortController().signal, { delayMs: 500, attemptsMax: 2, clock });
    await clock.advance(200);
    expect(await inconclusive).toEqual(timedOut);
  });

  it('attemptsMax 1 is a plain lookup', async () => {
    const clock = createFakeClock({ startMs: 0 });
    const { gateway, started } = gatewayAnswering(clock, [{ afterMs: 5_000, outcome: captured }]);
    const result = hedgedLookup(gateway, { paymentId: 'pay_1', pspReference: null }, new AbortController().signal, { delayMs: 500, attemptsMax: 1, clock });
    await clock.advance(5_000);
    expect(await result).toEqual(captured);
    expect(started).toEqual([0]);
  });
});
