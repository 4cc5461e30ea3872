/**
 * The janitor's PSP lookup, hedged: a lookup is an idempotent read, so when the first attempt is
 * slow a second one starts alongside it and the first definitive answer wins (platform/resilience
 * hedge). An inconclusive answer (the connector's own timeout, a 5xx) does not win: it lets the
 * other attempt answer, and is returned only when no attempt does better.
 */
import { hedge, type TimerClock } from '../../platform/resilience/index.js';
import type { LookupRequest, PspGateway, PspOutcome } from '../../ports/psp-gateway.js';

export interface LookupHedge {
  /** How long the first lookup may run before a second starts. */
  delayMs: number;
  /** Lookups started in all (1 turns hedging off). */
  attemptsMax: number;
}

type LookupOutcome = PspOutcome | { kind: 'not_found' };

class Inconclusive extends Error {
  constructor(readonly outcome: LookupOutcome) {
    super(`inconclusive lookup: ${outcome.kind}`);
  }
}

const isInconclusive = (o: LookupOutcome) => o.kind === 'unknown' || o.kind === 'retryable';

export async function hedgedLookup(gateway: PspGateway, request: Omit<LookupRequest, 'signal'>, signal: AbortSignal, options: LookupHedge & { clock: TimerClock }): Promise<LookupOutcome> {
  try {
    return await hedge(async (attemptSignal) => {
      const outcome = await gateway.lookup({ ...request, signal: attemptSignal });
      if (isInconclusive(outcome)) throw new Inconclusive(outcome);
      return outcome;
    }, { hedgeDelayMs: options.delayMs, attemptsMax: options.attemptsMax, clock: options.clock, parentSignal: signal });
  } catch (error) {
    if (error instanceof Inconclusive) return error.outcome;
    throw error;
  }
}
