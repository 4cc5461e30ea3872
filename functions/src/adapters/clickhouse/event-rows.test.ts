import { describe, expect, it } from 'vitest';
import { MalformedEventError, type AnalyticsEvent } from '../../ports/analytics-events.js';
import { clickhouseDateTime, eventRows } from './event-rows.js';

const base = (type: string, payload: unknown, overrides: Partial<AnalyticsEvent> = {}): AnalyticsEvent => ({
  eventId: 'evt_pay_1_3_status', type, tenantId: 'ten_1', aggregateId: 'pay_1', occurredAtMs: Date.UTC(2026, 11, 6, 10, 0, 0, 123),
  traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), payloadJson: JSON.stringify(payload), messageId: 'm1', ...overrides,
});

describe('domain event -> ClickHouse rows', () => {
  it('keeps every event verbatim in events, with its trace ids', () => {
    const rows = eventRows(base('billing.invoice.finalized', { invoiceId: 'inv_1' }), 7);
    expect(rows.events).toEqual([{
      event_id: 'evt_pay_1_3_status', tenant_id: 'ten_1', type: 'billing.invoice.finalized', aggregate_id: 'pay_1', occurred_at: '2026-12-06 10:00:00',
      occurred_at_ms: Date.UTC(2026, 11, 6, 10, 0, 0, 123), trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16), payload_json: '{"invoiceId":"inv_1"}', message_id: 'm1', inserted_at_ms: 7,
    }]);
    expect([rows.payment_events, rows.refunds, rows.disputes, rows.ledger_postings]).toEqual([[], [], [], []]);
  });

  it('types payment events with their order inside the payment (version, index from the event id)', () => {
    const created = eventRows(base('payment.created', { status: 'processing', amountMinor: '9223372036854775807', currency: 'EUR', captureMethod: 'automatic', customerId: 'cus_1' }, { eventId: 'evt_pay_1_1_payment_created' }), 1);
    expect(created.payment_events[0]).toMatchObject({ payment_id: 'pay_1', payment_version: 1, event_index: 0, status: 'processing', amount_minor: '9223372036854775807', currency: 'EUR', capture_method: 'automatic', customer_id: 'cus_1' });
    const changed = eventRows(base('payment.status_changed', { from: 'processing', to: 'succeeded' }, { eventId: 'evt_pay_1_4_2_payment_status_changed' }), 1);
    expect(changed.payment_events[0]).toMatchObject({ payment_version: 4, event_index: 2, status: 'succeeded', status_from: 'processing', amount_minor: '0', currency: '' });
  });

  it('types refunds, disputes and ledger postings (entries, pending entries, resolutions)', () => {
    expect(eventRows(base('payment.refund_succeeded', { refundId: 're_1', amountMinor: '500' }), 1).refunds[0]).toMatchObject({ refund_id: 're_1', status: 'succeeded', amount_minor: '500' });
    expect(eventRows(base('payment.refund_failed', { refundId: 're_2' }), 1).refunds[0]).toMatchObject({ refund_id: 're_2', status: 'failed', amount_minor: '0' });
    expect(eventRows(base('payment.chargeback', { amountMinor: '700' }), 1).disputes[0]).toMatchObject({ type: 'payment.chargeback', amount_minor: '700' });
    const postings = [{ accountId: 'acc_a', direction: 'debit', amountMinor: '5', currency: 'USD' }, { accountId: 'acc_b', direction: 'credit', amountMinor: '5', currency: 'USD' }];
    const pending = eventRows(base('ledger.entry.pending', { entryId: 'je_1', recordId: 'je_1', postings }), 1).ledger_postings;
    expect(pending.map((p) => [p.posting_index, p.account_id, p.direction, p.amount_minor, p.state])).toEqual([[0, 'acc_a', 'debit', '5', 'pending'], [1, 'acc_b', 'credit', '5', 'pending']]);
    const resolved = eventRows(base('ledger.pending.posted', { entryId: 'je_1', recordId: 'je_1.resolution', postedAmountsMinor: ['4', '4'] }), 1).ledger_postings;
    expect(resolved.map((p) => [p.posting_index, p.entry_id, p.amount_minor, p.state, p.account_id])).toEqual([[0, 'je_1', '4', 'posted', ''], [1, 'je_1', '4', 'posted', '']]);
  });

  it('refuses, as poison, a body that is not an object or an amount that is not an Int64 decimal string', () => {
    expect(() => eventRows(base('payment.created', null), 1)).toThrow(MalformedEventError);
    expect(() => eventRows({ ...base('payment.created', {}), payloadJson: '{' }, 1)).toThrow(/payload_json is not a JSON object/);
    for (const amountMinor of [2500, '25.00', '9223372036854775808', '', undefined]) {
      expect(() => eventRows(base('payment.chargeback', { amountMinor }), 1)).toThrow(/amountMinor is not an Int64 decimal string/);
    }
  });

  it('writes DateTime in UTC text', () => {
    expect(clickhouseDateTime(0)).toBe('1970-01-01 00:00:00');
  });
});
