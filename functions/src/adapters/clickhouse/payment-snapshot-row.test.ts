import { describe, expect, it } from 'vitest';
import { MalformedEventError, type AnalyticsEvent } from '../../ports/analytics-events.js';
import { paymentSnapshotRow } from './payment-snapshot-row.js';
import type { CommonColumns } from './row.js';

const event: AnalyticsEvent = {
  eventId: 'evt_pay_1_4_payment_status_changed', type: 'payment.status_changed', tenantId: 'ten_a', aggregateId: 'pay_1',
  occurredAtMs: 1_000, traceId: '', spanId: '', payloadJson: '{}', messageId: 'm1',
};
const common: CommonColumns = {
  event_id: event.eventId, tenant_id: 'ten_a', type: event.type, occurred_at: '1970-01-01 00:00:01', occurred_at_ms: 1_000, trace_id: '', span_id: '', inserted_at_ms: 2_000,
};
const snapshot = {
  version: 4, status: 'succeeded', psp: 'stripe', amountMinor: '2500', currency: 'EUR', amountAuthorizedMinor: '2500', amountCapturedMinor: '2500',
  amountRefundedMinor: '0', amountChargedBackMinor: '0', feeMinor: '-72', declineReason: '', createdAtMs: 900,
};

describe('paymentSnapshotRow', () => {
  it('maps payload.payment to a payment_snapshots row, amounts exact as Int64 strings', () => {
    expect(paymentSnapshotRow(event, { payment: { ...snapshot, amountMinor: '9223372036854775807' } }, common)).toEqual({
      ...common, payment_id: 'pay_1', payment_version: 4, status: 'succeeded', psp: 'stripe', amount_minor: '9223372036854775807', currency: 'EUR',
      amount_authorized_minor: '2500', amount_captured_minor: '2500', amount_refunded_minor: '0', amount_charged_back_minor: '0', fee_minor: '-72',
      decline_reason: '', payment_created_at_ms: 900,
    });
  });

  it('no snapshot (an event written before it existed): no row', () => {
    expect(paymentSnapshotRow(event, { type: 'payment.status_changed' }, common)).toBeUndefined();
    expect(paymentSnapshotRow(event, { payment: 'x' }, common)).toBeUndefined();
  });

  it.each([
    ['amountMinor', 2500], ['amountMinor', '9223372036854775808'], ['feeMinor', '1.5'], ['version', -1], ['version', '4'], ['status', null], ['createdAtMs', 1.5],
  ])('a malformed snapshot (%s = %j) is refused as MalformedEventError (it can never be written)', (field, value) => {
    expect(() => paymentSnapshotRow(event, { payment: { ...snapshot, [field]: value } }, common)).toThrow(MalformedEventError);
  });
});
