/**
 * The analytics store as the sink sees it (issue 13 item 3, ADR 0029): domain events written in
 * batches, idempotently by event id (writing an event twice leaves one row as readers see it).
 */

/** One domain event as delivered on `domain-events` (the `tally.events.v1.DomainEvent` envelope). */
export interface AnalyticsEvent {
  eventId: string;
  type: string;
  tenantId: string;
  aggregateId: string;
  occurredAtMs: number;
  /** W3C ids of the request that made the change ('' when none). */
  traceId: string;
  spanId: string;
  /** The event body, verbatim (a JSON object). */
  payloadJson: string;
  /** The Pub/Sub message id of the delivery being written. */
  messageId: string;
}

/** An event the store refuses to write whatever happens (its body does not fit its type): retrying cannot help. */
export class MalformedEventError extends Error {
  override readonly name = 'MalformedEventError';
}

/** An event checked and turned into what the store writes, with its size for the batch's byte bound. */
export interface PreparedEvent {
  eventId: string;
  /** Bytes it adds to a write (approximately what goes on the wire). */
  sizeBytes: number;
  /** The store's own representation (rows). */
  rows: unknown;
}

export interface AnalyticsEventStore {
  /** Checks and converts one event; throws `MalformedEventError` for an event that can never be written. */
  prepare(event: AnalyticsEvent): PreparedEvent;
  /**
   * Writes the events and resolves once they are durable (acknowledged by the store); rejects if
   * any part failed, in which case any part may or may not be written: the caller retries the
   * whole batch, which is harmless (idempotent by event id).
   */
  insert(events: readonly PreparedEvent[]): Promise<void>;
}
