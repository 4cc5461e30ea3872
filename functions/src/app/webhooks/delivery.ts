/**
 * Webhook delivery (ADR 0034): fan an event out to the tenant's matching endpoints as durable,
 * claimed delivery documents, attempt each (per-endpoint limiter and breaker, signed POST), record
 * the attempt under the claim's fence, schedule the retry or end the delivery, and keep the
 * endpoint's health (failing since, disabled after 5 days with a `webhook_endpoint.disabled`
 * event). The retrier claims due deliveries and runs the same attempt.
 */
import { derivedId, newId } from '../../domain/ids.js';
import { matchesEventType, webhookBody, type WebhookDelivery, type WebhookEndpoint, type WebhookEventInput } from '../../domain/webhooks/endpoint.js';
import { nextAfterFailure, shouldDisable } from '../../domain/webhooks/retry-schedule.js';
import { CircuitOpenError, ConcurrencyLimitError } from '../../platform/resilience/index.js';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import type { AttemptRecord, ClaimedDelivery } from '../../ports/webhooks-store.js';
import type { WebhookPostResult } from '../../ports/webhook-sender.js';
import { signingSecrets } from './endpoints.js';
import { signedHeaders } from './signing.js';
import type { WebhooksDeps } from './webhooks-deps.js';

/** The event type Tally emits when it disables a failing endpoint. */
export const endpointDisabledEventType = 'webhook_endpoint.disabled';
/** The event type of SendTestWebhookEvent. */
export const testEventType = 'webhook_endpoint.test';

export interface DomainEventForWebhooks extends WebhookEventInput {
  tenantId: string;
}

/** How one attempt ended, for reports and tests. */
export type AttemptOutcome = 'succeeded' | 'retry_scheduled' | 'failed' | 'deferred' | 'lost_claim' | 'endpoint_gone';

export interface DispatchReport {
  endpointsMatched: number;
  /** Deliveries this call created (a redelivered event creates none). */
  created: number;
  outcomes: AttemptOutcome[];
}

function newDelivery(deps: WebhooksDeps, tenantId: string, endpointId: string, event: { id: string; type: string }, body: string, id: string): WebhookDelivery {
  const nowMs = deps.clock.nowMs();
  return {
    id, tenantId, endpointId, eventId: event.id, eventType: event.type, body, status: 'pending', attempts: [],
    nextAttemptAtMs: nowMs, deadlineAtMs: nowMs + deps.limits.schedule.retryWindowMs, createdAtMs: nowMs, failureReason: '',
  };
}

async function enabledEndpoints(deps: WebhooksDeps, tenantId: string): Promise<WebhookEndpoint[]> {
  const max = deps.limits.endpointsPerTenantMax;
  const endpoints = await deps.endpointsCache.get(tenantId, () => deps.store.enabledEndpoints(tenantId, max + 1));
  if (endpoints.length > max) {
    // Creation refuses beyond the bound: more means the bound changed under existing data. Loud.
    deps.logger.error('webhook endpoints above the per-tenant bound: the extra ones receive nothing', { tenantId, max });
  }
  return endpoints.slice(0, max);
}

/**
 * The dispatcher's work for one domain event: attempt each matching endpoint and record the
 * delivery. The Pub/Sub message stays unacked until this returns, so until then the event is kept
 * by Pub/Sub: an attempt that ends within `inlineRecordMs` is recorded with its outcome in ONE
 * write (a crash before it redelivers the message, which attempts again: at least once); a slower
 * one is first recorded as a claimed pending delivery, so that from then on a crash leaves a
 * document the retrier takes when the lease runs out, and its outcome is recorded under the claim.
 */
export async function dispatchEvent(deps: WebhooksDeps, event: DomainEventForWebhooks): Promise<DispatchReport> {
  const matching = (await enabledEndpoints(deps, event.tenantId)).filter((e) => matchesEventType(e.eventTypes, event.type));
  if (matching.length === 0) return { endpointsMatched: 0, created: 0, outcomes: [] };
  const body = webhookBody(event);
  const results = await Promise.all(matching.map((e) => firstAttempt(deps, e, newDelivery(deps, event.tenantId, e.id, event, body, derivedId('whd', [event.id, e.id])))));
  return { endpointsMatched: matching.length, created: results.filter((r) => r.created).length, outcomes: results.map((r) => r.outcome) };
}

/** An attempt's POST, or why the endpoint saw nothing (limiter queue full, circuit open). */
type Sent = { kind: 'sent'; result: WebhookPostResult; startedAtMs: number } | { kind: 'deferred'; atMs: number };

/** Sends once through the endpoint's limiter and breaker. Throws on anything but a refused admission (KMS, a bug). */
async function send(deps: WebhooksDeps, delivery: WebhookDelivery, endpoint: WebhookEndpoint): Promise<Sent> {
  const startedAtMs = deps.clock.nowMs();
  try {
    const result = await deps.limiter.run(endpoint.id, async () => {
      const permit = deps.breakerFor(endpoint.id).acquire(endpoint.id);
      let sent: WebhookPostResult | undefined;
      try {
        const secrets = await signingSecrets(deps, endpoint, deps.clock.nowMs());
        sent = await deps.sender.send({ url: endpoint.url, headers: signedHeaders(delivery.eventId, delivery.body, secrets, new Date()), body: delivery.body });
        return sent;
      } finally {
        permit.record(sent === undefined ? 'ignored' : sent.ok ? 'success' : 'failure');
      }
    });
    return { kind: 'sent', result, startedAtMs };
  } catch (error) {
    if (error instanceof CircuitOpenError || error instanceof ConcurrencyLimitError) {
      // The endpoint saw nothing: no attempt is recorded; the retrier takes it when due.
      const atMs = error instanceof CircuitOpenError ? Math.max(error.retryAtMs, deps.clock.nowMs()) : deps.clock.nowMs();
      return { kind: 'deferred', atMs: Math.min(atMs, delivery.deadlineAtMs) };
    }
    deps.logger.error('webhook attempt failed before sending', { deliveryId: delivery.id, error });
    throw error;
  }
}

/** What a sent attempt makes of its delivery: the record to write and the outcome. */
function recordOf(deps: WebhooksDeps, delivery: WebhookDelivery, sent: Extract<Sent, { kind: 'sent' }>, nowMs: number): { record: AttemptRecord; outcome: AttemptOutcome } {
  const { result } = sent;
  const attempt = { atMs: sent.startedAtMs, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error };
  if (result.ok) return { record: { attempt, status: 'succeeded', nextAttemptAtMs: null, failureReason: '' }, outcome: 'succeeded' };
  const step = nextAfterFailure(deps.limits.schedule, delivery.attempts.length + 1, nowMs, delivery.deadlineAtMs, deps.random());
  if (step.kind === 'retry') return { record: { attempt, status: 'pending', nextAttemptAtMs: step.atMs, failureReason: '' }, outcome: 'retry_scheduled' };
  if (step.why === 'attempts_exhausted') deps.logger.error('webhook delivery gave up at attemptsMax', { deliveryId: delivery.id, attemptsMax: deps.limits.schedule.attemptsMax });
  return { record: { attempt, status: 'failed', nextAttemptAtMs: null, failureReason: step.why }, outcome: 'failed' };
}

/** A new delivery's first attempt (see `dispatchEvent`); `created` is false for a redelivered event's. */
async function firstAttempt(deps: WebhooksDeps, endpoint: WebhookEndpoint, delivery: WebhookDelivery): Promise<{ created: boolean; outcome: AttemptOutcome }> {
  const sending = send(deps, delivery, endpoint);
  let timer: NodeJS.Timeout | undefined;
  const inline = await Promise.race([
    sending.then(() => true, () => true),
    new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), deps.limits.inlineRecordMs); }),
  ]);
  clearTimeout(timer);
  if (!inline) {
    // Slow: recorded as claimed before waiting longer (a crash from here on is the retrier's).
    const [claim] = await deps.store.createClaimedDeliveries([delivery], deps.clock.nowMs() + deps.limits.leaseMs);
    if (!claim) {
      await sending.catch(() => undefined);
      return { created: false, outcome: 'lost_claim' };
    }
    return { created: true, outcome: await finishAttempt(deps, claim, endpoint, await sending) };
  }
  const sent = await sending; // a throw nacks the message: nothing was written, the redelivery tries again
  const nowMs = deps.clock.nowMs();
  if (sent.kind === 'deferred') {
    const created = await deps.store.createDelivery({ ...delivery, nextAttemptAtMs: sent.atMs });
    return { created, outcome: created ? 'deferred' : 'lost_claim' };
  }
  const { record, outcome } = recordOf(deps, delivery, sent, nowMs);
  const created = await deps.store.createDelivery({ ...delivery, attempts: [record.attempt], status: record.status, nextAttemptAtMs: record.nextAttemptAtMs, failureReason: record.failureReason });
  // Another worker (a redelivery of the event) has the delivery: its record stands.
  if (!created) return { created: false, outcome: 'lost_claim' };
  await keepHealth(deps, endpoint, sent.result.ok, nowMs);
  return { created: true, outcome };
}

export interface RetrierReport {
  claimed: number;
  outcomes: AttemptOutcome[];
  /** The batch was full: more may be due (logged as an error: the retrier is falling behind). */
  batchFull: boolean;
}

/** One retrier run: claim the due deliveries (bounded batch) and attempt them. */
export async function runRetrier(deps: WebhooksDeps): Promise<RetrierReport> {
  const nowMs = deps.clock.nowMs();
  const claims = await deps.store.claimDue(nowMs, nowMs + deps.limits.leaseMs, deps.limits.retrierBatchMax);
  const batchFull = claims.length >= deps.limits.retrierBatchMax;
  if (batchFull) deps.logger.error('webhook retrier batch full: due deliveries wait for the next run', { batchMax: deps.limits.retrierBatchMax });
  const outcomes = await Promise.all(claims.map((c) => attemptDelivery(deps, c, undefined)));
  return { claimed: claims.length, outcomes, batchFull };
}

function disabledEvent(endpoint: WebhookEndpoint, nowMs: number): OutboxEvent {
  return {
    id: derivedId('evt', [endpointDisabledEventType, endpoint.id, String(endpoint.failingSinceMs ?? nowMs)]),
    type: endpointDisabledEventType, aggregateId: endpoint.id,
    payload: { url: endpoint.url, reason: 'failing', failingSince: new Date(endpoint.failingSinceMs ?? nowMs).toISOString() },
    createdAtMs: nowMs, traceId: endpoint.traceId, spanId: endpoint.spanId,
  };
}

/** Sends a claimed delivery once through the endpoint's limiter and breaker, and records what happened. */
export async function attemptDelivery(deps: WebhooksDeps, claim: ClaimedDelivery, known: WebhookEndpoint | undefined): Promise<AttemptOutcome> {
  const { delivery } = claim;
  const endpoint = known ?? await deps.store.getEndpoint(delivery.tenantId, delivery.endpointId);
  if (!endpoint || !endpoint.enabled) {
    const failureReason = endpoint ? 'endpoint_disabled' : 'endpoint_deleted';
    await deps.store.release(claim, { status: 'failed', nextAttemptAtMs: null, failureReason });
    return 'endpoint_gone';
  }
  // A throw (KMS or a bug): the claim lapses and the retrier tries again after the lease.
  return finishAttempt(deps, claim, endpoint, await send(deps, delivery, endpoint));
}

/** Records a claimed delivery's attempt (or its deferral) under the claim's fence. */
async function finishAttempt(deps: WebhooksDeps, claim: ClaimedDelivery, endpoint: WebhookEndpoint, sent: Sent): Promise<AttemptOutcome> {
  if (sent.kind === 'deferred') {
    await deps.store.release(claim, { status: 'pending', nextAttemptAtMs: sent.atMs, failureReason: '' });
    return 'deferred';
  }
  const nowMs = deps.clock.nowMs();
  const { record, outcome } = recordOf(deps, claim.delivery, sent, nowMs);
  if (!await deps.store.recordAttempt(claim, record)) return 'lost_claim';
  await keepHealth(deps, endpoint, sent.result.ok, nowMs);
  return outcome;
}

/** Writes the endpoint only when its health changes (a busy endpoint is not a hot document). */
async function keepHealth(deps: WebhooksDeps, endpoint: WebhookEndpoint, ok: boolean, nowMs: number): Promise<void> {
  if (ok) {
    if (endpoint.failingSinceMs !== null) {
      await deps.store.changeEndpointHealth(endpoint.tenantId, endpoint.id, { kind: 'recovered' }, nowMs);
      deps.endpointsCache.delete(endpoint.tenantId);
    }
    return;
  }
  if (endpoint.failingSinceMs === null) {
    await deps.store.changeEndpointHealth(endpoint.tenantId, endpoint.id, { kind: 'failing', sinceMs: nowMs }, nowMs);
    deps.endpointsCache.delete(endpoint.tenantId);
  } else if (shouldDisable(deps.limits.schedule, endpoint.failingSinceMs, nowMs)) {
    await deps.store.changeEndpointHealth(endpoint.tenantId, endpoint.id, {
      kind: 'disabled', failingSinceAtMostMs: nowMs - deps.limits.schedule.disableAfterMs, event: disabledEvent(endpoint, nowMs),
    }, nowMs);
    deps.endpointsCache.delete(endpoint.tenantId);
    deps.logger.warn('webhook endpoint disabled after failing for days', { tenantId: endpoint.tenantId, endpointId: endpoint.id });
  }
}

async function deliverNow(deps: WebhooksDeps, endpoint: WebhookEndpoint, event: { id: string; type: string }, body: string): Promise<WebhookDelivery> {
  const delivery = newDelivery(deps, endpoint.tenantId, endpoint.id, event, body, newId('whd'));
  const [claim] = await deps.store.createClaimedDeliveries([delivery], deps.clock.nowMs() + deps.limits.leaseMs);
  if (!claim) throw new Error('assertion failed: a new delivery id existed');
  await attemptDelivery(deps, claim, endpoint);
  return (await deps.store.getDelivery(endpoint.tenantId, delivery.id)) ?? delivery;
}

/** ResendWebhookDelivery: the same event and body as a new delivery to the same endpoint, attempted now. */
export async function resendDelivery(deps: WebhooksDeps, endpoint: WebhookEndpoint, original: WebhookDelivery): Promise<WebhookDelivery> {
  return deliverNow(deps, endpoint, { id: original.eventId, type: original.eventType }, original.body);
}

/** SendTestWebhookEvent: a `webhook_endpoint.test` event to one endpoint, through the same path. */
export async function sendTestEvent(deps: WebhooksDeps, endpoint: WebhookEndpoint): Promise<WebhookDelivery> {
  const event = { id: newId('evt'), type: testEventType };
  const body = webhookBody({ ...event, objectId: endpoint.id, occurredAtMs: deps.clock.nowMs(), body: { url: endpoint.url, test: true } });
  return deliverNow(deps, endpoint, event, body);
}
