/** PSP events: verified and stored in the inbox by `receiveWebhook`, applied once by `processInboxEvent`; parked when unmatched. */
import { TallyError } from '../../domain/errors.js';
import { applyWebhook } from '../../domain/payments/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { PspName, PspWebhookEvent } from '../../ports/psp-gateway.js';
import type { PaymentsDeps } from './payments-deps.js';
import { runCalls } from './psp-calls.js';
import { commit, isPermanentRefusal, paymentAnomalyMessage } from './transitions.js';

/** How long an event naming only an unknown PSP reference is kept for matching (disputes come days later, at most weeks). */
export const parkedEventRetentionMs = 30 * 24 * 3_600_000;
/** `pspWebhook`: verify (by the connector), store in the inbox by PSP event id; returns what to publish. */
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
 * expire (TTL). Each event tried and still unmatched goes to the back of the queue, so events that
 * never match (however many) cannot keep a matching one behind them (issue 11 item 12).
 */
export async function rematchParkedEvents(deps: PaymentsDeps, trace: TraceIds, limit: number): Promise<number> {
  let rematched = 0;
  for (const { parkedId, event } of await deps.store.listParkedEvents(limit)) {
    const match = await deps.store.paymentOfPspReference(event.psp, event.pspReference);
    if (!match) {
      await deps.store.requeueParkedEvent(parkedId, deps.clock.nowMs());
      continue;
    }
    const inboxId = `${event.psp}:${event.pspEventId}`;
    await deps.store.storeInboxEvent(match.tenantId, inboxId, { ...event, paymentId: match.paymentId }, deps.clock.nowMs());
    await processInboxEvent(deps, match.tenantId, inboxId, trace);
    await deps.store.dropParkedEvent(parkedId);
    rematched++;
  }
  return rematched;
}


/**
 * `processPspEvent`: apply one stored PSP event to its payment, exactly once. An event that can
 * never apply (a typed refusal, e.g. its payment is gone) is recorded as failed in the inbox and
 * logged as an anomaly, and answers 'failed': redelivering it (20 times into the dead-letter topic)
 * would change nothing. Storage failures and contention still throw, for Pub/Sub to redeliver.
 */
export async function processInboxEvent(deps: PaymentsDeps, tenantId: string, inboxId: string, trace: TraceIds): Promise<'applied' | 'duplicate' | 'missing' | 'failed'> {
  try {
    return await applyInboxEvent(deps, tenantId, inboxId, trace);
  } catch (error) {
    if (!isPermanentRefusal(error)) throw error;
    await deps.store.markEventFailed(tenantId, inboxId, { reason: error.reason, message: error.message }, deps.clock.nowMs());
    deps.logger.error(paymentAnomalyMessage, { reason: 'webhook_cannot_apply', inboxId, tenantId, errorReason: error.reason, detail: error.message, traceId: trace.traceId });
    return 'failed';
  }
}

async function applyInboxEvent(deps: PaymentsDeps, tenantId: string, inboxId: string, trace: TraceIds): Promise<'applied' | 'duplicate' | 'missing'> {
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
