/**
 * Saving a payment transition: "decide in one Firestore transaction" with its ledger entries and
 * outbox events (`commit`), and reporting the anomalies it raised once it committed.
 */
import { nextCaptureEntryReads, paymentLedgerEntry, type PaymentIntent, type PaymentTransition } from '../../domain/payments/index.js';
import { TallyError } from '../../domain/errors.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { PaymentsTx } from '../../ports/payments-store.js';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import { planEntry, prefetchEntryReads } from '../ledger/ledger-use-cases.js';
import { settleIn, type Held } from './command-key.js';
import { paymentAccountId } from './payment-accounts.js';
import type { PaymentsDeps } from './payments-deps.js';

/** The message anomalies are logged with; the log-based metric `tally/payment_anomaly` filters on it. */
export const paymentAnomalyMessage = 'payment anomaly';

/**
 * Logs what the domain reported as looking wrong (a PSP event contradicting what is recorded, a
 * capture that can no longer be unwound, ...): nothing changed for it, so a human or
 * reconciliation must look. Called once a transaction committed, so a rerun does not log twice.
 */
export function reportAnomalies(deps: PaymentsDeps, t: PaymentTransition | null, trace: TraceIds): void {
  for (const effect of t?.effects ?? []) {
    if (effect.kind !== 'report_anomaly') continue;
    deps.logger.error(paymentAnomalyMessage, {
      reason: effect.reason, psp: effect.psp, detail: effect.detail, paymentId: t!.intent.id, tenantId: t!.intent.tenantId, traceId: trace.traceId,
    });
  }
}

/** The outbox event type of an anomaly recorded with a payment (a durable record beside the log line). */
export const paymentAnomalyEventType = 'payment.anomaly';

/**
 * Saves a transition with its ledger entries and outbox events in the caller's transaction.
 *
 * What the PSP did is recorded whatever the ledger answers (issue 11 item 1): when the ledger
 * refuses one of the transition's entries (a typed refusal: its id taken by other content, a
 * system account closed, a code taken, ...), the payment is saved without the transition's entries
 * (none of them, so nothing is half-posted) and with a `payment.anomaly` outbox event naming them;
 * the returned transition carries a `ledger_entry_refused` anomaly for the log. Otherwise the
 * payment would stay PROCESSING with nothing recorded and every webhook redelivery would fail the
 * same way. Storage failures (contention, unavailability) are not refusals: they fail the
 * transaction, which is retried as before.
 */
export async function saveTransition(deps: PaymentsDeps, tx: PaymentsTx, lane: number, t: PaymentTransition, trace: TraceIds): Promise<PaymentTransition> {
  if (!t.changed) return t;
  const plans = [];
  let refused: { entryId: string; error: TallyError } | null = null;
  for (const effect of t.effects) {
    if (effect.kind !== 'post_ledger') continue;
    const entry = paymentLedgerEntry(effect.event, paymentAccountId);
    try {
      plans.push(await planEntry(deps.ledger, tx.ledger, lane, t.intent.tenantId, entry, trace));
    } catch (error) {
      if (!isLedgerRefusal(error)) throw error;
      refused = { entryId: entry.id, error };
      break;
    }
  }
  tx.savePayment(t.intent, trace, t.effects.some((e) => e.kind === 'publish_event' && e.event.type === 'payment.created'));
  if (!refused) for (const plan of plans) plan.commit();
  for (const event of outboxEventsOf(t, trace)) tx.createOutboxEvent(event);
  if (!refused) return t;
  const notPosted = t.effects.flatMap((e) => (e.kind === 'post_ledger' ? [paymentLedgerEntry(e.event, paymentAccountId).id] : []));
  const detail = `ledger refused entry ${refused.entryId} (${refused.error.reason}: ${refused.error.message}); not posted: ${notPosted.join(', ')}`;
  tx.createOutboxEvent({
    // Deterministic: a rerun of the transaction writes the same id.
    id: `evt_${t.intent.id}_${t.intent.version}_anomaly`,
    type: paymentAnomalyEventType,
    aggregateId: t.intent.id,
    payload: {
      paymentId: t.intent.id, reason: 'ledger_entry_refused', psp: t.intent.psp, status: t.intent.status,
      refusedEntryId: refused.entryId, ledgerReason: refused.error.reason, entryIdsNotPosted: notPosted, detail,
      payment: paymentSnapshot(t.intent),
    },
    createdAtMs: t.intent.updatedAtMs,
    ...trace,
  });
  return { ...t, effects: [...t.effects, { kind: 'report_anomaly', reason: 'ledger_entry_refused', psp: t.intent.psp, detail }] };
}

/** Typed errors that a later try may not meet (contention, a PSP or key busy now); every other typed error is a refusal. */
const retryableReasons: readonly string[] = ['CONTENTION', 'IDEMPOTENCY_KEY_IN_PROGRESS', 'PSP_UNAVAILABLE', 'INTERNAL'];

/** A typed refusal (deterministic: retrying changes nothing), not a storage failure or a busy resource. */
export function isPermanentRefusal(error: unknown): error is TallyError {
  return error instanceof TallyError && !retryableReasons.includes(error.reason);
}

const isLedgerRefusal = isPermanentRefusal;

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

/**
 * The payment as it stands after the transition, carried by every payment event (`payload.payment`)
 * so that consumers see its state at the event without reading it back: amounts as decimal strings
 * of minor units, `version` ordering the snapshots of one payment. Two readers: the analytics sink
 * (adapters/clickhouse/payment-snapshot-row.ts: version, status, psp, the amounts, feeMinor,
 * declineReason, createdAtMs) and merchant webhooks, whose `data.object` is this payment exactly as
 * the API shows it (adapters/proto/payment-event-object.ts maps it through the RPC's own
 * `paymentToProto`, so every field the API returns is here: issue 16 item 2).
 */
export function paymentSnapshot(p: PaymentTransition['intent']): Record<string, unknown> {
  return {
    version: p.version, status: p.status, psp: p.psp ?? '', amountMinor: p.amountMinor.toString(), currency: p.currency,
    amountAuthorizedMinor: p.amountAuthorizedMinor.toString(), amountCapturedMinor: p.amountCapturedMinor.toString(),
    amountRefundedMinor: p.amountRefundedMinor.toString(), amountChargedBackMinor: (p.chargeback?.amountMinor ?? 0n).toString(),
    feeMinor: p.platformFeeMinor.toString(), declineReason: p.declineReason ?? '', createdAtMs: p.createdAtMs,
    // The rest of what the API shows (nulls kept as null; both bounded: REFUNDS_MAX refunds, metadata bounded at the edge).
    id: p.id, captureMethod: p.captureMethod, paymentMethodId: p.paymentMethodId, customerId: p.customerId, pspReference: p.pspReference,
    nextActionUrl: p.nextActionUrl, amountCapturableMinor: p.amountCapturableMinor.toString(),
    refunds: p.refunds.map((r) => ({ id: r.id, amountMinor: r.amountMinor.toString(), status: r.status })),
    disputeStatus: p.dispute?.status ?? null, pricing: { rateBps: p.fees.rateBps, fixedMinor: p.fees.fixedMinor.toString() },
    metadata: { ...p.metadata }, traceId: p.traceId, updatedAtMs: p.updatedAtMs,
  };
}

/** The outbox events of a transition's `publish_event` effects. */
export function outboxEventsOf(t: PaymentTransition, trace: TraceIds): OutboxEvent[] {
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
      payload: { ...(bigintsAsStrings(effect.event) as Record<string, unknown>), payment: paymentSnapshot(t.intent) },
      createdAtMs: t.intent.updatedAtMs,
      ...trace,
    });
  }
  return events;
}

/** Settling a held key in a later transaction: `finalOf` says whether (and with what) the command ends there. */
export interface SettleIn { held: Held; finalOf: (recorded: PaymentTransition) => PaymentTransition | null }

/** The ledger entry a transaction will likely post: read with the payment. */
export type LikelyEntry = ReturnType<typeof nextCaptureEntryReads>;

/** One transaction: load, decide, save (with ledger and outbox). */
export async function commit(
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
    const decided = await decide(intent, tx);
    const t = decided && (await saveTransition(deps, tx, lane, decided, trace));
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
