import { describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { pspAmountRefusal } from '../../../domain/payments/psp-limits.js';
import { declineReasonOf, fromStripeAmount, intentToOutcome, normalizeStripeEvent, stripeLimits, toStripeAmount } from './transformers.js';

describe('Stripe transformers', () => {
  it('converts amounts with the currency exponent, Stripe special cases included', () => {
    expect(toStripeAmount(1999n, 'EUR')).toEqual({ amount: 1999, currency: 'eur' });
    expect(toStripeAmount(500n, 'JPY')).toEqual({ amount: 500, currency: 'jpy' });
    expect(toStripeAmount(12n, 'ISK')).toEqual({ amount: 1200, currency: 'isk' });
    expect(toStripeAmount(1010n, 'BHD')).toEqual({ amount: 1010, currency: 'bhd' });
    expect(() => toStripeAmount(1005n, 'BHD')).toThrow(expect.objectContaining({ reason: 'AMOUNT_PRECISION_EXCEEDED' }));
    expect(() => toStripeAmount(100_000_000n, 'USD')).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    expect(() => toStripeAmount(0n, 'USD')).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    expect(() => toStripeAmount(1n, 'usd')).toThrow(expect.objectContaining({ reason: 'UNKNOWN_CURRENCY' }));
    expect(fromStripeAmount(1200, 'isk')).toEqual({ amountMinor: 12n, currency: 'ISK' });
    expect(fromStripeAmount(500, 'jpy')).toEqual({ amountMinor: 500n, currency: 'JPY' });
  });

  it('declares its limits in ISO minor units: 99,999,999 of its wire unit, ISK scaled, three-decimal currencies in tens', () => {
    expect(pspAmountRefusal('stripe', stripeLimits, 99_999_999n, 'USD')).toBeNull();
    expect(pspAmountRefusal('stripe', stripeLimits, 100_000_000n, 'USD')?.metadata).toMatchObject({ psp: 'stripe', amount_minor_max: '99999999' });
    expect(pspAmountRefusal('stripe', stripeLimits, 999_999n, 'ISK')).toBeNull();
    expect(pspAmountRefusal('stripe', stripeLimits, 1_000_000n, 'ISK')?.metadata).toMatchObject({ amount_minor_max: '999999' });
    expect(() => toStripeAmount(1_000_000n, 'ISK')).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    for (const code of ['BHD', 'JOD', 'KWD', 'OMR', 'TND']) {
      expect(pspAmountRefusal('stripe', stripeLimits, 1005n, code)?.metadata).toMatchObject({ amount_minor_multiple: '10' });
      expect(pspAmountRefusal('stripe', stripeLimits, 1010n, code)).toBeNull();
    }
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

  it('normalizes disputes as the real API sends them: no payment metadata, matched by PaymentIntent id', () => {
    // Typed against the SDK, so the fixture keeps Stripe's real Dispute shape.
    const dispute: Pick<Stripe.Dispute, 'id' | 'object' | 'amount' | 'charge' | 'created' | 'currency' | 'metadata' | 'payment_intent' | 'reason' | 'status'> = {
      id: 'dp_1', object: 'dispute', amount: 1999, charge: 'ch_1', created: 1_700_000_100, currency: 'eur', metadata: {}, payment_intent: 'pi_1',
      reason: 'fraudulent', status: 'needs_response',
    };
    const event = (type: string, object: object, id = 'evt_d1') => ({ id, type, created: 1_700_000_100, data: { object } });
    expect(normalizeStripeEvent(event('charge.dispute.created', dispute))).toEqual([{
      psp: 'stripe', pspEventId: 'evt_d1', occurredAtMs: 1_700_000_100_000, paymentId: null, pspReference: 'pi_1', action: 'chargeback',
      amountMinor: 1999n, currency: 'EUR', refundId: null, declineReason: null,
    }]);
    // The withdrawal of the funds is the chargeback too (a no-op after `created`; the booking for an
    // escalated inquiry). An inquiry takes no funds: its `created` and its close book nothing.
    expect(normalizeStripeEvent(event('charge.dispute.funds_withdrawn', dispute, 'evt_d7'))).toMatchObject([{ pspEventId: 'evt_d7', paymentId: null, action: 'chargeback', amountMinor: 1999n }]);
    expect(normalizeStripeEvent(event('charge.dispute.created', { ...dispute, status: 'warning_needs_response' }, 'evt_d8'))).toEqual([]);
    expect(normalizeStripeEvent(event('charge.dispute.closed', { ...dispute, status: 'warning_closed' }, 'evt_d4'))).toEqual([]);
    // A lost dispute is the chargeback for good (a no-op after `created`); a won one gives it back;
    // funds_reinstated is not the trigger (it also follows partial reinstatements of lost disputes).
    expect(normalizeStripeEvent(event('charge.dispute.closed', { ...dispute, status: 'lost' }, 'evt_d2'))).toMatchObject([{ pspEventId: 'evt_d2', paymentId: null, action: 'chargeback' }]);
    expect(normalizeStripeEvent(event('charge.dispute.closed', { ...dispute, status: 'won' }, 'evt_d3'))).toEqual([{
      psp: 'stripe', pspEventId: 'evt_d3', occurredAtMs: 1_700_000_100_000, paymentId: null, pspReference: 'pi_1', action: 'chargeback_reversed',
      amountMinor: 1999n, currency: 'EUR', refundId: null, declineReason: null,
    }]);
    expect(normalizeStripeEvent(event('charge.dispute.closed', { ...dispute, status: 'under_review' }, 'evt_d5'))).toEqual([]);
    expect(normalizeStripeEvent(event('charge.dispute.funds_reinstated', { ...dispute, status: 'won' }, 'evt_d6'))).toEqual([]);
    // A dispute of a charge made without a PaymentIntent cannot be ours.
    expect(normalizeStripeEvent(event('charge.dispute.created', { ...dispute, payment_intent: null }))).toEqual([]);
    // Other objects still need our metadata.
    expect(normalizeStripeEvent(event('payment_intent.succeeded', { id: 'pi_9', amount_received: 100, currency: 'eur', metadata: {} }))).toEqual([]);
  });

  it('reads a processing PaymentIntent as pending (accepted, result by webhook)', () => {
    const pi = { id: 'pi_7', status: 'processing', amount: 100, currency: 'eur' } as Stripe.PaymentIntent;
    expect(intentToOutcome(pi)).toMatchObject({ kind: 'pending', pspReference: 'pi_7' });
  });
});
