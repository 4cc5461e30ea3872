/**
 * `webhookDispatcher`: a `domain-events` message (binary `tally.events.v1.DomainEvent`) -> the
 * tenant's matching webhook endpoints (ADR 0034). Deliveries are recorded before the message is
 * acked; a throw (Firestore unavailable) nacks it and Pub/Sub redelivers, and the deliveries'
 * derived ids make the redelivery create nothing twice. `webhookRetrier`: one retrier run per tick.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { dispatchEvent, runRetrier, type DomainEventForWebhooks } from '../../app/webhooks/delivery.js';
import type { WebhooksDeps } from '../../app/webhooks/webhooks-deps.js';
import { isForOtherSubscription } from '../../app/events/replay-target.js';
import { paymentApiObject } from '../../adapters/proto/payment-event-object.js';
import { subscriptionPolicies } from '../../adapters/pubsub/subscription-policies.js';
import { DomainEventSchema } from '../../gen/tally/events/v1/events_pb.js';
import type { Logger } from '../../platform/telemetry/logger.js';

interface MessagePublished { message?: { data?: string; messageId?: string; attributes?: Record<string, string> }; subscription?: string }

/** The event as webhooks see it, or undefined for a message that can never be delivered. */
export function decodeDomainEventForWebhooks(data: string | undefined): DomainEventForWebhooks | undefined {
  try {
    const event = fromBinary(DomainEventSchema, Buffer.from(data ?? '', 'base64'));
    if (event.eventId === '' || event.tenantId === '' || event.type === '') return undefined;
    const body = JSON.parse(event.payloadJson === '' ? '{}' : event.payloadJson) as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
    // A payment event's object is the Payment as the API shows it (the same mapper as GetPayment),
    // made from the snapshot the event carries; an event without a full snapshot keeps its body.
    const apiObject = event.type.startsWith('payment.') ? paymentApiObject(body as Record<string, unknown>) : undefined;
    return {
      id: event.eventId, type: event.type, tenantId: event.tenantId, objectId: event.aggregateId,
      occurredAtMs: event.occurredAt ? timestampMs(event.occurredAt) : 0, body: body as Record<string, unknown>,
      ...(apiObject === undefined ? {} : { apiObject }),
    };
  } catch {
    return undefined;
  }
}

export function createWebhookDispatcherHandler(deps: { webhooks: WebhooksDeps; logger: Logger }) {
  return async (event: CloudEvent<MessagePublished>): Promise<void> => {
    // A replay aimed at another consumer of domain-events (ADR 0030): ack, deliver nothing. A push
    // request's CloudEvent may not name the subscription (the local bridge's does): then it is ours.
    if (isForOtherSubscription(event.data?.message?.attributes, event.data?.subscription ?? subscriptionPolicies['webhook-dispatcher'].subscription)) return;
    const decoded = decodeDomainEventForWebhooks(event.data?.message?.data);
    if (!decoded) {
      // A poison message can never succeed: log and ack (the subscription's dead-letter policy is for failures).
      deps.logger.error('webhookDispatcher: undecodable domain event', { messageId: event.data?.message?.messageId ?? event.id });
      return;
    }
    const report = await dispatchEvent(deps.webhooks, decoded);
    if (report.created > 0) deps.logger.info('webhook dispatch', { eventId: decoded.id, type: decoded.type, ...report, outcomes: report.outcomes.join(',') });
  };
}

export function createWebhookRetrierHandler(deps: { webhooks: WebhooksDeps; logger: Logger }) {
  return async (): Promise<void> => {
    const report = await runRetrier(deps.webhooks);
    if (report.claimed > 0) deps.logger.info('webhook retrier', { claimed: report.claimed, batchFull: report.batchFull, outcomes: report.outcomes.join(',') });
  };
}
