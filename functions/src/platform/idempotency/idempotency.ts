/**
 * Idempotency for every mutating RPC: the first response is stored with a hash of the request; the
 * same key and request replays it; the same key with another request fails; concurrent duplicates
 * wait for the first to finish so the work happens once. See ADR 0004 for the lease trade-off.
 */
import { createHash } from 'node:crypto';
import { TallyError, invalidField } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { IdempotencyStore, StoredIdempotency } from '../../ports/idempotency-store.js';

export const idempotencyKeyLengthMax = 255;
const pollIntervalMs = 50;

export interface IdempotencyOptions {
  store: IdempotencyStore;
  clock: Clock;
  leaseMs: number;
  retentionMs: number;
  /** How long a duplicate waits for the first request before answering IDEMPOTENCY_KEY_IN_PROGRESS. */
  waitMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface IdempotentCall<T> {
  scope: string;
  method: string;
  key: string;
  /** Canonical bytes of the request without its idempotency key. */
  requestBytes: Uint8Array;
  execute: () => Promise<T>;
  /** Serializes the response to store. Strip secrets here: stored responses are replayed as is. */
  encodeForStorage: (response: T) => Uint8Array;
  decode: (bytes: Uint8Array) => T;
}

/** Picks the key from the request field or the `Idempotency-Key` header; both must agree if both set. */
export function resolveIdempotencyKey(fieldValue: string, headerValue: string | null): string {
  const header = headerValue ?? '';
  if (fieldValue !== '' && header !== '' && fieldValue !== header) {
    throw invalidField('idempotency_key', 'differs from the Idempotency-Key header');
  }
  const key = fieldValue !== '' ? fieldValue : header;
  if (key === '') throw invalidField('idempotency_key', 'required (field or Idempotency-Key header)', 'FIELD_REQUIRED');
  if (key.length > idempotencyKeyLengthMax || !/^[\x21-\x7e]+$/.test(key)) {
    throw invalidField('idempotency_key', `1..${idempotencyKeyLengthMax} printable ASCII characters without spaces`);
  }
  return key;
}

export function hashRequest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a caller with `requestHash` may do about a stored record, at `nowMs`. */
export function decideReservation(stored: StoredIdempotency | undefined, requestHash: string, nowMs: number): 'execute' | 'replay' | 'mismatch' | 'in_progress' {
  if (!stored) return 'execute';
  if (stored.requestHash !== requestHash) return 'mismatch';
  if (stored.state === 'completed') return 'replay';
  // Still held, or the holder's lease ran out (it crashed): then it may be taken over.
  return stored.leaseUntilMs > nowMs ? 'in_progress' : 'execute';
}

export const keyReusedError = () => new TallyError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was already used with a different request', {
  field: 'idempotency_key',
});

const keyInProgressError = () => new TallyError('IDEMPOTENCY_KEY_IN_PROGRESS', 'a request with this idempotency key is still running; retry with the same key', {
  field: 'idempotency_key',
});

/**
 * Waits for a concurrent holder of the key, bounded by `waitMs`: reruns `attempt` every poll
 * interval while it answers `in_progress`, then fails with IDEMPOTENCY_KEY_IN_PROGRESS.
 */
export async function waitWhileInProgress<T>(options: Pick<IdempotencyOptions, 'clock' | 'waitMs' | 'sleep'>, attempt: () => Promise<T | 'in_progress'>): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadlineMs = options.clock.nowMs() + options.waitMs;
  // Bounded: at most waitMs / pollIntervalMs + 1 rounds.
  for (;;) {
    const result = await attempt();
    if (result !== 'in_progress') return result;
    if (options.clock.nowMs() >= deadlineMs) throw keyInProgressError();
    await sleep(pollIntervalMs);
  }
}

export async function runIdempotently<T>(options: IdempotencyOptions, call: IdempotentCall<T>): Promise<T> {
  const requestHash = hashRequest(call.requestBytes);
  return waitWhileInProgress(options, async () => {
    const reservation = await options.store.reserve({
      scope: call.scope,
      method: call.method,
      key: call.key,
      requestHash,
      nowMs: options.clock.nowMs(),
      leaseMs: options.leaseMs,
      retentionMs: options.retentionMs,
    });
    switch (reservation.kind) {
      case 'replay':
        return call.decode(reservation.response);
      case 'mismatch':
        throw keyReusedError();
      case 'in_progress':
        return 'in_progress' as const;
      case 'execute': {
        const ref = { scope: call.scope, method: call.method, key: call.key, leaseToken: reservation.leaseToken };
        let response: T;
        try {
          response = await call.execute();
        } catch (error) {
          // The operation did not complete, so nothing is stored: a retry with the same key runs
          // again (typed failures here happen before any write; see ADR 0004).
          await options.store.release(ref);
          throw error;
        }
        await options.store.complete({ ...ref, response: call.encodeForStorage(response), nowMs: options.clock.nowMs() });
        return response;
      }
    }
  });
}
