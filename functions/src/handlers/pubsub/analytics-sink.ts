/**
 * `analyticsSink`: a `domain-events` message -> the event sink (app/analytics/event-sink.ts), which
 * answers once the event's batch is durable in ClickHouse. Returning acks the delivery; throwing
 * nacks it, so Pub/Sub redelivers with the subscription's backoff and, after its
 * maxDeliveryAttempts, moves it to `analytics-sink-dlq` (subscription-policies.ts). A poison
 * message (not a DomainEvent, or a body that does not fit its type) therefore ends there too, to
 * be replayed with `tally events dlq replay` once the cause is fixed; it is never acked unwritten.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { EventSink } from '../../app/analytics/event-sink.js';
import { isForOtherSubscription } from '../../app/events/replay-target.js';
import { DomainEventSchema } from '../../gen/tally/events/v1/events_pb.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { MalformedEventError, type AnalyticsEvent } from '../../ports/analytics-events.js';

interface MessagePublished { message?: { data?: string; messageId?: string; attributes?: Record<string, string> }; subscription?: string; deliveryAttempt?: number }

/** The message as an AnalyticsEvent, or MalformedEventError saying why it can never be one. */
export function decodeDomainEventMessage(data: string | undefined, messageId: string): AnalyticsEvent {
  let event;
  try {
    event = fromBinary(DomainEventSchema, Buffer.from(data ?? '', 'base64'));
  } catch (error) {
    throw new MalformedEventError(`message ${messageId}: not a tally.events.v1.DomainEvent (${(error as Error).message})`);
  }
  if (event.eventId === '' || event.tenantId === '' || event.type === '' || !event.occurredAt) {
    throw new MalformedEventError(`message ${messageId}: DomainEvent without event_id, tenant_id, type or occurred_at`);
  }
  return {
    eventId: event.eventId, type: event.type, tenantId: event.tenantId, aggregateId: event.aggregateId,
    occurredAtMs: timestampMs(event.occurredAt), traceId: event.traceId, spanId: event.spanId, payloadJson: event.payloadJson, messageId,
  };
}

/**
 * `subscription`: the subscription feeding it (`analytics-sink`). A push request's CloudEvent does
 * not name it (the Functions Framework keeps only the message), the local bridge's does.
 */
export function createAnalyticsSinkHandler(deps: { sink: EventSink; logger: Logger; subscription: string }) {
  return async (cloudEvent: CloudEvent<MessagePublished>): Promise<void> => {
    const messageId = cloudEvent.data?.message?.messageId ?? cloudEvent.id;
    // A replay aimed at another consumer of domain-events (ADR 0030): ack and skip.
    if (isForOtherSubscription(cloudEvent.data?.message?.attributes, cloudEvent.data?.subscription ?? deps.subscription)) return;
    try {
      await deps.sink.accept(decodeDomainEventMessage(cloudEvent.data?.message?.data, messageId));
    } catch (error) {
      if (error instanceof MalformedEventError) {
        // Logged at every attempt; the dead-letter topic keeps the message after the last one.
        deps.logger.error('analyticsSink: poison message (left for the dead-letter topic)', {
          messageId, deliveryAttempt: cloudEvent.data?.deliveryAttempt, eventId: cloudEvent.data?.message?.attributes?.eventId, reason: error.message,
        });
      }
      throw error;
    }
  };
}
