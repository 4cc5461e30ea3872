/** Runs a keyed payment command inside its own transactions (ADR 0011, 0015, 0016). */
import { randomUUID } from 'node:crypto';
import { TallyError } from '../../domain/errors.js';
import { createdAndConfirmed, type PaymentIntent, type PaymentTransition } from '../../domain/payments/index.js';
import { decideReservation, keyReusedError, waitWhileInProgress } from '../../platform/idempotency/idempotency.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { StoredIdempotency } from '../../ports/idempotency-store.js';
import type { PaymentsTx } from '../../ports/payments-store.js';
import { hasCalls, heldBy, settleIn, type CommandKey, type KeyedResult, type Replay, type Started } from './command-key.js';
import type { PaymentsDeps } from './payments-deps.js';
import { outboxEventsOf, reportAnomalies, saveTransition } from './transitions.js';

/**
 * Runs a keyed command: `start` is its first transaction (reservation + decision), `rest` what
 * follows. A concurrent run with the key is waited for; a completed one is replayed. Whatever the
 * transactions left unsettled is settled here through the store, as for any other RPC.
 */
export async function runKeyed(key: CommandKey, start: () => Promise<Started | 'in_progress'>, rest: (started: Extract<Started, { kind: 'started' }>) => Promise<PaymentIntent>): Promise<KeyedResult> {
  const started = await waitWhileInProgress(key.options, start);
  if (started.kind === 'replay') return started;
  const { held } = started;
  const lease = { ...key.ref, leaseToken: held.leaseToken };
  let intent: PaymentIntent;
  try {
    intent = await rest(started);
  } catch (error) {
    if (!held.settled) {
      // The payment it created is the key's answer from now on (see `settleIn`); released otherwise.
      const created = held.created && (await held.created());
      if (created) await key.options.store.complete({ ...lease, response: key.encode(created), nowMs: key.options.clock.nowMs() });
      else await key.options.store.release(lease);
    }
    throw error;
  }
  if (!held.settled) await key.options.store.complete({ ...lease, response: key.encode(intent), nowMs: key.options.clock.nowMs() });
  return { kind: 'fresh', intent };
}

/**
 * What the key's stored record answers without running the command: its first response, a wait
 * for the run holding it, or a refusal (another request); null when this run executes.
 */
export function answerWithoutExecuting(key: CommandKey, stored: StoredIdempotency | undefined, nowMs: number): Replay | 'in_progress' | null {
  switch (decideReservation(stored, key.requestHash, nowMs)) {
    case 'replay': return { kind: 'replay', response: stored!.response!, error: stored!.error ?? null };
    case 'mismatch': throw keyReusedError();
    case 'in_progress': return 'in_progress';
    case 'execute': return null;
  }
}

/**
 * What a keyed command starts from: a stored payment, or one it creates (saved with the command's
 * first decision, in the same transaction).
 */
export type Target = { paymentId: string } | { created: PaymentTransition };

/**
 * A blind first write this run made, though it was told otherwise (an ambiguous commit error
 * after which the writes landed): the lease it wrote and the transition it saved.
 */
interface OwnFirstWrite { leaseToken: string; t: PaymentTransition }

/** A keyed command's first transaction: reads the key, then (to execute) decides and saves with the lease. */
export function startKeyed(
  deps: PaymentsDeps, tenantId: string, target: Target, trace: TraceIds, key: CommandKey,
  decide: (intent: PaymentIntent, tx: PaymentsTx) => Promise<PaymentTransition> | PaymentTransition,
  /** Whether the command ends with this transition when it asks for no PSP call. */
  endsWith: (t: PaymentTransition) => boolean = () => true,
  ownFirstWrite?: OwnFirstWrite,
): Promise<Started | 'in_progress'> {
  const leaseToken = randomUUID();
  return deps.ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx): Promise<Started | 'in_progress'> => {
    const created = 'created' in target ? target.created : null;
    // Read together (one round trip); the payment read is wasted only on a replay.
    const paymentId = created ? created.intent.id : (target as { paymentId: string }).paymentId;
    const [stored, existing] = await Promise.all([tx.idempotency.read(key.ref), tx.getPayment(paymentId)]);
    const nowMs = deps.clock.nowMs();
    if (ownFirstWrite && stored?.state === 'in_progress' && stored.leaseToken === ownFirstWrite.leaseToken && existing?.version === ownFirstWrite.t.intent.version) {
      // This run's own first write landed after all, and nothing has moved the payment since (no
      // PSP was called yet): it goes on as if the write had answered, instead of waiting for its
      // own lease to run out.
      return { kind: 'started', t: ownFirstWrite.t, held: heldBy(deps, key, ownFirstWrite.leaseToken, false, ownFirstWrite.t.intent) };
    }
    const answered = answerWithoutExecuting(key, stored, nowMs);
    if (answered !== null) return answered;
    if (created && existing) {
      // An earlier run of this very request created it (the id derives from the key and the
      // request) and stopped before settling the key (a crash; its lease ran out): the payment is
      // the answer, as it stands. Never a second payment, so never a second charge.
      const response = key.encode(existing);
      tx.idempotency.writeCompleted(key.ref, { requestHash: key.requestHash, response, nowMs, retentionMs: key.options.retentionMs });
      return { kind: 'replay', response, error: null };
    }
    const intent = created ? created.intent : existing;
    if (!intent) throw new TallyError('NOT_FOUND', `payment ${paymentId} not found`, { field: 'payment_id' });
    const decided = created ? createdAndConfirmed(created, await decide(intent, tx)) : await decide(intent, tx);
    const t = await saveTransition(deps, tx, lane, decided, trace);
    const settled = !hasCalls(t) && endsWith(t);
    if (settled) settleIn(tx, key, t, nowMs, created !== null);
    else tx.idempotency.writeLease(key.ref, { requestHash: key.requestHash, leaseToken, nowMs, leaseMs: key.options.leaseMs, retentionMs: key.options.retentionMs });
    return { kind: 'started', t, held: heldBy(deps, key, leaseToken, settled, created ? t.intent : null) };
  })).then((started) => {
    if (started !== 'in_progress' && started.kind === 'started') reportAnomalies(deps, started.t, trace);
    return started;
  });
}

/**
 * The first save of a one-call checkout: the payment is new, so its first transition (payment,
 * index, outbox, the key's lease) is one blind write of creates, without a transaction or a read
 * (one round trip instead of two, ADR 0015). Anything already there (a replay, a rerun after a
 * crash, a live lease) makes that write fail as a whole, and the transactional `startKeyed`
 * decides as for any keyed command.
 */
export async function startCreated(
  deps: PaymentsDeps, tenantId: string, created: PaymentTransition, trace: TraceIds, key: CommandKey,
  decide: (intent: PaymentIntent) => Promise<PaymentTransition>, endsWith: (t: PaymentTransition) => boolean,
): Promise<Started | 'in_progress'> {
  const t = createdAndConfirmed(created, await decide(created.intent));
  // Only a transition that goes on to PSP calls holds a lease; one with ledger entries needs the ledger's reads.
  if (hasCalls(t) && !t.effects.some((e) => e.kind === 'post_ledger')) {
    const leaseToken = randomUUID();
    const lease = { requestHash: key.requestHash, leaseToken, nowMs: deps.clock.nowMs(), leaseMs: key.options.leaseMs, retentionMs: key.options.retentionMs };
    if (await deps.store.createPaymentAtOnce({ intent: t.intent, outbox: outboxEventsOf(t, trace), trace, key: { ref: key.ref, lease } })) {
      reportAnomalies(deps, t, trace);
      return { kind: 'started', t, held: heldBy(deps, key, leaseToken, false, t.intent) };
    }
    return startKeyed(deps, tenantId, { created }, trace, key, decide, endsWith, { leaseToken, t });
  }
  return startKeyed(deps, tenantId, { created }, trace, key, decide, endsWith);
}
