/**
 * A payment event's `payload.payment` (the payment after the event, app/payments/transitions.ts
 * paymentSnapshot) -> a `payment_snapshots` row (migrations/0003). Pure. Events without a snapshot
 * (written before it existed) give no row; a snapshot whose amounts are not Int64 decimal strings
 * is refused (`MalformedEventError`: it would fail every retry; the sink dead-letters it).
 */
import { MalformedEventError, type AnalyticsEvent } from '../../ports/analytics-events.js';
import { rowOf, type CommonColumns, type Row } from './row.js';

const int64Pattern = /^-?\d{1,19}$/;

export function paymentSnapshotRow(event: AnalyticsEvent, payload: Readonly<Record<string, unknown>>, common: CommonColumns): Row | undefined {
  const s = payload.payment;
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return undefined;
  const snap = s as Record<string, unknown>;
  const bad = (field: string): never => { throw new MalformedEventError(`event ${event.eventId} (${event.type}): payment.${field} is malformed`); };
  const minor = (field: string): string => {
    const v = snap[field];
    if (typeof v !== 'string' || !int64Pattern.test(v) || BigInt(v) < -(2n ** 63n) || BigInt(v) >= 2n ** 63n) return bad(field);
    return BigInt(v).toString();
  };
  const count = (field: string): number => {
    const v = snap[field];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : bad(field);
  };
  const text = (field: string): string => {
    const v = snap[field];
    return typeof v === 'string' ? v : bad(field);
  };
  return rowOf(common, {
    payment_id: event.aggregateId, payment_version: count('version'), status: text('status'), psp: text('psp'),
    amount_minor: minor('amountMinor'), currency: text('currency'), amount_authorized_minor: minor('amountAuthorizedMinor'),
    amount_captured_minor: minor('amountCapturedMinor'), amount_refunded_minor: minor('amountRefundedMinor'),
    amount_charged_back_minor: minor('amountChargedBackMinor'), fee_minor: minor('feeMinor'), decline_reason: text('declineReason'),
    payment_created_at_ms: count('createdAtMs'),
  });
}
