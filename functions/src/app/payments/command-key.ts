/** A keyed command's idempotency key and the lease one run holds on it (ADR 0011). */
import type { PaymentIntent, PaymentTransition } from '../../domain/payments/index.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import type { IdempotencyRef, StoredError } from '../../ports/idempotency-store.js';
import type { PaymentsTx } from '../../ports/payments-store.js';
import type { PaymentsDeps } from './payments-deps.js';

// ---- idempotency inside the command's own transactions (ADR 0011) ------------------------------

/**
 * The idempotency key of one command, from the RPC layer. The command writes its reservation in
 * its first transaction and its response (or, on failure, the removal) in its last one, so a
 * keyed command costs no transactions of its own; `options.store` finishes what those did not.
 */
export interface CommandKey {
  ref: IdempotencyRef;
  requestHash: string;
  options: IdempotencyOptions;
  /** The response replays return, from the command's final intent. */
  encode(intent: PaymentIntent): Uint8Array;
}

/**
 * A command's result: its intent, or the stored response of the first run under the same key, with
 * the error that run answered when it is replayed too (a failed one-call checkout, see `settleIn`).
 */
export type KeyedResult = { kind: 'fresh'; intent: PaymentIntent } | Replay;
export type Replay = { kind: 'replay'; response: Uint8Array; error: StoredError | null };

/**
 * The lease one run holds after its first transaction committed; `settled` once the record is final.
 * `created`: the command created the payment (a one-call checkout), whose id the key must keep
 * whatever happens next (see `settleIn`); it reads the payment as it stands.
 */
export interface Held { key: CommandKey; leaseToken: string; settled: boolean; created?: () => Promise<PaymentIntent | undefined> }

export type Started = Replay | { kind: 'started'; t: PaymentTransition; held: Held };

/** The lease a run holds; `created`: the payment the run created (read back as it stands on failure). */
export function heldBy(deps: PaymentsDeps, key: CommandKey, leaseToken: string, settled: boolean, created: PaymentIntent | null): Held {
  if (!created) return { key, leaseToken, settled };
  return { key, leaseToken, settled, created: () => deps.store.getPayment(created.tenantId, created.id) };
}

export const hasCalls = (t: PaymentTransition) => t.effects.some((e) => e.kind.startsWith('call_psp_'));

/**
 * Writes the key's final record in `tx`: the response, or nothing to remember when the command
 * failed. A command that created its payment keeps a record even when it failed (a decline, no
 * PSP available): a retry under the key must find that payment, never create and charge a second
 * one. The record holds the error it answered and the payment, and a replay answers that same
 * error, which names the payment (ADR 0015).
 */
export function settleIn(tx: PaymentsTx, key: CommandKey, t: PaymentTransition, nowMs: number, created = false): void {
  if (t.error && !created) {
    tx.idempotency.remove(key.ref);
    return;
  }
  const error = t.error ? { reason: t.error.reason, message: t.error.message, metadata: { ...t.error.metadata, paymentId: t.intent.id } } : undefined;
  tx.idempotency.writeCompleted(key.ref, { requestHash: key.requestHash, response: key.encode(t.intent), ...(error && { error }), nowMs, retentionMs: key.options.retentionMs });
}
