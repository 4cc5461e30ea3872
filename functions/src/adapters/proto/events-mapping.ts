/** Outbox event -> `tally.events.v1.DomainEvent` (the envelope published to `domain-events`). */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { DomainEventSchema, type DomainEvent } from '../../gen/tally/events/v1/events_pb.js';
import type { StoredOutboxEvent } from '../../ports/outbox-store.js';

export function domainEventToProto(event: StoredOutboxEvent): DomainEvent {
  return create(DomainEventSchema, {
    eventId: event.id,
    type: event.type,
    tenantId: event.tenantId,
    aggregateId: event.aggregateId,
    occurredAt: timestampFromMs(event.createdAtMs),
    traceId: event.traceId,
    spanId: event.spanId,
    payloadJson: JSON.stringify(event.payload),
  });
}

/** The message data: binary protobuf. */
export function encodeDomainEvent(event: StoredOutboxEvent): Uint8Array {
  return toBinary(DomainEventSchema, domainEventToProto(event));
}
