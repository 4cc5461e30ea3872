import { describe, expect, it } from 'vitest';
import { declineReasonOf, fromStripeAmount, normalizeStripeEvent, toStripeAmount } from './transformers.js';

describe('Stripe transformers', () => {
  it('converts amounts with the currency exponent, Stripe special cases included', () => {
    expect(toStripeAmount(1999n, 'EUR')).toEqual({ amount: 1999, currency: 'eur' });
    expect(toStripeAmount(500n, 'JPY')).toEqual({ amount: 500, currency: 'jpy' });
    expect(toStripeAmount(12n, 'ISK')).toEqual({ amount: 1200, currency: 'isk' });
    expect(toStripeAmount(1010n, 'BHD')).toEqual({ amount: 1010, currency: 'bhd' });
    expect(() => toStripeAmount(1005n, 'BHD')).toThrow(expect.objectContaining({ reason: 'AMOUNT_PRECISION_EXCEEDED' }));
    expect(() => toStripeAmount(100_000_000n, 'USD')).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    expect(() => toStripeAmount(0n, 'USD')).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
    expect(() => toStripeAmount(1n, 'usd')).toThrow(expect.objectContaining({ reason: 'UNKNOWN_CURRENCY' }));
    expect(fromStripeAmount(1200, 'isk')).toEqual({ amountMinor: 12n, currency: 'ISK' });
    expect(fromStripeAmount(500, 'jpy')).toEqual({ amountMinor: 500n, currency: 'JPY' });
  });

  it('maps decline codes, issuer code first, unknown and prototype names to other', () => {
    expect(declineReasonOf('card_declined', 'insufficient_funds')).toBe('insufficient_funds');
    expect(declineReasonOf('card_declined', 'stolen_card')).toBe('fraud_suspected');
    expect(declineReasonOf('card_declined', 'something_new')).toBe('card_declined');
    expect(declineReasonOf('payment_intent_authentication_failure', undefined)).toBe('authentication_failed');
    expect(declineReasonOf('processing_error', null)).toBe('other');
    expect(declineReasonOf('constructor', 'toString')).toBe('other');
  });

  it('normalizes charge.refunded to the newest refund, and ignores malformed events', () => {
    const event = {
      id: 'evt_1', type: 'charge.refunded', created: 1_700_000_000,
      data: { object: {
        id: 'ch_1', payment_intent: 'pi_1', amount_refunded: 1200, currency: 'usd', metadata: { tally_payment_id: 'pay_1' },
        refunds: { data: [{ id: 're_2', amount: 700, currency: 'usd', metadata: { tally_refund_id: 'ref_2' } }, { id: 're_1', amount: 500, currency: 'usd', metadata: {} }] },
      } },
    };
    expect(normalizeStripeEvent(event)).toEqual([{
      psp: 'stripe', pspEventId: 'evt_1', occurredAtMs: 1_700_000_000_000, paymentId: 'pay_1', pspReference: 'pi_1', action: 'refunded',
      amountMinor: 700n, currency: 'USD', refundId: 'ref_2', declineReason: null,
    }]);
    expect(normalizeStripeEvent(null)).toEqual([]);
    expect(normalizeStripeEvent({ id: 'evt_2', type: 'payment_intent.succeeded', created: 'x', data: { object: {} } })).toEqual([]);
  });
});
