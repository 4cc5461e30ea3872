/**
 * Injected faults, per PSP, and the seeded random source that decides them, so a failing chaos
 * run can be replayed with the same seed. Pure code: validation and decisions, no I/O.
 */

export const sandboxPsps = ['stripe', 'adyen'] as const;
export type SandboxPspName = (typeof sandboxPsps)[number];

/** Faults of one PSP. Rates are probabilities in [0, 1]; the three API error rates sum to <= 1. */
export interface PspFaults {
  /** Added before every API request is handled. */
  latencyMs: number;
  /** POSTs answered 5xx before anything happens (the PSP says so: safe to retry). */
  serverErrorBeforeRate: number;
  /** POSTs processed, then answered 5xx (ambiguous for the caller). */
  serverErrorAfterRate: number;
  /** POSTs processed, then the response is held for `timeoutHoldMs` (the caller times out). */
  timeoutRate: number;
  /** Webhook events never sent. */
  webhookDropRate: number;
  /** Webhook events sent twice (same event id). */
  webhookDuplicateRate: number;
  /** Delay before each webhook event's first delivery attempt. */
  webhookDelayMs: number;
  /** When >= 2: events are held until this many accumulate, then sent in reverse order. */
  webhookReorderWindow: number;
  /** When true: every event is held until `releaseWebhooks` (sent in reverse by default). */
  webhookHold: boolean;
}

export type SandboxFaults = Record<SandboxPspName, PspFaults>;

/** A change to the faults: absent fields keep their value; `seed` restarts the random sequence. */
export interface SandboxFaultsPatch {
  seed?: number;
  stripe?: Partial<PspFaults>;
  adyen?: Partial<PspFaults>;
}

export const noFaults: Readonly<PspFaults> = Object.freeze({
  latencyMs: 0,
  serverErrorBeforeRate: 0,
  serverErrorAfterRate: 0,
  timeoutRate: 0,
  webhookDropRate: 0,
  webhookDuplicateRate: 0,
  webhookDelayMs: 0,
  webhookReorderWindow: 0,
  webhookHold: false,
});

// Bounds on injected faults: a typo must not park the sandbox for an hour.
const LATENCY_MS_MAX = 60_000;
const REORDER_WINDOW_MAX = 100;

/** Thrown for a malformed control request; the control API answers 400 with its message. */
export class SandboxInputError extends Error {
  override readonly name = 'SandboxInputError';
}

const rateFields = ['serverErrorBeforeRate', 'serverErrorAfterRate', 'timeoutRate', 'webhookDropRate', 'webhookDuplicateRate'] as const;
const msFields = ['latencyMs', 'webhookDelayMs'] as const;

/** Applies `patch` (already JSON-parsed, so unchecked) to `current`; throws SandboxInputError. */
export function applyFaultsPatch(current: SandboxFaults, patch: unknown): { faults: SandboxFaults; seed: number | undefined } {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new SandboxInputError('faults: expected an object');
  const record = patch as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'seed' && !(sandboxPsps as readonly string[]).includes(key)) throw new SandboxInputError(`faults: unknown key ${key}`);
  }
  const seed = record.seed;
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new SandboxInputError('faults.seed: expected an integer');
  const next = { stripe: { ...current.stripe }, adyen: { ...current.adyen } };
  for (const psp of sandboxPsps) {
    if (record[psp] !== undefined) next[psp] = applyPspPatch(next[psp], record[psp], psp);
  }
  return { faults: next, seed: seed as number | undefined };
}

function applyPspPatch(current: PspFaults, patch: unknown, psp: string): PspFaults {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new SandboxInputError(`faults.${psp}: expected an object`);
  const next: PspFaults = { ...current };
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    const field = `faults.${psp}.${key}`;
    if ((rateFields as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new SandboxInputError(`${field}: expected a probability in [0, 1]`);
      next[key as (typeof rateFields)[number]] = value;
    } else if ((msFields as readonly string[]).includes(key)) {
      if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > LATENCY_MS_MAX) throw new SandboxInputError(`${field}: expected an integer in [0, ${LATENCY_MS_MAX}]`);
      next[key as (typeof msFields)[number]] = value as number;
    } else if (key === 'webhookReorderWindow') {
      if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > REORDER_WINDOW_MAX) throw new SandboxInputError(`${field}: expected an integer in [0, ${REORDER_WINDOW_MAX}]`);
      next.webhookReorderWindow = value as number;
    } else if (key === 'webhookHold') {
      if (typeof value !== 'boolean') throw new SandboxInputError(`${field}: expected a boolean`);
      next.webhookHold = value;
    } else {
      throw new SandboxInputError(`${field}: unknown fault`);
    }
  }
  if (next.serverErrorBeforeRate + next.serverErrorAfterRate + next.timeoutRate > 1) {
    throw new SandboxInputError(`faults.${psp}: serverErrorBeforeRate + serverErrorAfterRate + timeoutRate must be <= 1`);
  }
  return next;
}

/** What happens to one API POST, drawn once per request. */
export type ApiFaultDecision = 'none' | 'error_before' | 'error_after' | 'timeout';

export function decideApiFault(faults: PspFaults, random: () => number): ApiFaultDecision {
  const total = faults.serverErrorBeforeRate + faults.serverErrorAfterRate + faults.timeoutRate;
  if (total === 0) return 'none';
  const draw = random();
  if (draw < faults.serverErrorBeforeRate) return 'error_before';
  if (draw < faults.serverErrorBeforeRate + faults.serverErrorAfterRate) return 'error_after';
  if (draw < total) return 'timeout';
  return 'none';
}

/** mulberry32: a tiny seeded PRNG with a full 2^32 period; plenty for fault injection. */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
