/**
 * Payments use cases: the app side of the PaymentIntent state machine (domain/payments). Each step
 * is "decide in one Firestore transaction, then act": a transition is saved with its ledger
 * entries and outbox events in one transaction, and only then are its PSP calls made; each answer
 * is recorded in a new transaction. A crash between a PSP call and recording its answer leaves an
 * in-flight attempt that the janitor or the PSP's webhook settles, whichever comes first, once.
 */
import { randomUUID } from 'node:crypto';
import { derivedId, newId } from '../../domain/ids.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import {
  applyPspOutcome, applyWebhook, attemptsToResolve, cancelPayment, capturePayment, choosePsps, confirmPayment, createdAndConfirmed,
  createPaymentIntent, isCaptureDue, nextCaptureEntryReads, paymentAccounts, paymentLedgerEntry, refundPayment, updatePaymentMetadata, validateRoutingRules,
  type CardBrand, type FeeSchedule, type PaymentEffect, type PaymentIntent, type PaymentTransition, type RoutingRule,
  type PaymentAccountCode, cardBrands,
} from '../../domain/payments/index.js';
import { createAccount as createAccountDomain } from '../../domain/ledger/index.js';
import {
  CircuitOpenError, ConcurrencyLimitError, TimeoutError, withTimeout,
  type CircuitBreaker, type ConcurrencyLimiter, type TimerClock,
} from '../../platform/resilience/index.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Clock } from '../../ports/clock.js';
import type { PaymentMethod, PaymentsStore, PaymentsTx } from '../../ports/payments-store.js';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import type { TtlCache } from '../../platform/cache/ttl-cache.js';
import { decideReservation, keyReusedError, waitWhileInProgress, type IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import type { IdempotencyRef, StoredError, StoredIdempotency } from '../../ports/idempotency-store.js';
import { pspNames, type PspGateway, type PspName, type PspOutcome, type PspWebhookEvent } from '../../ports/psp-gateway.js';
import { planEntry, prefetchEntryReads, type LedgerDeps } from '../ledger/ledger-use-cases.js';
import { retryWithJitter } from '../../platform/resilience/retry.js';
import type { KeyedSerializer } from '../../platform/lanes/keyed-serializer.js';
import { hedgedLookup, type LookupHedge } from './hedged-lookup.js';

export interface PaymentsDeps {
  store: PaymentsStore;
  ledger: LedgerDeps;
  clock: Clock;
  timers: TimerClock;
  gateways: ReadonlyMap<PspName, PspGateway>;
  breaker: CircuitBreaker;
  limiter: ConcurrencyLimiter;
  /** Deadline of one PSP call; the janitor's grace must exceed it. */
  pspCallTimeoutMs: number;
  /** The janitor's lookups are hedged (idempotent reads): see hedged-lookup.ts. */
  lookupHedge: LookupHedge;
  /** Bound on PSP calls one API request makes (authorize + failovers + automatic capture). */
  pspCallsPerRequestMax: number;
  /** The platform's fee terms, snapshotted on each payment at creation. */
  fees: FeeSchedule;
  random: () => number;
  /** Where anomalies go (`reportAnomalies`): a log-based metric counts them (terraform). */
  logger: Logger;
  /**
   * Test hooks, shared by reference (crash injection): `beforePspCall` runs after the attempt was
   * saved and before the PSP is called; `afterPspCall` after a PSP answered and before the answer is recorded.
   */
  testHooks: { beforePspCall?: (paymentId: string) => void; afterPspCall?: (paymentId: string) => void };
  /**
   * Per-instance caches (ADR 0011). Payment methods never change once created, so a found one
   * is cached for long; routing rules live `ttlMs` at most on another instance than the one that
   * set them. Absent: every read goes to the store.
   */
  caches?: { paymentMethods: TtlCache<PaymentMethod | undefined>; routingRules: TtlCache<RoutingRule[] | undefined>; accountsEnsured: TtlCache<true> };
  /**
   * PSP events of one payment applied one at a time in this instance (keyed by payment id), so
   * that two arriving together do not contend on its document. Absent: applied as they come.
   */
  eventsByPayment?: KeyedSerializer;
}

/** Deterministic ledger account id of a payment account code in a currency. */
export function paymentAccountId(code: PaymentAccountCode, currency: string): string {
  return `acc_pay_${code.replace(':', '_')}_${currency}`;
}

/**
 * Creates the tenant's payment ledger accounts for a currency (idempotent: fixed ids and codes);
 * an instance remembers the pairs it has ensured (bounded cache), so this is once per instance.
 */
export async function ensurePaymentAccounts(deps: PaymentsDeps, tenantId: string, currency: string): Promise<void> {
  const ensure = () => createPaymentAccounts(deps, tenantId, currency).then(() => true as const);
  await (deps.caches ? deps.caches.accountsEnsured.get(`${tenantId}:${currency}`, ensure) : ensure());
}

async function createPaymentAccounts(deps: PaymentsDeps, tenantId: string, currency: string): Promise<void> {
  for (const { code, type } of paymentAccounts) {
    const account = createAccountDomain(
      // The merchant payable is credited by every capture: a hot account, so sharded.
      { code: `${code}:${currency}`, name: `${code} ${currency}`, currency, type, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: code === 'merchant_payable' ? 16 : 4 },
      { id: paymentAccountId(code, currency), tenantId, createdAtMs: deps.clock.nowMs() },
    );
    await deps.ledger.store.createAccount(account);
  }
}

/** The message anomalies are logged with; the log-based metric `tally/payment_anomaly` filters on it. */
export const paymentAnomalyMessage = 'payment anomaly';

/**
 * Logs what the domain reported as looking wrong (a PSP event contradicting what is recorded, a
 * capture that can no longer be unwound, ...): nothing changed for it, so a human or
 * reconciliation must look. Called once a transaction committed, so a rerun does not log twice.
 */
function reportAnomalies(deps: PaymentsDeps, t: PaymentTransition | null, trace: TraceIds): void {
  for (const effect of t?.effects ?? []) {
    if (effect.kind !== 'report_anomaly') continue;
    deps.logger.error(paymentAnomalyMessage, {
      reason: effect.reason, psp: effect.psp, detail: effect.detail, paymentId: t!.intent.id, tenantId: t!.intent.tenantId, traceId: trace.traceId,
    });
  }
}

/** Saves a transition with its ledger entries and outbox events in the caller's transaction. */
async function saveTransition(deps: PaymentsDeps, tx: PaymentsTx, lane: number, t: PaymentTransition, trace: TraceIds): Promise<void> {
  if (!t.changed) return;
  const plans = [];
  for (const effect of t.effects) {
    if (effect.kind !== 'post_ledger') continue;
    plans.push(await planEntry(deps.ledger, tx.ledger, lane, t.intent.tenantId, paymentLedgerEntry(effect.event, paymentAccountId), trace));
  }
  tx.savePayment(t.intent, trace, t.effects.some((e) => e.kind === 'publish_event' && e.event.type === 'payment.created'));
  for (const plan of plans) plan.commit();
  for (const event of outboxEventsOf(t, trace)) tx.createOutboxEvent(event);
}

/** A copy of a plain event with its bigints as decimal strings (JSON-safe, exact). */
function bigintsAsStrings(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(bigintsAsStrings);
  if (value !== null && typeof value === 'object') {
    // As JSON would: an undefined field is left out (Firestore refuses undefined).
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, bigintsAsStrings(v)]));
  }
  return value;
}

/** The outbox events of a transition's `publish_event` effects. */
function outboxEventsOf(t: PaymentTransition, trace: TraceIds): OutboxEvent[] {
  const events: OutboxEvent[] = [];
  for (const effect of t.effects) {
    if (effect.kind !== 'publish_event') continue;
    // Deterministic (a rerun of the transaction writes the same ids) and unique within the
    // transition: two events of one type (e.g. two held-back refunds released together) differ
    // by their position.
    const position = events.length;
    events.push({
      id: `evt_${t.intent.id}_${t.intent.version}_${position === 0 ? '' : `${position}_`}${effect.event.type.replace('.', '_')}`,
      type: effect.event.type,
      aggregateId: t.intent.id,
      payload: bigintsAsStrings(effect.event) as Record<string, unknown>,
      createdAtMs: t.intent.updatedAtMs,
      ...trace,
    });
  }
  return events;
}

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
type Replay = { kind: 'replay'; response: Uint8Array; error: StoredError | null };

/**
 * The lease one run holds after its first transaction committed; `settled` once the record is final.
 * `created`: the command created the payment (a one-call checkout), whose id the key must keep
 * whatever happens next (see `settleIn`); it reads the payment as it stands.
 */
interface Held { key: CommandKey; leaseToken: string; settled: boolean; created?: () => Promise<PaymentIntent | undefined> }

type Started = Replay | { kind: 'started'; t: PaymentTransition; held: Held };

/** The lease a run holds; `created`: the payment the run created (read back as it stands on failure). */
function heldBy(deps: PaymentsDeps, key: CommandKey, leaseToken: string, settled: boolean, created: PaymentIntent | null): Held {
  if (!created) return { key, leaseToken, settled };
  return { key, leaseToken, settled, created: () => deps.store.getPayment(created.tenantId, created.id) };
}

const hasCalls = (t: PaymentTransition) => t.effects.some((e) => e.kind.startsWith('call_psp_'));

/**
 * Writes the key's final record in `tx`: the response, or nothing to remember when the command
 * failed. A command that created its payment keeps a record even when it failed (a decline, no
 * PSP available): a retry under the key must find that payment, never create and charge a second
 * one. The record holds the error it answered and the payment, and a replay answers that same
 * error, which names the payment (ADR 0015).
 */
function settleIn(tx: PaymentsTx, key: CommandKey, t: PaymentTransition, nowMs: number, created = false): void {
  if (t.error && !created) {
    tx.idempotency.remove(key.ref);
    return;
  }
  const error = t.error ? { reason: t.error.reason, message: t.error.message, metadata: { ...t.error.metadata, paymentId: t.intent.id } } : undefined;
  tx.idempotency.writeCompleted(key.ref, { requestHash: key.requestHash, response: key.encode(t.intent), ...(error && { error }), nowMs, retentionMs: key.options.retentionMs });
}

/**
 * Runs a keyed command: `start` is its first transaction (reservation + decision), `rest` what
 * follows. A concurrent run with the key is waited for; a completed one is replayed. Whatever the
 * transactions left unsettled is settled here through the store, as for any other RPC.
 */
async function runKeyed(key: CommandKey, start: () => Promise<Started | 'in_progress'>, rest: (started: Extract<Started, { kind: 'started' }>) => Promise<PaymentIntent>): Promise<KeyedResult> {
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
function answerWithoutExecuting(key: CommandKey, stored: StoredIdempotency | undefined, nowMs: number): Replay | 'in_progress' | null {
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
type Target = { paymentId: string } | { created: PaymentTransition };

/**
 * A blind first write this run made, though it was told otherwise (an ambiguous commit error
 * after which the writes landed): the lease it wrote and the transition it saved.
 */
interface OwnFirstWrite { leaseToken: string; t: PaymentTransition }

/** A keyed command's first transaction: reads the key, then (to execute) decides and saves with the lease. */
function startKeyed(
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
    const t = created ? createdAndConfirmed(created, await decide(intent, tx)) : await decide(intent, tx);
    await saveTransition(deps, tx, lane, t, trace);
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
async function startCreated(
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

/** Settling a held key in a later transaction: `finalOf` says whether (and with what) the command ends there. */
interface SettleIn { held: Held; finalOf: (recorded: PaymentTransition) => PaymentTransition | null }

/** The ledger entry a transaction will likely post: read with the payment. */
type LikelyEntry = ReturnType<typeof nextCaptureEntryReads>;

/** One transaction: load, decide, save (with ledger and outbox). */
async function commit(
  deps: PaymentsDeps, tenantId: string, paymentId: string, trace: TraceIds,
  decide: (intent: PaymentIntent, tx: PaymentsTx) => Promise<PaymentTransition | null> | PaymentTransition | null,
  /** Extra writes of the same transaction (Firestore: every read, including the ledger's, comes first). */
  alsoWrite?: (tx: PaymentsTx) => void,
  settle?: SettleIn,
  likelyEntry?: LikelyEntry,
): Promise<PaymentTransition | null> {
  let settles = false;
  const t = await deps.ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    settles = false; // a rerun of the transaction decides afresh
    // Its ledger reads leave with the payment's (one round trip instead of two).
    if (likelyEntry) prefetchEntryReads(deps.ledger, tx.ledger, lane, likelyEntry.entryId, likelyEntry.accountIds);
    // Only the lease holder settles: a run whose lease was taken over leaves it to the new holder.
    const [intent, held] = await Promise.all([
      tx.getPayment(paymentId),
      settle && !settle.held.settled ? tx.idempotency.read(settle.held.key.ref) : undefined,
    ]);
    if (!intent) throw new TallyError('NOT_FOUND', `payment ${paymentId} not found`, { field: 'payment_id' });
    const t = await decide(intent, tx);
    if (t) await saveTransition(deps, tx, lane, t, trace);
    if (t) alsoWrite?.(tx);
    const final = t && settle ? settle.finalOf(t) : null;
    if (final && held?.state === 'in_progress' && held.leaseToken === settle!.held.leaseToken) {
      settleIn(tx, settle!.held.key, final, deps.clock.nowMs(), settle!.held.created !== undefined);
      settles = true;
    }
    return t;
  }));
  if (settles) settle!.held.settled = true;
  reportAnomalies(deps, t, trace);
  return t;
}

type CallOutcome = PspOutcome | { kind: 'not_found' };

function outcomeOfCallError(error: unknown): PspOutcome {
  if (error instanceof CircuitOpenError || error instanceof ConcurrencyLimitError) {
    // Nothing was sent: safe to route elsewhere.
    return { kind: 'retryable', reason: 'unavailable', detail: error.message };
  }
  if (error instanceof TimeoutError) return { kind: 'unknown', reason: 'timeout', detail: error.message };
  // An unexpected failure after the call may have left: treat as ambiguous, never re-route.
  return { kind: 'unknown', reason: 'connection_lost', detail: (error as Error).message ?? String(error) };
}

/** One PSP call through the per-PSP limiter, breaker and deadline, mapped to an outcome. */
async function callPsp(deps: PaymentsDeps, psp: PspName, call: (gateway: PspGateway, signal: AbortSignal) => Promise<CallOutcome>): Promise<CallOutcome> {
  const gateway = deps.gateways.get(psp);
  if (!gateway) return { kind: 'retryable', reason: 'unavailable', detail: `PSP ${psp} is not configured` };
  try {
    return await deps.limiter.run(psp, async () => {
      const permit = deps.breaker.acquire(psp);
      let outcome: CallOutcome;
      try {
        outcome = await withTimeout((signal) => call(gateway, signal), { timeoutMs: deps.pspCallTimeoutMs, clock: deps.timers });
      } catch (error) {
        permit.record('failure');
        throw error;
      }
      // Declines are the PSP working fine; unavailability and ambiguity count against it.
      permit.record(outcome.kind === 'retryable' || outcome.kind === 'unknown' ? 'failure' : 'success');
      return outcome;
    });
  } catch (error) {
    return outcomeOfCallError(error);
  }
}

/**
 * Return URL of a confirm that gave none: the PSPs want one on every authorization, and a card
 * that turns out to need a challenge would otherwise fail. The customer lands on it only then.
 */
const defaultReturnUrl = 'https://tally.local/return';

async function performCall(deps: PaymentsDeps, intent: PaymentIntent, effect: PaymentEffect): Promise<CallOutcome | null> {
  switch (effect.kind) {
    case 'call_psp_authorize': {
      const method = await paymentMethodOf(deps, intent.tenantId, effect.paymentMethodId);
      const token = method?.pspTokens[effect.attempt.psp];
      if (!token) return { kind: 'retryable', reason: 'unavailable', detail: `payment method has no ${effect.attempt.psp} token` };
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.authorize({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, tenantId: intent.tenantId,
        amountMinor: effect.amountMinor, currency: effect.currency, paymentMethodToken: token,
        // A PSP that reports auto-captures as mere authorizations is always asked for manual
        // capture: the state machine then captures explicitly (found by the chaos test).
        captureMethod: gw.capturesExplicitly === true ? 'manual' : effect.captureMethod, returnUrl: intent.returnUrl ?? defaultReturnUrl, signal,
      }));
    }
    case 'call_psp_capture':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.capture({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, pspReference: effect.pspReference,
        amountMinor: effect.amountMinor, currency: effect.currency, signal,
      }));
    case 'call_psp_cancel':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.cancel({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, pspReference: effect.pspReference, signal,
      }));
    case 'call_psp_refund':
      return callPsp(deps, effect.attempt.psp, (gw, signal) => gw.refund({
        idempotencyKey: effect.attempt.idempotencyKey, paymentId: intent.id, refundId: effect.refundId,
        pspReference: effect.pspReference, amountMinor: effect.amountMinor, currency: effect.currency, signal,
      }));
    default:
      return null;
  }
}

/** Performs the PSP calls a transition asks for and records each answer; bounded rounds. */
async function runCalls(
  deps: PaymentsDeps, first: PaymentTransition, trace: TraceIds,
  /** A keyed command's lease, settled in the transaction recording its last answer when `endsWith` it. */
  keyed?: { held: Held; endsWith: (t: PaymentTransition) => boolean },
): Promise<PaymentTransition> {
  let last = first;
  const pending = first.effects.filter((e) => e.kind.startsWith('call_psp_'));
  const next = (recorded: PaymentTransition) => (recorded.changed || recorded.error ? recorded : { ...last, intent: recorded.intent });
  for (let calls = 0; pending.length > 0; calls++) {
    if (calls >= deps.pspCallsPerRequestMax) break; // the janitor finishes what is left
    const effect = pending.shift()!;
    deps.testHooks.beforePspCall?.(last.intent.id);
    const outcome = await performCall(deps, last.intent, effect);
    if (!outcome || !('attempt' in effect)) continue;
    deps.testHooks.afterPspCall?.(last.intent.id);
    const settle: SettleIn | undefined = keyed && {
      held: keyed.held,
      finalOf: (recorded) => (pending.length === 0 && !hasCalls(recorded) && keyed.endsWith(next(recorded)) ? next(recorded) : null),
    };
    const recorded = await commit(deps, last.intent.tenantId, last.intent.id, trace, (intent) =>
      applyPspOutcome(intent, { idempotencyKey: effect.attempt.idempotencyKey, source: 'call', outcome }, deps.clock.nowMs()), undefined, settle,
      capturedBy(effect, outcome) ? nextCaptureEntryReads(last.intent, effect.attempt.psp, paymentAccountId) : undefined);
    if (recorded) {
      last = next(recorded);
      pending.push(...recorded.effects.filter((e) => e.kind.startsWith('call_psp_')));
    }
  }
  return last;
}

/** Whether recording this answer posts a capture: a capture's, or an authorization's the PSP captured with. */
function capturedBy(effect: PaymentEffect, outcome: CallOutcome): boolean {
  return outcome.kind === 'captured' && (effect.kind === 'call_psp_capture' || effect.kind === 'call_psp_authorize');
}

function finish(t: PaymentTransition): PaymentIntent {
  if (t.error) throw t.error;
  return t.intent;
}

// ---- commands -----------------------------------------------------------------------------------

export async function createPayment(
  deps: PaymentsDeps, tenantId: string,
  input: {
    amountMinor: bigint; currency: string; captureMethod: string; customerId: string; paymentMethodId: string; metadata?: Readonly<Record<string, string>>;
    /** Confirm in the same call and the same first transaction (a one-call checkout). */
    confirm?: boolean; returnUrl?: string;
  },
  trace: TraceIds, key: CommandKey,
): Promise<KeyedResult> {
  if (input.confirm === true && !input.paymentMethodId) throw invalidField('payment_method_id', 'required to confirm', 'FIELD_REQUIRED');
  // A payment that is confirmed (charged) by the call creating it takes its id from the key and
  // the request: a rerun after a crash finds it (startKeyed) instead of charging a second one.
  const id = input.confirm === true ? derivedId('pay', [key.ref.scope, key.ref.method, key.ref.key, key.requestHash]) : newId('pay');
  const t = createPaymentIntent({
    amountMinor: input.amountMinor, currency: input.currency, captureMethod: input.captureMethod,
    customerId: input.customerId || null, paymentMethodId: input.paymentMethodId || null, metadata: input.metadata, fees: deps.fees,
  }, { id, tenantId, nowMs: deps.clock.nowMs(), traceId: trace.traceId });
  // Independent reads, made together.
  const [method] = await Promise.all([
    input.paymentMethodId ? requirePaymentMethod(deps, tenantId, input.paymentMethodId) : undefined,
    input.customerId ? requireCustomer(deps, tenantId, input.customerId) : undefined,
  ]);
  if (method) requireSameCustomer(method, input.customerId || null);
  await ensurePaymentAccounts(deps, tenantId, input.currency);
  if (input.confirm === true) {
    // Created and confirmed in one transaction (one commit fewer than two calls), then as confirm.
    return confirmKeyed(deps, tenantId, { created: t }, '', input.returnUrl ?? '', trace, key);
  }
  // A new payment is all new (and posts nothing): one blind write of creates (payment, index,
  // outbox, the key's completed record), committed with others arriving meanwhile (ADR 0016).
  // Anything already there (a replay or another request under the key) makes it fail as a whole,
  // and the transaction below decides: it reads the key, and saves the payment with its response.
  const completed = { requestHash: key.requestHash, response: key.encode(t.intent), nowMs: deps.clock.nowMs(), retentionMs: key.options.retentionMs };
  if (await deps.store.createPaymentAtOnce({ intent: t.intent, outbox: outboxEventsOf(t, trace), trace, key: { ref: key.ref, completed } })) {
    return { kind: 'fresh', intent: t.intent };
  }
  return waitWhileInProgress(key.options, () => deps.ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx): Promise<KeyedResult | 'in_progress'> => {
    const answered = answerWithoutExecuting(key, await tx.idempotency.read(key.ref), deps.clock.nowMs());
    if (answered !== null) return answered;
    await saveTransition(deps, tx, lane, t, trace);
    settleIn(tx, key, t, deps.clock.nowMs());
    return { kind: 'fresh', intent: t.intent };
  })));
}

/** A payment method, through the instance cache (immutable once created; misses are not cached). */
async function paymentMethodOf(deps: PaymentsDeps, tenantId: string, paymentMethodId: string): Promise<PaymentMethod | undefined> {
  const cache = deps.caches?.paymentMethods;
  if (!cache) return deps.store.getPaymentMethod(tenantId, paymentMethodId);
  const key = `${tenantId}/${paymentMethodId}`;
  const method = await cache.get(key, () => deps.store.getPaymentMethod(tenantId, paymentMethodId));
  if (!method) cache.delete(key); // it may be created a moment later
  return method;
}

function routingRulesOf(deps: PaymentsDeps, tenantId: string): Promise<RoutingRule[] | undefined> {
  const cache = deps.caches?.routingRules;
  return cache ? cache.get(tenantId, () => deps.store.getRoutingRules(tenantId)) : deps.store.getRoutingRules(tenantId);
}

async function requireCustomer(deps: PaymentsDeps, tenantId: string, customerId: string): Promise<void> {
  if (!(await deps.store.getCustomer(tenantId, customerId))) throw new TallyError('NOT_FOUND', `customer ${customerId} not found`, { field: 'customer_id' });
}

/** As at Stripe: a payment method saved for one customer is never charged for another. */
function requireSameCustomer(method: PaymentMethod, customerId: string | null): void {
  if (method.customerId && customerId !== null && method.customerId !== customerId) {
    throw invalidField('payment_method_id', `belongs to customer ${method.customerId}, not ${customerId}`);
  }
}

async function requirePaymentMethod(deps: PaymentsDeps, tenantId: string, paymentMethodId: string) {
  const method = await paymentMethodOf(deps, tenantId, paymentMethodId);
  if (!method) throw new TallyError('NOT_FOUND', `payment method ${paymentMethodId} not found`, { field: 'payment_method_id' });
  return method;
}

const defaultRules = (): RoutingRule[] => validateRoutingRules([{ name: 'default', choices: pspNames.map((psp) => ({ psp, weight: 1 })) }]);

const automaticCaptureLeftAuthorized = (t: PaymentTransition) =>
  !t.error && t.intent.captureMethod === 'automatic' && t.intent.status === 'requires_capture';

export function confirm(deps: PaymentsDeps, tenantId: string, paymentId: string, paymentMethodIdInput: string, trace: TraceIds, key: CommandKey, returnUrl = ''): Promise<KeyedResult> {
  return confirmKeyed(deps, tenantId, { paymentId }, paymentMethodIdInput, returnUrl, trace, key);
}

/** Confirms a stored payment, or one created in the same first transaction. */
function confirmKeyed(deps: PaymentsDeps, tenantId: string, target: Target, paymentMethodIdInput: string, returnUrl: string, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  // Routing is decided on the intent the transaction read (no separate read before it); the
  // method and rules come from the instance caches, so a rerun of the transaction costs no reads.
  const decide = async (intent: PaymentIntent) => {
    const paymentMethodId = paymentMethodIdInput || intent.paymentMethodId;
    if (!paymentMethodId) throw invalidField('payment_method_id', 'required to confirm', 'FIELD_REQUIRED');
    const method = await requirePaymentMethod(deps, tenantId, paymentMethodId);
    requireSameCustomer(method, intent.customerId);
    const rules = (await routingRulesOf(deps, tenantId)) ?? defaultRules();
    const availability = Object.fromEntries(pspNames.map((psp) => [psp, deps.gateways.has(psp) && deps.breaker.state(psp) !== 'open'])) as Record<PspName, boolean>;
    const brand = (cardBrands as readonly string[]).includes(method.brand) ? (method.brand as CardBrand) : null;
    const psps = choosePsps(rules, { amountMinor: intent.amountMinor, currency: intent.currency, cardBrand: brand, country: method.country || null }, availability, deps.random())
      .filter((psp) => method.pspTokens[psp] !== undefined);
    return confirmPayment(intent, { psps, paymentMethodId: paymentMethodIdInput || null, returnUrl }, deps.clock.nowMs());
  };
  // The command goes on (capture retries below) while an automatic capture is left authorized.
  const endsWith = (t: PaymentTransition) => !automaticCaptureLeftAuthorized(t);
  const start = () => ('created' in target ? startCreated(deps, tenantId, target.created, trace, key, decide, endsWith) : startKeyed(deps, tenantId, target, trace, key, decide, endsWith));
  return runKeyed(key, start, async ({ t, held }) => {
    const paymentId = t.intent.id;
    const done = await runCalls(deps, t, trace, { held, endsWith });
    if (!automaticCaptureLeftAuthorized(done)) return finish(done);
    // Automatic capture whose capture call certainly did not happen (retryable): capture again,
    // bounded, with jittered backoff, instead of leaving the payment authorized but uncaptured.
    return retryWithJitter(async () => {
      const again = await runCalls(deps, (await commit(deps, tenantId, paymentId, trace, (intent) =>
        intent.status === 'requires_capture' ? capturePayment(intent, {}, deps.clock.nowMs()) : null))
        ?? { intent: await getPayment(deps, tenantId, paymentId), effects: [], changed: false, error: null }, trace);
      if (again.intent.status === 'requires_capture') throw new TallyError('PSP_UNAVAILABLE', 'the capture could not be made now; it will be retried');
      return finish(again);
    }, { attemptsMax: 3, baseDelayMs: 50, delayMsMax: 500, retryable: (e) => e instanceof TallyError && e.reason === 'PSP_UNAVAILABLE', clock: deps.timers });
  });
}

/** A command that is one decision and the PSP calls it asks for. */
function simpleCommand(deps: PaymentsDeps, tenantId: string, paymentId: string, trace: TraceIds, key: CommandKey, decide: (intent: PaymentIntent) => PaymentTransition): Promise<KeyedResult> {
  return runKeyed(key, () => startKeyed(deps, tenantId, { paymentId }, trace, key, decide),
    async ({ t, held }) => finish(await runCalls(deps, t, trace, { held, endsWith: () => true })));
}

export function capture(deps: PaymentsDeps, tenantId: string, paymentId: string, amountMinor: bigint | null, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => capturePayment(intent, { amountMinor }, deps.clock.nowMs()));
}

export function cancel(deps: PaymentsDeps, tenantId: string, paymentId: string, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => cancelPayment(intent, deps.clock.nowMs()));
}

/** Refunds under `refundId` (the caller's: its response names the refund). */
export function refund(deps: PaymentsDeps, tenantId: string, paymentId: string, refundId: string, amountMinor: bigint | null, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => refundPayment(intent, { refundId, amountMinor }, deps.clock.nowMs()));
}

/** Sets or (empty value) removes metadata keys, in any status; no PSP call. */
export function updateMetadata(deps: PaymentsDeps, tenantId: string, paymentId: string, changes: Readonly<Record<string, string>>, trace: TraceIds, key: CommandKey): Promise<KeyedResult> {
  return simpleCommand(deps, tenantId, paymentId, trace, key, (intent) => updatePaymentMetadata(intent, changes, deps.clock.nowMs()));
}

export async function getPayment(deps: PaymentsDeps, tenantId: string, paymentId: string): Promise<PaymentIntent> {
  const intent = paymentId === '' ? undefined : await deps.store.getPayment(tenantId, paymentId);
  if (!intent) throw new TallyError('NOT_FOUND', `payment ${paymentId} not found`, { field: 'payment_id' });
  return intent;
}

// ---- PSP events (webhooks) and the janitor -------------------------------------------------------

/** `pspWebhook`: verify (by the connector), store in the inbox by PSP event id; returns what to publish. */
/** How long an event naming only an unknown PSP reference is kept for matching (disputes come days later, at most weeks). */
export const parkedEventRetentionMs = 30 * 24 * 3_600_000;

export async function receiveWebhook(deps: PaymentsDeps, psp: PspName, rawBody: Buffer, headers: Record<string, string | undefined>):
  Promise<{ stored: { tenantId: string; inboxId: string; paymentId: string }[]; unmatched: PspWebhookEvent[]; parked: PspWebhookEvent[] }> {
  const gateway = deps.gateways.get(psp);
  if (!gateway) throw new TallyError('NOT_FOUND', `unknown PSP ${psp}`, { field: 'psp' });
  const events = gateway.verifyWebhook(rawBody, headers, deps.clock.nowMs());
  const toPublish: { tenantId: string; inboxId: string; paymentId: string }[] = [];
  const unmatched: PspWebhookEvent[] = [];
  const parked: PspWebhookEvent[] = [];
  for (const event of events) {
    // By our payment id when the event carries it, else (disputes name only the PSP's ids) by the
    // PSP reference the payment recorded when it first learned it.
    const paymentId = event.paymentId;
    const match = paymentId === null
      ? await deps.store.paymentOfPspReference(psp, event.pspReference)
      : { tenantId: await deps.store.tenantOfPayment(paymentId), paymentId };
    if (match?.tenantId === undefined) {
      if (paymentId === null) {
        // Only a PSP reference, which may be ours but not recorded yet (its authorization still
        // unknown): parked for the janitor to match once it is, instead of lost.
        await deps.store.parkUnmatchedEvent(event, deps.clock.nowMs(), deps.clock.nowMs() + parkedEventRetentionMs);
        parked.push(event);
      } else {
        // Names a payment id we do not have: not ours; the PSP would not help by retrying.
        unmatched.push(event);
      }
      continue;
    }
    const inboxId = `${psp}:${event.pspEventId}`;
    // Stored with the payment id it was matched to, so processing never has to match it again.
    await deps.store.storeInboxEvent(match.tenantId, inboxId, { ...event, paymentId: match.paymentId }, deps.clock.nowMs());
    // Published even for a duplicate delivery: processing is exactly-once by the inbox flag,
    // and this heals an earlier publish that failed after the inbox write.
    toPublish.push({ tenantId: match.tenantId, inboxId, paymentId: match.paymentId });
  }
  return { stored: toPublish, unmatched, parked };
}

/**
 * Parked events (see `receiveWebhook`) whose PSP reference a payment has recorded since: stored in
 * its inbox and applied exactly once, then unparked. Bounded; the rest wait for the next run or
 * expire (TTL).
 */
export async function rematchParkedEvents(deps: PaymentsDeps, trace: TraceIds, limit: number): Promise<number> {
  let rematched = 0;
  for (const { parkedId, event } of await deps.store.listParkedEvents(limit)) {
    const match = await deps.store.paymentOfPspReference(event.psp, event.pspReference);
    if (!match) continue;
    const inboxId = `${event.psp}:${event.pspEventId}`;
    await deps.store.storeInboxEvent(match.tenantId, inboxId, { ...event, paymentId: match.paymentId }, deps.clock.nowMs());
    await processInboxEvent(deps, match.tenantId, inboxId, trace);
    await deps.store.dropParkedEvent(parkedId);
    rematched++;
  }
  return rematched;
}


/** `processPspEvent`: apply one stored PSP event to its payment, exactly once. */
export async function processInboxEvent(deps: PaymentsDeps, tenantId: string, inboxId: string, trace: TraceIds): Promise<'applied' | 'duplicate' | 'missing'> {
  const stored = await deps.store.getInboxEvent(tenantId, inboxId);
  if (!stored) return 'missing';
  if (stored.processed) return 'duplicate';
  const event: PspWebhookEvent = stored.event;
  // receiveWebhook stores only matched events, with the payment id filled in.
  const paymentId = event.paymentId;
  if (paymentId === null) return 'missing';
  const apply = async (): Promise<'applied' | 'duplicate'> => {
    let duplicate = false;
    const t = await commit(deps, tenantId, paymentId, trace, async (intent, tx) => {
      if (await tx.isEventProcessed(inboxId)) {
        duplicate = true;
        return null;
      }
      return applyWebhook(intent, event, deps.clock.nowMs());
    }, (tx) => tx.markEventProcessed(inboxId, deps.clock.nowMs()));
    if (duplicate) return 'duplicate';
    if (t) await runCalls(deps, t, trace);
    return 'applied';
  };
  return deps.eventsByPayment ? deps.eventsByPayment.run(`${tenantId}/${paymentId}`, apply) : apply();
}

/**
 * `paymentJanitor`: settles attempts in flight for longer than `graceMs` (which must exceed the
 * PSP call deadline) by asking the PSP (lookup for payment operations, resend for refunds).
 */
export async function runJanitor(deps: PaymentsDeps, trace: TraceIds, options: { graceMs: number; paymentsMax: number }): Promise<{ examined: number; resolved: number; rematched: number; failures: { paymentId: string; error: string }[] }> {
  if (options.graceMs <= deps.pspCallTimeoutMs) throw new Error('assertion failed: janitor grace must exceed the PSP call deadline');
  const nowMs = deps.clock.nowMs();
  const due = await deps.store.findUnresolved(nowMs - options.graceMs, options.paymentsMax);
  let resolved = 0;
  const failures: { paymentId: string; error: string }[] = [];
  for (const { tenantId, paymentId } of due) {
    try {
      resolved += await settlePayment(deps, tenantId, paymentId, nowMs, options.graceMs, trace);
    } catch (error) {
      // One payment that cannot be settled now must not stop the others; it is due again next run.
      failures.push({ paymentId, error: (error as Error).message });
    }
  }
  // Automatic-capture payments whose capture call certainly failed earlier: capture them now.
  const captureDue = await deps.store.findCaptureDue(nowMs - options.graceMs, options.paymentsMax);
  for (const { tenantId, paymentId } of captureDue) {
    try {
      const t = await commit(deps, tenantId, paymentId, trace, (intent) =>
        isCaptureDue(intent) ? capturePayment(intent, {}, deps.clock.nowMs()) : null);
      if (t?.changed) {
        await runCalls(deps, t, trace);
        resolved++;
      }
    } catch (error) {
      failures.push({ paymentId, error: (error as Error).message });
    }
  }
  // Events parked for lack of a known PSP reference: the settlements above may have recorded it.
  let rematched = 0;
  try {
    rematched = await rematchParkedEvents(deps, trace, options.paymentsMax);
  } catch (error) {
    failures.push({ paymentId: '(parked events)', error: (error as Error).message });
  }
  return { examined: due.length + captureDue.length, resolved, rematched, failures };
}

async function settlePayment(deps: PaymentsDeps, tenantId: string, paymentId: string, nowMs: number, graceMs: number, trace: TraceIds): Promise<number> {
  const intent = await deps.store.getPayment(tenantId, paymentId);
  if (!intent) return 0;
  let resolved = 0;
  for (const attempt of attemptsToResolve(intent, nowMs, graceMs)) {
    if (!deps.gateways.get(attempt.psp)) continue;
    const isRefund = attempt.operation === 'refund';
    const outcome = isRefund
      ? await callPsp(deps, attempt.psp, (gw, signal) => gw.refund({
        idempotencyKey: attempt.idempotencyKey, paymentId, refundId: attempt.refundId ?? '', pspReference: intent.pspReference ?? '',
        amountMinor: attempt.amountMinor ?? 0n, currency: intent.currency, signal,
      }))
      : await callPsp(deps, attempt.psp, (gw, signal) =>
        hedgedLookup(gw, { paymentId, pspReference: attempt.pspReference ?? intent.pspReference }, signal, { ...deps.lookupHedge, clock: deps.timers }));
    const t = await commit(deps, tenantId, paymentId, trace, (current) =>
      applyPspOutcome(current, { idempotencyKey: attempt.idempotencyKey, source: isRefund ? 'resend' : 'lookup', outcome }, deps.clock.nowMs()));
    if (t?.changed) {
      resolved++;
      await runCalls(deps, t, trace);
    }
  }
  return resolved;
}

export function setRoutingRules(deps: PaymentsDeps, tenantId: string, rules: Parameters<typeof validateRoutingRules>[0]): Promise<RoutingRule[]> {
  const valid = validateRoutingRules(rules);
  return deps.store.setRoutingRules(tenantId, valid).then(() => {
    deps.caches?.routingRules.delete(tenantId); // this instance applies them at once; others within the TTL
    return valid;
  });
}
