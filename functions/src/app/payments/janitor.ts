/** The payment janitor: settles attempts left in flight, captures due automatic captures, rematches parked events. */
import { attemptsToResolve, applyPspOutcome, capturePayment, isCaptureDue } from '../../domain/payments/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Clock } from '../../ports/clock.js';
import type { UnresolvedEntry } from '../../ports/payments-store.js';
import type { PaymentIntent } from '../../domain/payments/index.js';
import { hedgedLookup } from './hedged-lookup.js';
import type { PaymentsDeps } from './payments-deps.js';
import { callPsp, runCalls } from './psp-calls.js';
import { commit } from './transitions.js';
import { rematchParkedEvents } from './webhooks-inbox.js';

/** What bounds one janitor run (ADR 0023). */
export interface JanitorOptions {
  /** How long an attempt may stay unsettled before the janitor asks the PSP (> the PSP call deadline). */
  graceMs: number;
  /** Most payments the run examines from its queue (and most automatic captures it retries). */
  paymentsMax: number;
  /** Payments settled at once, 1..64 (each PSP call still waits for its PSP's limiter and breaker). Default 16. */
  concurrencyMax?: number;
  /** How long the run starts new settlements; those started finish. Default 45 s. */
  runMs?: number;
  /** Payments read from the queue per page (1..1000). Default 100. */
  pageSize?: number;
}

export interface JanitorReport {
  examined: number;
  resolved: number;
  rematched: number;
  /** Payments still due when the run ended (a bound or the deadline stopped it): the next run's. */
  left: number;
  /** Why the queue walk ended: it was empty, `paymentsMax`, or `runMs`. */
  stoppedBy: DrainStop;
  elapsedMs: number;
  failures: { paymentId: string; error: string }[];
}

export const janitorDefaults = { concurrencyMax: 16, runMs: 45_000, pageSize: 100 } as const;

/**
 * `paymentJanitor`: settles attempts in flight for longer than `graceMs` (which must exceed the
 * PSP call deadline) by asking the PSP (lookup for payment operations, resend for refunds). It
 * pages through its queue and settles up to `concurrencyMax` payments at once, until the queue
 * is empty, `paymentsMax` were examined or `runMs` passed, logging each page (issue 12 item 3).
 */
export async function runJanitor(deps: PaymentsDeps, trace: TraceIds, options: JanitorOptions): Promise<JanitorReport> {
  if (options.graceMs <= deps.pspCallTimeoutMs) throw new Error('assertion failed: janitor grace must exceed the PSP call deadline');
  const concurrencyMax = options.concurrencyMax ?? janitorDefaults.concurrencyMax;
  const runMs = options.runMs ?? janitorDefaults.runMs;
  const pageSize = options.pageSize ?? janitorDefaults.pageSize;
  const nowMs = deps.clock.nowMs();
  const cutoffMs = nowMs - options.graceMs;
  const failures: { paymentId: string; error: string }[] = [];
  const walk = await drainQueue<UnresolvedEntry>({
    fetchPage: (after, limit) => deps.store.findUnresolved(cutoffMs, limit, after),
    settle: async ({ tenantId, paymentId, intent }) => (await settlePayment(deps, tenantId, paymentId, nowMs, options.graceMs, trace, intent)) > 0,
    // Not settled by this try: behind every other in the queue, so that payments that cannot be
    // settled (however many) never keep the others from being tried (issue 11 item 12).
    requeue: ({ tenantId, paymentId }) => deps.store.requeueUnresolved(tenantId, paymentId, nowMs),
    onFailure: ({ paymentId }, error) => failures.push({ paymentId, error }),
    onPage: (page) => deps.logger.info('payment janitor page', { ...page }),
    clock: deps.clock, concurrencyMax, paymentsMax: options.paymentsMax, pageSize, runMs,
  });
  let resolved = walk.resolved;
  // Automatic-capture payments whose capture call certainly failed earlier: capture them now, at
  // the same parallelism, while the run's deadline allows.
  const captureDue = await deps.store.findCaptureDue(cutoffMs, options.paymentsMax);
  const captures = await settleBounded(captureDue, {
    concurrencyMax, clock: deps.clock, deadlineMs: walk.startMs + runMs,
    settle: async ({ tenantId, paymentId }) => {
      const t = await commit(deps, tenantId, paymentId, trace, (intent) =>
        isCaptureDue(intent) ? capturePayment(intent, {}, deps.clock.nowMs()) : null);
      if (!t?.changed) return false;
      await runCalls(deps, t, trace);
      return true;
    },
    onFailure: ({ paymentId }, error) => failures.push({ paymentId, error }),
  });
  resolved += captures.resolved;
  // Events parked for lack of a known PSP reference: the settlements above may have recorded it.
  let rematched = 0;
  try {
    rematched = await rematchParkedEvents(deps, trace, options.paymentsMax);
  } catch (error) {
    failures.push({ paymentId: '(parked events)', error: (error as Error).message });
  }
  // An emptied queue leaves nothing due; a bound that stopped the walk says how much it left
  // (one aggregation query), so that a backlog is visible rather than silently carried over.
  let left = 0;
  if (walk.stoppedBy !== 'empty') {
    try {
      left = await deps.store.countUnresolved(cutoffMs);
    } catch (error) {
      left = -1;
      failures.push({ paymentId: '(queue count)', error: (error as Error).message });
    }
  }
  return {
    examined: walk.examined + captures.examined, resolved, rematched, left, stoppedBy: walk.stoppedBy,
    elapsedMs: deps.clock.nowMs() - walk.startMs, failures,
  };
}

export type DrainStop = 'empty' | 'payments_max' | 'deadline';

/** One page of a queue walk, as logged. */
export interface DrainPage {
  page: number;
  /** Items of this page started. */
  examined: number;
  /** Settled (they left the queue). */
  resolved: number;
  /** Tried and not settled (an answer that settles nothing, or a failure): moved to the back of the queue. */
  requeued: number;
  /** Threw, settling or requeueing (each counted): tried again by a later run. */
  failed: number;
  /** Read but not started (the deadline passed): untouched, still where they were in the queue. */
  remainingInPage: number;
  /** Since the walk started. */
  elapsedMs: number;
}

export interface DrainOptions<T> {
  /** The next page of at most `limit` items after `after` (an item of the page before), in queue order. */
  fetchPage(after: T | undefined, limit: number): Promise<T[]>;
  /** Settles one item: true when it left the queue, false when it is still unresolved. */
  settle(item: T): Promise<boolean>;
  /** Moves an item that was not settled behind every other (never dropped). */
  requeue(item: T): Promise<void>;
  onFailure(item: T, error: string): void;
  onPage(page: DrainPage): void;
  clock: Clock;
  concurrencyMax: number;
  paymentsMax: number;
  pageSize: number;
  runMs: number;
}

/**
 * Walks a queue page by page, settling each page's items `concurrencyMax` at once, until the
 * queue is empty, `paymentsMax` items were started, or `runMs` passed (no new item starts after
 * it; those running finish). Pages are read one after another with a cursor, so each item is
 * examined at most once per walk, whatever settling does to the items before it.
 */
export async function drainQueue<T>(options: DrainOptions<T>): Promise<{ examined: number; resolved: number; stoppedBy: DrainStop; startMs: number }> {
  const { clock, concurrencyMax, paymentsMax, pageSize, runMs } = options;
  const ok = [concurrencyMax, paymentsMax, pageSize].every((n) => Number.isInteger(n) && n >= 1) && Number.isFinite(runMs) && runMs > 0;
  if (!ok) throw new Error('assertion failed: concurrencyMax, paymentsMax, pageSize >= 1 and runMs > 0');
  const startMs = clock.nowMs();
  const deadlineMs = startMs + runMs;
  let examined = 0;
  let resolved = 0;
  let after: T | undefined;
  // Bounded by paymentsMax: every page but the last starts at least one item (or ends the walk).
  for (let page = 1; ; page++) {
    if (examined >= paymentsMax) return { examined, resolved, stoppedBy: 'payments_max', startMs };
    if (clock.nowMs() >= deadlineMs) return { examined, resolved, stoppedBy: 'deadline', startMs };
    const limit = Math.min(pageSize, paymentsMax - examined);
    const items = await options.fetchPage(after, limit);
    after = items.at(-1);
    let requeued = 0;
    let failed = 0;
    const done = await settleBounded(items, {
      concurrencyMax, clock, deadlineMs,
      settle: async (item) => {
        let settled = false;
        let settleError: unknown;
        try {
          settled = await options.settle(item);
        } catch (error) {
          settleError = error;
        }
        if (settled) return true;
        // Not settled, answered or thrown: to the back of the queue, never dropped (issue 11 item 12).
        try {
          await options.requeue(item);
          requeued++;
        } catch (error) {
          if (settleError === undefined) throw error;
          options.onFailure(item, (error as Error).message ?? String(error));
          failed++;
        }
        if (settleError !== undefined) throw settleError;
        return false;
      },
      onFailure: (item, error) => {
        failed++;
        options.onFailure(item, error);
      },
    });
    examined += done.examined;
    resolved += done.resolved;
    options.onPage({
      page, examined: done.examined, resolved: done.resolved, requeued, failed,
      remainingInPage: items.length - done.examined, elapsedMs: clock.nowMs() - startMs,
    });
    if (done.examined < items.length) return { examined, resolved, stoppedBy: 'deadline', startMs };
    if (items.length < limit) return { examined, resolved, stoppedBy: 'empty', startMs };
  }
}

/**
 * Settles `items` with at most `concurrencyMax` at once, in order, starting none after
 * `deadlineMs`. One that throws is reported and does not stop the others.
 */
export async function settleBounded<T>(items: readonly T[], options: {
  concurrencyMax: number; clock: Clock; deadlineMs: number;
  settle: (item: T) => Promise<boolean>; onFailure: (item: T, error: string) => void;
}): Promise<{ examined: number; resolved: number }> {
  let next = 0;
  let resolved = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && options.clock.nowMs() < options.deadlineMs) {
      const item = items[next++]!;
      try {
        if (await options.settle(item)) resolved++;
      } catch (error) {
        // One item that cannot be settled now must not stop the others; it is due again next run.
        options.onFailure(item, (error as Error).message ?? String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrencyMax, items.length) }, worker));
  return { examined: next, resolved };
}

/** Settles a payment's unresolved attempts; `read` is the payment as the queue's query read it (its transaction reads it again). */
async function settlePayment(deps: PaymentsDeps, tenantId: string, paymentId: string, nowMs: number, graceMs: number, trace: TraceIds, read?: PaymentIntent): Promise<number> {
  const intent = read ?? await deps.store.getPayment(tenantId, paymentId);
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
