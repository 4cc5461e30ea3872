import { describe, expect, it } from 'vitest';
import { adyenDeclineReason, normalizeAdyenItem, paymentResponseToOutcome, refundReference, toAdyenAmount } from './transformers.js';

describe('Adyen transformers', () => {
  it('sends ISO minor units as JSON numbers and refuses what JSON cannot carry exactly', () => {
    expect(toAdyenAmount(1005n, 'BHD')).toEqual({ value: 1005, currency: 'BHD' });
    expect(toAdyenAmount(500n, 'JPY')).toEqual({ value: 500, currency: 'JPY' });
    expect(() => toAdyenAmount(2n ** 53n, 'EUR')).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    expect(() => toAdyenAmount(1n, 'XXX')).toThrow(expect.objectContaining({ reason: 'UNKNOWN_CURRENCY' }));
  });

  it('maps refusals: raw issuer code, then Adyen code, then text', () => {
    expect(adyenDeclineReason({ refusalReasonCode: '2', refusalReason: 'Refused', refusalReasonRaw: '05 : Do not honor' })).toBe('do_not_honor');
    expect(adyenDeclineReason({ refusalReasonCode: '2', refusalReason: 'Refused' })).toBe('card_declined');
    expect(adyenDeclineReason({ refusalReason: 'Not enough balance' })).toBe('insufficient_funds');
    expect(adyenDeclineReason({ refusalReasonCode: 'constructor' })).toBe('other');
  });

  it('reads Authorised as captured only with automatic capture', () => {
    const body = { resultCode: 'Authorised', pspReference: 'P1', amount: { value: 100, currency: 'EUR' } };
    expect(paymentResponseToOutcome(body, 'automatic', { value: 100, currency: 'EUR' }).kind).toBe('captured');
    expect(paymentResponseToOutcome(body, 'manual', { value: 100, currency: 'EUR' }).kind).toBe('authorized');
  });

  it('reads Received and Pending as accepted (pending), keeping the pspReference', () => {
    for (const resultCode of ['Received', 'Pending']) {
      expect(paymentResponseToOutcome({ resultCode, pspReference: 'P1' }, 'manual', { value: 100, currency: 'EUR' })).toMatchObject({ kind: 'pending', pspReference: 'P1' });
    }
    expect(paymentResponseToOutcome({ resultCode: 'Received' }, 'manual', { value: 100, currency: 'EUR' })).toMatchObject({ kind: 'pending', pspReference: null });
  });

  it('normalizes modifications onto the original payment, and refuses ids that would need escaping', () => {
    const item = {
      pspReference: 'R1', originalReference: 'P1', merchantReference: refundReference('pay_abc', 'ref_def'), amount: { value: 5, currency: 'EUR' },
      eventCode: 'REFUND', success: 'false', eventDate: '2026-01-01T00:00:00Z',
    };
    expect(normalizeAdyenItem(item)).toMatchObject({ pspEventId: `REFUND:R1:false:${Date.parse('2026-01-01T00:00:00Z')}`, paymentId: 'pay_abc', refundId: 'ref_def', pspReference: 'P1', action: 'refund_failed' });
    expect(normalizeAdyenItem({ ...item, eventCode: 'REPORT_AVAILABLE', success: 'true' })).toBeNull();
    expect(() => refundReference('pay:1', 'ref_1')).toThrow(/assertion/);
  });

  it('a failed CANCELLATION is cancel_failed; a successful one canceled', () => {
    const item = {
      pspReference: 'C1', originalReference: 'P1', merchantReference: 'pay_abc', amount: { value: 100, currency: 'EUR' },
      eventCode: 'CANCELLATION', success: 'false', eventDate: '2026-01-01T00:00:00Z', reason: 'Cancellation refused by the acquirer',
    };
    expect(normalizeAdyenItem(item)).toEqual({
      psp: 'adyen', pspEventId: `CANCELLATION:C1:false:${Date.parse('2026-01-01T00:00:00Z')}`, occurredAtMs: Date.parse('2026-01-01T00:00:00Z'), paymentId: 'pay_abc', pspReference: 'P1',
      action: 'cancel_failed', amountMinor: 100n, currency: 'EUR', refundId: null, declineReason: null,
      // The cancel's own reference: a late refusal of an earlier cancel is told apart by it.
      modificationReference: 'C1',
    });
    expect(normalizeAdyenItem({ ...item, success: 'true' })).toMatchObject({ action: 'canceled', pspEventId: `CANCELLATION:C1:true:${Date.parse('2026-01-01T00:00:00Z')}` });
  });

  it('a CHARGEBACK without merchantReference names no payment, only the original pspReference', () => {
    const item = {
      pspReference: 'CB1', originalReference: 'P1', amount: { value: 700, currency: 'EUR' },
      eventCode: 'CHARGEBACK', success: 'true', eventDate: '2026-01-02T00:00:00Z', reason: 'Fraudulent Processing of Transaction',
    };
    expect(normalizeAdyenItem(item)).toMatchObject({ paymentId: null, pspReference: 'P1', action: 'chargeback', amountMinor: 700n, refundId: null });
    expect(normalizeAdyenItem({ ...item, merchantReference: 'pay_abc' })).toMatchObject({ paymentId: 'pay_abc', pspReference: 'P1', action: 'chargeback' });
  });

  it('a later event with the same code, reference and success (a re-capture) is another event; a resend is the same', () => {
    const item = {
      pspReference: 'M1', originalReference: 'P1', merchantReference: 'pay_abc', amount: { value: 100, currency: 'EUR' },
      eventCode: 'CAPTURE', success: 'true', eventDate: '2026-01-01T00:00:00Z',
    };
    const first = normalizeAdyenItem(item);
    expect(normalizeAdyenItem({ ...item, reason: 'resent' })?.pspEventId).toBe(first?.pspEventId);
    const recaptured = normalizeAdyenItem({ ...item, eventDate: '2026-01-03T10:00:00Z', reason: 'Transaction Recaptured' });
    expect(recaptured).toMatchObject({ action: 'captured', pspReference: 'P1' });
    expect(recaptured?.pspEventId).not.toBe(first?.pspEventId);
  });

  it('the later dispute stages: CHARGEBACK_REVERSED gives the funds back, SECOND_CHARGEBACK takes them again', () => {
    const item = { pspReference: 'CB2', originalReference: 'P1', amount: { value: 700, currency: 'EUR' }, success: 'true', eventDate: '2026-01-09T00:00:00Z' };
    expect(normalizeAdyenItem({ ...item, eventCode: 'CHARGEBACK_REVERSED' })).toMatchObject({
      pspEventId: `CHARGEBACK_REVERSED:CB2:true:${Date.parse('2026-01-09T00:00:00Z')}`, paymentId: null, pspReference: 'P1', action: 'chargeback_reversed', amountMinor: 700n,
    });
    expect(normalizeAdyenItem({ ...item, eventCode: 'SECOND_CHARGEBACK' })).toMatchObject({ pspReference: 'P1', action: 'second_chargeback' });
    // Information only, or not modelled yet: not passed on.
    expect(normalizeAdyenItem({ ...item, eventCode: 'NOTIFICATION_OF_CHARGEBACK' })).toBeNull();
    expect(normalizeAdyenItem({ ...item, eventCode: 'PREARBITRATION_WON' })).toBeNull();
  });
});
