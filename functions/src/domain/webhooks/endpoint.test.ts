import { describe, expect, it } from 'vitest';
import { matchesEventType, validateEventTypes, webhookBody } from './endpoint.js';

describe('webhook endpoint rules', () => {
  it('event types: * alone, dotted types and prefixes; bad entries are FIELD_INVALID', () => {
    expect(validateEventTypes(['*'])).toEqual(['*']);
    expect(validateEventTypes(['payment.created', 'ledger.*', 'payment.created'])).toEqual(['ledger.*', 'payment.created']);
    for (const bad of [['*', 'payment.created'], ['Payment.created'], ['payment'], ['payment..x'], ['a.b c'], ['x'.repeat(101) + '.y']]) {
      expect(() => validateEventTypes(bad)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
    }
    expect(() => validateEventTypes([])).toThrow(expect.objectContaining({ reason: 'FIELD_REQUIRED' }));
  });

  it('matching: exact, prefix and *', () => {
    expect(matchesEventType(['*'], 'ledger.entry.posted')).toBe(true);
    expect(matchesEventType(['ledger.*'], 'ledger.entry.posted')).toBe(true);
    expect(matchesEventType(['ledger.*'], 'ledgerx.entry')).toBe(false);
    expect(matchesEventType(['payment.created'], 'payment.created')).toBe(true);
    expect(matchesEventType(['payment.created'], 'payment.status_changed')).toBe(false);
  });

  it('the body is {id, type, created, data.object} with the object id first', () => {
    const body = JSON.parse(webhookBody({ id: 'evt_1', type: 'payment.created', objectId: 'pay_1', occurredAtMs: 0, body: { amountMinor: '2500', currency: 'EUR' } }));
    expect(body).toEqual({ id: 'evt_1', type: 'payment.created', created: '1970-01-01T00:00:00.000Z', data: { object: { id: 'pay_1', amountMinor: '2500', currency: 'EUR' } } });
  });

  it('with the object as the API shows it, data.object is that object and data.details the event\'s own fields without the snapshot', () => {
    const body = JSON.parse(webhookBody({
      id: 'evt_2', type: 'payment.refund_failed', objectId: 'pay_1', occurredAtMs: 0,
      body: { refundId: 're_1', payment: { version: 3 } }, apiObject: { id: 'pay_1', status: 'PAYMENT_STATUS_SUCCEEDED' },
    }));
    expect(body.data).toEqual({ object: { id: 'pay_1', status: 'PAYMENT_STATUS_SUCCEEDED' }, details: { refundId: 're_1' } });
  });
});
