/** The events bench:sink sends through the sink and inserts directly: the same on both paths. */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { DomainEventSchema, type DomainEvent } from '../functions/src/gen/tally/events/v1/events_pb.js';
import type { AnalyticsEvent } from '../functions/src/ports/analytics-events.js';

/** `n` ledger-entry-shaped events (two postings, the common event's size) of one tenant. */
export function makeBenchEvents(tenantId: string, n: number): DomainEvent[] {
  return Array.from({ length: n }, (_, i) => create(DomainEventSchema, {
    eventId: `evt_bench_${tenantId}_${i}`, type: 'ledger.entry.posted', tenantId, aggregateId: `je_bench_${i}`, occurredAt: timestampFromMs(Date.now()),
    traceId: randomUUID().replaceAll('-', ''), spanId: '00f067aa0ba902b7',
    payloadJson: JSON.stringify({ recordId: `je_bench_${i}`, chainHash: 'x'.repeat(64), entryId: `je_bench_${i}`, postings: [
      { accountId: 'acc_a', direction: 'debit', amountMinor: String(100 + i), currency: 'USD' },
      { accountId: 'acc_b', direction: 'credit', amountMinor: String(100 + i), currency: 'USD' },
    ] }),
  }));
}

/** The event as the sink's handler decodes it from its message. */
export function asAnalyticsEvent(e: DomainEvent): AnalyticsEvent {
  return {
    eventId: e.eventId, type: e.type, tenantId: e.tenantId, aggregateId: e.aggregateId, occurredAtMs: timestampMs(e.occurredAt!),
    traceId: e.traceId, spanId: e.spanId, payloadJson: e.payloadJson, messageId: '0',
  };
}
