/**
 * Domain event -> ClickHouse rows (migrations/0001, 0002): the raw `events` row and the typed rows
 * of its type. Pure. An event whose body does not fit its type (not a JSON object, an amount that
 * is not an Int64 decimal string) is refused with `MalformedEventError`: it would fail every
 * retry, so the sink lets it go to the dead-letter topic instead of blocking its batch.
 */
import { MalformedEventError, type AnalyticsEvent } from '../../ports/analytics-events.js';
import { paymentSnapshotRow } from './payment-snapshot-row.js';
import { rowOf, type CommonColumns, type Row } from './row.js';

export type { Row } from './row.js';

export interface EventRows {
  events: Row[];
  payment_events: Row[];
  refunds: Row[];
  disputes: Row[];
  ledger_postings: Row[];
  /** The payment after each payment.* event (`payload.payment`, migrations/0003; AnalyticsService reads it, ADR 0030). */
  payment_snapshots: Row[];
}

export const analyticsTables = ['events', 'payment_events', 'refunds', 'disputes', 'ledger_postings', 'payment_snapshots'] as const satisfies readonly (keyof EventRows)[];

const int64Pattern = /^-?\d{1,19}$/;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** An Int64 amount from a JSON decimal string (as the outbox writes money), kept as a string. */
function amount(event: AnalyticsEvent, value: unknown, field: string): string {
  if (typeof value !== 'string' || !int64Pattern.test(value) || BigInt(value) < int64Min || BigInt(value) > int64Max) {
    throw new MalformedEventError(`event ${event.eventId} (${event.type}): ${field} is not an Int64 decimal string`);
  }
  return BigInt(value).toString();
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** `YYYY-MM-DD hh:mm:ss` in UTC: the DateTime text every ClickHouse version parses. */
export function clickhouseDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** (payment version, event index) from the deterministic payment event id (app/payments/transitions.ts outboxEventsOf). */
function paymentEventOrder(eventId: string, paymentId: string): { version: number; index: number } {
  const prefix = `evt_${paymentId}_`;
  const match = eventId.startsWith(prefix) ? /^(\d+)_(?:(\d+)_)?/.exec(eventId.slice(prefix.length)) : null;
  return match ? { version: Number(match[1]), index: Number(match[2] ?? 0) } : { version: 0, index: 0 };
}

export function eventRows(event: AnalyticsEvent, insertedAtMs: number): EventRows {
  if (!Number.isSafeInteger(event.occurredAtMs) || event.occurredAtMs < 0) throw new MalformedEventError(`event ${event.eventId}: occurred_at out of range`);
  let payload: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(event.payloadJson);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    payload = parsed as Record<string, unknown>;
  } catch {
    throw new MalformedEventError(`event ${event.eventId} (${event.type}): payload_json is not a JSON object`);
  }
  const common: CommonColumns = {
    event_id: event.eventId, tenant_id: event.tenantId, type: event.type,
    occurred_at: clickhouseDateTime(event.occurredAtMs), occurred_at_ms: event.occurredAtMs,
    trace_id: event.traceId, span_id: event.spanId, inserted_at_ms: insertedAtMs,
  };
  const rows: EventRows = {
    events: [rowOf(common, { aggregate_id: event.aggregateId, payload_json: event.payloadJson, message_id: event.messageId })],
    payment_events: [], refunds: [], disputes: [], ledger_postings: [], payment_snapshots: [],
  };
  const paymentId = event.aggregateId;
  switch (event.type) {
    case 'payment.created':
    case 'payment.status_changed':
    case 'payment.metadata_updated':
    case 'payment.anomaly': {
      const order = paymentEventOrder(event.eventId, paymentId);
      const created = event.type === 'payment.created';
      rows.payment_events.push(rowOf(common, {
        payment_id: paymentId, payment_version: order.version, event_index: order.index,
        status: event.type === 'payment.status_changed' ? text(payload.to) : created ? text(payload.status) : '',
        status_from: event.type === 'payment.status_changed' ? text(payload.from) : '',
        amount_minor: created ? amount(event, payload.amountMinor, 'amountMinor') : '0',
        currency: created ? text(payload.currency) : '', capture_method: created ? text(payload.captureMethod) : '',
        customer_id: created ? text(payload.customerId) : '', psp: text(payload.psp),
      }));
      break;
    }
    case 'payment.refund_succeeded':
    case 'payment.refund_failed': {
      const succeeded = event.type === 'payment.refund_succeeded';
      rows.refunds.push(rowOf(common, {
        payment_id: paymentId, refund_id: text(payload.refundId), status: succeeded ? 'succeeded' : 'failed',
        amount_minor: succeeded ? amount(event, payload.amountMinor, 'amountMinor') : '0', currency: text(payload.currency),
      }));
      break;
    }
    case 'payment.chargeback':
    case 'payment.chargeback_reversed':
      rows.disputes.push(rowOf(common, { payment_id: paymentId, amount_minor: amount(event, payload.amountMinor, 'amountMinor'), currency: text(payload.currency) }));
      break;
    case 'ledger.entry.posted':
    case 'ledger.entry.pending': {
      const postings = Array.isArray(payload.postings) ? (payload.postings as Record<string, unknown>[]) : [];
      postings.forEach((p, i) => rows.ledger_postings.push(rowOf(common, {
        posting_index: i, entry_id: text(payload.entryId), record_id: text(payload.recordId),
        state: event.type === 'ledger.entry.posted' ? 'posted' : 'pending',
        account_id: text(p?.accountId), direction: text(p?.direction), amount_minor: amount(event, p?.amountMinor, `postings[${i}].amountMinor`), currency: text(p?.currency),
      })));
      break;
    }
    default:
      if (event.type.startsWith('ledger.pending.')) {
        const amounts = Array.isArray(payload.postedAmountsMinor) ? (payload.postedAmountsMinor as unknown[]) : [];
        amounts.forEach((a, i) => rows.ledger_postings.push(rowOf(common, {
          posting_index: i, entry_id: text(payload.entryId), record_id: text(payload.recordId),
          state: event.type.slice('ledger.pending.'.length), account_id: '', direction: '', amount_minor: amount(event, a, `postedAmountsMinor[${i}]`), currency: '',
        })));
      }
      // Other types (billing, webhooks, ...) are kept in `events` only, until a typed table wants them.
  }
  const snapshot = event.type.startsWith('payment.') ? paymentSnapshotRow(event, payload, common) : undefined;
  if (snapshot) rows.payment_snapshots.push(snapshot);
  return rows;
}

/** The rows of many events' rows, merged by table. */
export function mergeRows(all: readonly EventRows[]): EventRows {
  const merged: EventRows = { events: [], payment_events: [], refunds: [], disputes: [], ledger_postings: [], payment_snapshots: [] };
  for (const rows of all) for (const table of analyticsTables) for (const row of rows[table]) merged[table].push(row);
  return merged;
}
