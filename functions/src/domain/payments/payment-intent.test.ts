import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import type { PspOutcome, PspWebhookEvent } from './psp-vocabulary.js';
import { type PaymentEffect, type PaymentTransition, chainTransitions, createdAndConfirmed } from './payment-effect.js';
import { derivedId } from '../ids.js';
import {
  type CreatePaymentIntentInput,
  PAYMENT_AMOUNT_MINOR_MAX,
  attachPaymentMethod,
  cancelPayment,
  capturePayment,
  confirmPayment,
  createPaymentIntent,
  PAYMENT_METADATA_KEYS_MAX,
  RETURN_URL_LENGTH_MAX,
  validateReturnUrl,
  refundPayment,
  updatePaymentMetadata,
} from './payment-commands.js';
import { type PaymentIntent, attemptsToResolve, currentOperation, isCaptureDue, refundableMinor } from './payment-intent.js';
import { type PspCallResult, applyPspOutcome } from './psp-outcome.js';
import { applyWebhook } from './psp-webhook.js';

const t0 = 1_700_000_000_000;
const fees = { rateBps: 290, fixedMinor: 30n, rounding: 'half-up', disputeFeeMinor: 1_500n } as const;

function create(over: Partial<CreatePaymentIntentInput> = {}): PaymentIntent {
  const input = { amountMinor: 10_000n, currency: 'USD', captureMethod: 'manual', paymentMethodId: 'pm_1', fees, ...over };
  return createPaymentIntent(input, { id: 'pay_1', tenantId: 'ten_1', nowMs: t0 }).intent;
}

function errorOf(fn: () => unknown): TallyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TallyError) return error;
    throw error;
  }
  throw new Error('expected a TallyError');
}

/** Answers the in-flight authorize/capture/cancel call. */
function answer(intent: PaymentIntent, outcome: PspCallResult['outcome'], source: PspCallResult['source'] = 'call', nowMs = t0 + 10): PaymentTransition {
  const op = currentOperation(intent);
  if (op === null) throw new Error('no call in flight');
  return applyPspOutcome(intent, { idempotencyKey: op.idempotencyKey, source, outcome }, nowMs);
}

type MoneyOutcome = Extract<PspOutcome, { kind: 'authorized' | 'captured' }>;
const authorized = (amountMinor = 10_000n, pspReference = 'pi_1'): MoneyOutcome => ({ kind: 'authorized', pspReference, amountMinor, currency: 'USD' });
const captured = (amountMinor = 10_000n, pspReference = 'pi_1'): MoneyOutcome => ({ kind: 'captured', pspReference, amountMinor, currency: 'USD' });

function event(action: PspWebhookEvent['action'], occurredAtMs: number, over: Partial<PspWebhookEvent> = {}): PspWebhookEvent {
  return {
    psp: 'stripe',
    pspEventId: `evt_${action}_${occurredAtMs}`,
    occurredAtMs,
    paymentId: 'pay_1',
    pspReference: 'pi_1',
    action,
    amountMinor: 10_000n,
    currency: 'USD',
    refundId: null,
    declineReason: null,
    ...over,
  };
}

const kinds = (t: PaymentTransition): string[] => t.effects.map((e) => e.kind);
const ledger = (t: PaymentTransition): PaymentEffect[] => t.effects.filter((e) => e.kind === 'post_ledger');

function confirmed(intent = create(), psps: ('stripe' | 'adyen')[] = ['stripe', 'adyen']): PaymentIntent {
  return confirmPayment(intent, { psps }, t0 + 1).intent;
}
function authorizedIntent(): PaymentIntent {
  return answer(confirmed(), authorized()).intent;
}
function succeededIntent(): PaymentIntent {
  const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
  return answer(capturing, captured(), 'call', t0 + 30).intent;
}

describe('creating a payment intent', () => {
  it('starts in requires_confirmation with a payment method, requires_payment_method without', () => {
    const t = createPaymentIntent(
      { amountMinor: 10_000n, currency: 'USD', captureMethod: 'manual', fees },
      { id: 'pay_1', tenantId: 'ten_1', nowMs: t0 },
    );
    expect(t.intent).toMatchObject({ status: 'requires_payment_method', version: 1, unknownSinceMs: null, attempts: [], createdAtMs: t0 });
    expect(t.effects).toEqual([{
      kind: 'publish_event',
      event: { type: 'payment.created', status: 'requires_payment_method', amountMinor: 10_000n, currency: 'USD', captureMethod: 'manual', customerId: null, metadata: {} },
    }]);
    expect(create().status).toBe('requires_confirmation');
  });

  it('validates amount, currency, capture method, ids and fees', () => {
    const reason = (over: Partial<CreatePaymentIntentInput>): string => {
      const e = errorOf(() => create(over));
      return `${e.reason} ${e.metadata.field}`;
    };
    expect(reason({ amountMinor: 0n })).toBe('AMOUNT_OUT_OF_RANGE amount_minor');
    expect(reason({ amountMinor: -5n })).toBe('AMOUNT_OUT_OF_RANGE amount_minor');
    expect(reason({ amountMinor: PAYMENT_AMOUNT_MINOR_MAX + 1n })).toBe('AMOUNT_OUT_OF_RANGE amount_minor');
    expect(create({ amountMinor: PAYMENT_AMOUNT_MINOR_MAX }).amountMinor).toBe(PAYMENT_AMOUNT_MINOR_MAX);
    expect(reason({ currency: 'usd' })).toBe('UNKNOWN_CURRENCY currency');
    expect(reason({ currency: 'US' })).toBe('FIELD_INVALID currency');
    expect(reason({ captureMethod: 'later' })).toBe('FIELD_INVALID capture_method');
    expect(reason({ paymentMethodId: '4242 4242 4242 4242' })).toBe('FIELD_INVALID payment_method_id');
    expect(reason({ fees: { ...fees, rateBps: -1 } })).toBe('FIELD_INVALID fees.rate_bps');
    const badId = errorOf(() => createPaymentIntent({ amountMinor: 1n, currency: 'USD', captureMethod: 'manual', fees }, { id: 'p_1', tenantId: 't', nowMs: t0 }));
    expect(badId.metadata.field).toBe('id');
  });

  it('keeps the caller metadata sorted and frozen; refuses too many keys, long keys and long values', () => {
    const intent = create({ metadata: { order_id: 'ord_42', cart: 'c-7' } });
    expect(Object.entries(intent.metadata)).toEqual([['cart', 'c-7'], ['order_id', 'ord_42']]);
    expect(Object.isFrozen(intent.metadata)).toBe(true);
    expect(create().metadata).toEqual({});
    expect(createPaymentIntent({ amountMinor: 1n, currency: 'USD', captureMethod: 'manual', fees }, { id: 'pay_2', tenantId: 't', nowMs: t0, traceId: 'a'.repeat(32) }).intent.traceId).toBe('a'.repeat(32));
    expect(create().traceId).toBe('');
    const reason = (metadata: Record<string, string>): string => {
      const e = errorOf(() => create({ metadata }));
      return `${e.reason} ${e.metadata.field}`;
    };
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(create({ metadata: keys(PAYMENT_METADATA_KEYS_MAX) }).metadata)).toHaveLength(PAYMENT_METADATA_KEYS_MAX);
    expect(reason(keys(PAYMENT_METADATA_KEYS_MAX + 1))).toBe('FIELD_INVALID metadata');
    expect(reason({ ['k'.repeat(41)]: 'v' })).toBe('FIELD_INVALID metadata');
    expect(reason({ '': 'v' })).toBe('FIELD_INVALID metadata');
    expect(reason({ note: 'v'.repeat(501) })).toBe('FIELD_INVALID metadata.note');
    // A `__proto__` key is plain data, not a prototype.
    expect(Object.getPrototypeOf(create({ metadata: JSON.parse('{"__proto__":"x"}') as Record<string, string> }).metadata)).toBe(Object.prototype);
  });
});

describe('manual capture', () => {
  it('confirm -> authorize call; authorized -> requires_capture; partial capture; refunds return the fee exactly', () => {
    const c = confirmPayment(create(), { psps: ['stripe', 'adyen'] }, t0 + 1);
    expect(c.intent).toMatchObject({ status: 'processing', psp: 'stripe', route: ['stripe', 'adyen'], unknownSinceMs: t0 + 1, version: 2 });
    expect(c.effects[0]).toMatchObject({ kind: 'call_psp_authorize', paymentMethodId: 'pm_1', amountMinor: 10_000n, captureMethod: 'manual' });
    expect(c.effects[0]?.kind === 'call_psp_authorize' && c.effects[0].attempt.idempotencyKey).toBe('pay_1:authorize:1');
    expect(c.effects[1]).toEqual({ kind: 'publish_event', event: { type: 'payment.status_changed', from: 'requires_confirmation', to: 'processing' } });

    const a = answer(c.intent, authorized());
    expect(a.intent).toMatchObject({ status: 'requires_capture', pspReference: 'pi_1', amountAuthorizedMinor: 10_000n, amountCapturableMinor: 10_000n, unknownSinceMs: null });
    expect(a.intent.attempts[0]).toMatchObject({ outcome: 'authorized', resolvedBy: 'call', completedAtMs: t0 + 10, pspReference: 'pi_1' });

    const cap = capturePayment(a.intent, { amountMinor: 6_000n }, t0 + 20);
    expect(cap.intent.status).toBe('processing');
    expect(cap.effects[0]).toMatchObject({ kind: 'call_psp_capture', pspReference: 'pi_1', amountMinor: 6_000n, attempt: { idempotencyKey: 'pay_1:capture:2' } });

    const s = answer(cap.intent, captured(6_000n), 'call', t0 + 30);
    // 6000 * 2.9 % = 174, + 30 fixed.
    expect(s.intent).toMatchObject({ status: 'succeeded', amountCapturedMinor: 6_000n, amountCapturableMinor: 0n, platformFeeMinor: 204n });
    expect(ledger(s)).toEqual([
      { kind: 'post_ledger', event: { kind: 'capture', paymentId: 'pay_1', psp: 'stripe', currency: 'USD', amountMinor: 6_000n, feeMinor: 204n, sequence: 1 } },
    ]);

    const r1 = refundPayment(s.intent, { refundId: 're_1', amountMinor: 1_000n }, t0 + 40);
    expect(r1.intent.status).toBe('succeeded');
    expect(r1.effects[0]).toMatchObject({ kind: 'call_psp_refund', refundId: 're_1', amountMinor: 1_000n, attempt: { idempotencyKey: 'pay_1:refund:re_1' } });
    expect(refundableMinor(r1.intent)).toBe(5_000n);
    const r2 = refundPayment(r1.intent, { refundId: 're_2' }, t0 + 41);
    expect(r2.intent.refunds.map((r) => [r.id, r.amountMinor, r.status])).toEqual([
      ['re_1', 1_000n, 'pending'],
      ['re_2', 5_000n, 'pending'],
    ]);
    expect(errorOf(() => refundPayment(r2.intent, { refundId: 're_3', amountMinor: 1n }, t0 + 42)).reason).toBe('AMOUNT_OUT_OF_RANGE');

    const refunded = (intent: PaymentIntent, refundId: string, amountMinor: bigint): PaymentTransition =>
      applyPspOutcome(
        intent,
        { idempotencyKey: `pay_1:refund:${refundId}`, source: 'call', outcome: { kind: 'refunded', pspReference: 'pi_1', refundReference: `rf_${refundId}`, amountMinor, currency: 'USD' } },
        t0 + 50,
      );
    const d2 = refunded(r2.intent, 're_2', 5_000n);
    const d1 = refunded(d2.intent, 're_1', 1_000n);
    expect(d1.intent).toMatchObject({ amountRefundedMinor: 6_000n, status: 'succeeded' });
    const shares = d1.intent.refunds.map((r) => r.feeReversedMinor);
    expect(shares.reduce((a, b) => a + b, 0n)).toBe(204n);
    expect(ledger(d2)[0]).toMatchObject({ event: { kind: 'refund', refundId: 're_2', amountMinor: 5_000n, feeReversedMinor: 170n } });
    expect(errorOf(() => refundPayment(d1.intent, { refundId: 're_3' }, t0 + 60)).reason).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('capture validates the amount against what is capturable', () => {
    const a = authorizedIntent();
    expect(errorOf(() => capturePayment(a, { amountMinor: 10_001n }, t0)).reason).toBe('AMOUNT_OUT_OF_RANGE');
    expect(errorOf(() => capturePayment(a, { amountMinor: 0n }, t0)).reason).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('a retryable capture goes back to requires_capture with PSP_UNAVAILABLE; a declined one fails', () => {
    const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
    const retry = answer(capturing, { kind: 'retryable', reason: 'unavailable', detail: '503' });
    expect(retry.intent).toMatchObject({ status: 'requires_capture', amountCapturableMinor: 10_000n, lastErrorReason: 'PSP_UNAVAILABLE' });
    expect(retry.error?.reason).toBe('PSP_UNAVAILABLE');
    const declined = answer(capturing, { kind: 'declined', pspReference: 'pi_1', reason: 'expired_card', pspCode: 'x' });
    expect(declined.intent).toMatchObject({ status: 'failed', amountCapturableMinor: 0n, declineReason: 'expired_card' });
    expect(declined.error?.reason).toBe('CARD_DECLINED');
  });
});

describe('automatic capture', () => {
  it('authorized -> Tally captures at once; captured -> succeeded', () => {
    const c = confirmed(create({ captureMethod: 'automatic' }));
    const a = answer(c, authorized());
    expect(a.intent.status).toBe('processing');
    expect(kinds(a)).toEqual(['call_psp_capture']);
    expect(a.effects[0]).toMatchObject({ amountMinor: 10_000n, pspReference: 'pi_1' });
    expect(answer(a.intent, captured()).intent.status).toBe('succeeded');
  });

  it('a capture call that certainly did not happen leaves a capture due; one the PSP reported failed does not', () => {
    const capturing = answer(confirmed(create({ captureMethod: 'automatic' }), ['adyen']), authorized()).intent;
    const notMade = answer(capturing, { kind: 'retryable', reason: 'unavailable', detail: '' }).intent;
    expect(notMade.status).toBe('requires_capture');
    expect(isCaptureDue(notMade)).toBe(true);
    // Captured (Adyen `received`), then rejected by the card scheme: back to requires_capture, but
    // the janitor must not capture again in a loop (the merchant decides, or Adyen re-captures).
    const recorded = answer(capturing, { kind: 'captured', pspReference: 'pi_1', amountMinor: 10_000n, currency: 'USD', provisional: true }).intent;
    const rejected = applyWebhook(recorded, event('capture_failed', t0 + 50, { psp: 'adyen', declineReason: 'other' }), t0 + 51).intent;
    expect(rejected.status).toBe('requires_capture');
    expect(isCaptureDue(rejected)).toBe(false);
    expect(isCaptureDue(authorizedIntent())).toBe(false); // manual capture: the merchant captures
  });

  it('a PSP that captures as part of authorizing goes straight to succeeded', () => {
    const t = answer(confirmed(create({ captureMethod: 'automatic' })), captured());
    expect(t.intent).toMatchObject({ status: 'succeeded', amountAuthorizedMinor: 10_000n, amountCapturedMinor: 10_000n });
    expect(ledger(t)).toHaveLength(1);
  });
});

describe('return URL', () => {
  it('a confirm keeps the return URL it was given; a later confirm without one keeps the last', () => {
    const first = confirmPayment(create(), { psps: ['stripe'], returnUrl: 'https://shop.example/return?order=1' }, t0 + 1).intent;
    expect(first.returnUrl).toBe('https://shop.example/return?order=1');
    const declined = answer(first, { kind: 'declined', pspReference: 'pi_1', reason: 'card_declined', pspCode: 'card_declined' }).intent;
    expect(confirmPayment(declined, { psps: ['stripe'] }, t0 + 3).intent.returnUrl).toBe('https://shop.example/return?order=1');
    expect(confirmPayment(declined, { psps: ['stripe'], returnUrl: 'http://localhost:3000/back' }, t0 + 3).intent.returnUrl).toBe('http://localhost:3000/back');
    expect(create().returnUrl).toBeNull();
  });

  it('refuses anything but an absolute https URL (http only for localhost), and changes nothing', () => {
    for (const bad of ['shop.example/return', '/return', 'http://shop.example/return', 'javascript:alert(1)', 'ftp://shop.example/x',
      'https://user:pw@shop.example/', `https://shop.example/${'a'.repeat(RETURN_URL_LENGTH_MAX)}`]) {
      const e = errorOf(() => confirmPayment(create(), { psps: ['stripe'], returnUrl: bad }, t0 + 1));
      expect(`${e.reason} ${e.metadata.field}`, bad).toBe('FIELD_INVALID return_url');
    }
    expect(validateReturnUrl('')).toBeNull();
    expect(validateReturnUrl('https://127.0.0.1:8443/x')).toBe('https://127.0.0.1:8443/x');
  });
});

describe('declines, failover and unknown outcomes', () => {
  it('declined -> requires_payment_method with the reason; a new confirm clears it', () => {
    const d = answer(confirmed(), { kind: 'declined', pspReference: 'pi_1', reason: 'insufficient_funds', pspCode: 'insufficient_funds' });
    expect(d.intent).toMatchObject({ status: 'requires_payment_method', declineReason: 'insufficient_funds', lastErrorReason: 'INSUFFICIENT_FUNDS' });
    expect(d.error?.reason).toBe('INSUFFICIENT_FUNDS');
    expect(d.error?.metadata).toEqual({ paymentId: 'pay_1', declineReason: 'insufficient_funds' });
    const again = confirmPayment(d.intent, { psps: ['adyen'], paymentMethodId: 'pm_2' }, t0 + 100);
    expect(again.intent).toMatchObject({ status: 'processing', psp: 'adyen', paymentMethodId: 'pm_2', declineReason: null, pspReference: null });
    expect(again.effects[0]).toMatchObject({ attempt: { number: 2, idempotencyKey: 'pay_1:authorize:2', psp: 'adyen' } });
  });

  it('retryable -> the next PSP of the route; none left -> failed with PSP_UNAVAILABLE', () => {
    const first = answer(confirmed(), { kind: 'retryable', reason: 'unavailable', detail: 'connection refused' });
    expect(first.intent).toMatchObject({ status: 'processing', psp: 'adyen' });
    expect(first.effects[0]).toMatchObject({ kind: 'call_psp_authorize', attempt: { psp: 'adyen', number: 2 } });
    expect(first.error).toBeNull();
    const second = answer(first.intent, { kind: 'retryable', reason: 'server_error', detail: '503' });
    expect(second.intent).toMatchObject({ status: 'failed', lastErrorReason: 'PSP_UNAVAILABLE', unknownSinceMs: null });
    expect(second.error?.reason).toBe('PSP_UNAVAILABLE');
  });

  it('confirm with no PSP fails fast and changes nothing', () => {
    expect(errorOf(() => confirmPayment(create(), { psps: [] }, t0)).reason).toBe('PSP_UNAVAILABLE');
    expect(errorOf(() => confirmPayment(create(), { psps: ['stripe', 'stripe'] }, t0)).reason).toBe('FIELD_INVALID');
    expect(errorOf(() => confirmPayment(create({ paymentMethodId: null }), { psps: ['stripe'] }, t0)).metadata.field).toBe('payment_method_id');
  });

  it('unknown stays processing, is never re-routed, and is settled by the janitor', () => {
    const c = confirmed();
    const u = answer(c, { kind: 'unknown', reason: 'timeout', detail: 'no answer in 10 s' }, 'call', t0 + 5_000);
    expect(u.intent).toMatchObject({ status: 'processing', psp: 'stripe', unknownSinceMs: t0 + 1 });
    expect(u.intent.attempts).toHaveLength(1);
    expect(u.intent.attempts[0]).toMatchObject({ outcome: 'unknown', resolvedBy: null, completedAtMs: null });
    expect(u.effects).toEqual([]);
    expect(attemptsToResolve(u.intent, t0 + 60_000, 60_000)).toEqual([]);
    expect(attemptsToResolve(u.intent, t0 + 60_001, 60_000).map((a) => a.idempotencyKey)).toEqual(['pay_1:authorize:1']);
    // A resend's "not processed" says nothing about the original; a failed lookup neither.
    expect(answer(u.intent, { kind: 'retryable', reason: 'unavailable', detail: '' }, 'resend').changed).toBe(false);
    expect(answer(u.intent, { kind: 'unknown', reason: 'timeout', detail: '' }, 'lookup').changed).toBe(false);
    // The lookup finds the authorization.
    const found = answer(u.intent, authorized(), 'lookup');
    expect(found.intent).toMatchObject({ status: 'requires_capture', unknownSinceMs: null });
    expect(found.intent.attempts[0]).toMatchObject({ outcome: 'authorized', resolvedBy: 'lookup' });
    // Or finds that it never arrived: safe to route on.
    const lost = answer(u.intent, { kind: 'not_found' }, 'lookup');
    expect(lost.intent).toMatchObject({ status: 'processing', psp: 'adyen' });
    expect(lost.intent.attempts[0]?.outcome).toBe('not_found');
  });

  it('a first call answer of retryable after a crash (pending attempt re-sent) is not taken as "not processed"', () => {
    const c = confirmed();
    const t = answer(c, { kind: 'retryable', reason: 'unavailable', detail: '' }, 'resend');
    expect(t.intent).toMatchObject({ status: 'processing', psp: 'stripe' });
    expect(t.intent.attempts[0]?.outcome).toBe('unknown');
  });

  it('checks what the PSP reports against the payment', () => {
    const c = confirmed();
    expect(errorOf(() => answer(c, { ...authorized(), currency: 'EUR' })).reason).toBe('CURRENCY_MISMATCH');
    expect(errorOf(() => answer(c, authorized(10_001n))).reason).toBe('AMOUNT_OUT_OF_RANGE');
    const refunded: PspOutcome = { kind: 'refunded', pspReference: 'pi_1', refundReference: 'r', amountMinor: 1n, currency: 'USD' };
    expect(errorOf(() => answer(c, refunded)).metadata).toMatchObject({ from: 'processing', command: 'apply_psp_outcome', outcome: 'refunded' });
    expect(errorOf(() => applyPspOutcome(c, { idempotencyKey: 'pay_1:authorize:9', source: 'call', outcome: authorized() }, t0)).reason).toBe('NOT_FOUND');
  });
});

describe('requires_action', () => {
  it('waits for the customer; the PSP event decides', () => {
    const ra = answer(confirmed(), { kind: 'requires_action', pspReference: 'pi_1', actionUrl: 'https://psp/3ds' });
    expect(ra.intent).toMatchObject({ status: 'requires_action', nextActionUrl: 'https://psp/3ds', unknownSinceMs: null });
    const ok = applyWebhook(ra.intent, event('authorized', t0 + 100), t0 + 101);
    expect(ok.intent).toMatchObject({ status: 'requires_capture', amountCapturableMinor: 10_000n, nextActionUrl: null, lastPspEventAtMs: t0 + 100 });
    const ko = applyWebhook(ra.intent, event('authorization_failed', t0 + 100, { declineReason: 'authentication_failed' }), t0 + 101);
    expect(ko.intent).toMatchObject({ status: 'requires_payment_method', declineReason: 'authentication_failed' });
    expect(ko.error?.reason).toBe('CARD_DECLINED');
  });

  it('a janitor lookup refreshes it when the event was lost', () => {
    const ra = answer(confirmed(), { kind: 'requires_action', pspReference: 'pi_1', actionUrl: 'https://psp/3ds' });
    const key = 'pay_1:authorize:1';
    expect(applyPspOutcome(ra.intent, { idempotencyKey: key, source: 'lookup', outcome: { kind: 'requires_action', pspReference: 'pi_1', actionUrl: 'u' } }, t0).changed).toBe(false);
    expect(applyPspOutcome(ra.intent, { idempotencyKey: key, source: 'lookup', outcome: { kind: 'canceled', pspReference: 'pi_1' } }, t0).intent.status).toBe('canceled');
    expect(applyPspOutcome(ra.intent, { idempotencyKey: key, source: 'lookup', outcome: authorized() }, t0).intent.status).toBe('requires_capture');
    // A late call answer for the settled attempt is a no-op.
    expect(applyPspOutcome(ra.intent, { idempotencyKey: key, source: 'call', outcome: authorized() }, t0).changed).toBe(false);
  });
});

describe('cancel', () => {
  it('is immediate before any PSP payment', () => {
    const t = cancelPayment(create(), t0 + 5);
    expect(t.intent.status).toBe('canceled');
    expect(kinds(t)).toEqual(['publish_event']);
  });

  it('voids an authorization at the PSP first', () => {
    const c = cancelPayment(authorizedIntent(), t0 + 20);
    expect(c.intent.status).toBe('processing');
    expect(c.effects[0]).toMatchObject({ kind: 'call_psp_cancel', pspReference: 'pi_1', attempt: { idempotencyKey: 'pay_1:cancel:2' } });
    expect(answer(c.intent, { kind: 'canceled', pspReference: 'pi_1' }).intent).toMatchObject({ status: 'canceled', amountCapturableMinor: 0n });
    const refused = answer(c.intent, { kind: 'declined', pspReference: 'pi_1', reason: 'other', pspCode: 'x' });
    expect(refused.intent.status).toBe('requires_capture');
    expect(refused.error?.reason).toBe('INVALID_STATE_TRANSITION');
    expect(answer(c.intent, { kind: 'retryable', reason: 'unavailable', detail: '' }).intent.status).toBe('requires_capture');
    // The PSP had captured before the void arrived: the money is recorded, not lost.
    const raced = answer(c.intent, captured());
    expect(raced.intent.status).toBe('succeeded');
    expect(ledger(raced)).toHaveLength(1);
  });
});

describe('an asynchronous cancel (Adyen: accepted, then CANCELLATION decides)', () => {
  const acceptedCancel = (p: PaymentIntent, modificationReference: string | undefined, nowMs: number) => {
    const c = cancelPayment(p, nowMs).intent;
    return answer(c, { kind: 'pending', pspReference: 'pi_1', detail: 'received', ...(modificationReference === undefined ? {} : { modificationReference }) }, 'call', nowMs + 1).intent;
  };
  const refusal = (at: number, modificationReference: string | null | undefined) =>
    // (The intent's PSP here is stripe; the domain does not care which PSP cancels asynchronously.)
    event('cancel_failed', at, modificationReference === undefined ? {} : { modificationReference });

  it('keeps the reference the PSP gave the cancel, and its refusal settles that cancel', () => {
    const first = acceptedCancel(authorizedIntent(), 'mod_cancel_1', t0 + 20);
    expect(currentOperation(first)).toMatchObject({ operation: 'cancel', outcome: 'pending', modificationReference: 'mod_cancel_1' });
    const refused = applyWebhook(first, refusal(t0 + 30, 'mod_cancel_1'), t0 + 31);
    expect(refused.intent.status).toBe('requires_capture');
    expect(refused.error?.reason).toBe('INVALID_STATE_TRANSITION');
    expect(currentOperation(refused.intent)).toBeNull();
  });

  it("a late refusal of an earlier cancel (settled by a lookup) does not fail the cancel in flight; that cancel's own refusal does", () => {
    const first = acceptedCancel(authorizedIntent(), 'mod_cancel_1', t0 + 20);
    // The janitor's lookup settled the first cancel: the PSP payment is still authorized.
    const settled = answer(first, authorized(), 'lookup', t0 + 100).intent;
    expect(settled.status).toBe('requires_capture');
    const second = acceptedCancel(settled, 'mod_cancel_2', t0 + 200);
    const late = applyWebhook(second, refusal(t0 + 40, 'mod_cancel_1'), t0 + 300);
    expect(late.changed).toBe(false);
    expect(currentOperation(late.intent)).toMatchObject({ operation: 'cancel', outcome: 'pending', modificationReference: 'mod_cancel_2' });
    // Its own answer still applies, whichever way.
    expect(applyWebhook(second, refusal(t0 + 250, 'mod_cancel_2'), t0 + 301).intent.status).toBe('requires_capture');
    expect(applyWebhook(second, event('canceled', t0 + 250, { modificationReference: 'mod_cancel_2' }), t0 + 301).intent.status).toBe('canceled');
  });

  it('without references on either side it applies as before (the cancel in flight is the one refused)', () => {
    const noneKept = acceptedCancel(authorizedIntent(), undefined, t0 + 20);
    expect(currentOperation(noneKept)?.modificationReference).toBeNull();
    expect(applyWebhook(noneKept, refusal(t0 + 30, 'mod_x'), t0 + 31).intent.status).toBe('requires_capture');
    const kept = acceptedCancel(authorizedIntent(), 'mod_cancel_1', t0 + 20);
    expect(applyWebhook(kept, refusal(t0 + 30, null), t0 + 31).intent.status).toBe('requires_capture');
    expect(applyWebhook(kept, refusal(t0 + 30, undefined), t0 + 31).intent.status).toBe('requires_capture');
  });
});

describe('illegal transitions', () => {
  it('throw INVALID_STATE_TRANSITION with from and command, changing nothing', () => {
    const cases: [PaymentIntent, (p: PaymentIntent) => unknown, string][] = [
      [create(), (p) => capturePayment(p, {}, t0), 'capture'],
      [create(), (p) => refundPayment(p, { refundId: 're_1' }, t0), 'refund'],
      [confirmed(), (p) => confirmPayment(p, { psps: ['stripe'] }, t0), 'confirm'],
      [confirmed(), (p) => cancelPayment(p, t0), 'cancel'],
      [authorizedIntent(), (p) => attachPaymentMethod(p, 'pm_2', t0), 'attach_payment_method'],
      [succeededIntent(), (p) => cancelPayment(p, t0), 'cancel'],
      [succeededIntent(), (p) => capturePayment(p, {}, t0), 'capture'],
      [cancelPayment(create(), t0).intent, (p) => confirmPayment(p, { psps: ['stripe'] }, t0), 'confirm'],
    ];
    for (const [intent, command, name] of cases) {
      const e = errorOf(() => command(intent));
      expect(e.reason).toBe('INVALID_STATE_TRANSITION');
      expect(e.metadata).toMatchObject({ from: intent.status, command: name });
    }
  });

  it('refund ids are unique; refunds stop after a chargeback', () => {
    const r = refundPayment(succeededIntent(), { refundId: 're_1', amountMinor: 100n }, t0 + 40).intent;
    expect(errorOf(() => refundPayment(r, { refundId: 're_1', amountMinor: 100n }, t0)).reason).toBe('ALREADY_EXISTS');
    const cb = applyWebhook(succeededIntent(), event('chargeback', t0 + 50), t0 + 51);
    expect(errorOf(() => refundPayment(cb.intent, { refundId: 're_2', amountMinor: 1n }, t0)).reason).toBe('INVALID_STATE_TRANSITION');
  });
});

describe('webhooks', () => {
  it('heal a crash between the PSP call and recording; the late answer is then a no-op', () => {
    const c = confirmed();
    const w = applyWebhook(c, event('authorized', t0 + 5), t0 + 6);
    expect(w.intent).toMatchObject({ status: 'requires_capture', pspReference: 'pi_1', unknownSinceMs: null });
    expect(w.intent.attempts[0]).toMatchObject({ outcome: 'authorized', resolvedBy: 'webhook' });
    const late = answer(c, authorized());
    expect(late.changed).toBe(true); // on the old copy it applies; on the healed one:
    const lateOnHealed = applyPspOutcome(w.intent, { idempotencyKey: 'pay_1:authorize:1', source: 'call', outcome: authorized() }, t0 + 7);
    expect(lateOnHealed).toMatchObject({ changed: false, effects: [] });
    expect(lateOnHealed.intent).toBe(w.intent);
    const contradicting = applyPspOutcome(w.intent, { idempotencyKey: 'pay_1:authorize:1', source: 'call', outcome: captured() }, t0 + 7);
    expect(contradicting.changed).toBe(false);
    expect(kinds(contradicting)).toEqual(['report_anomaly']);
  });

  it('fill in an unknown capture outcome and post the ledger exactly once', () => {
    const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
    const u = answer(capturing, { kind: 'unknown', reason: 'connection_lost', detail: '' }).intent;
    const w = applyWebhook(u, event('captured', t0 + 25), t0 + 26);
    expect(w.intent).toMatchObject({ status: 'succeeded', unknownSinceMs: null });
    expect(ledger(w)).toHaveLength(1);
    expect(applyWebhook(w.intent, event('captured', t0 + 25), t0 + 27)).toMatchObject({ changed: false, effects: [] });
    expect(answer(u, captured(), 'lookup').intent.status).toBe('succeeded');
    expect(applyPspOutcome(w.intent, { idempotencyKey: 'pay_1:capture:2', source: 'lookup', outcome: captured() }, t0 + 30).changed).toBe(false);
  });

  it('an older event never overwrites newer state; an event for a stage already passed is a no-op', () => {
    const c = confirmed();
    const cap = applyWebhook(c, event('captured', t0 + 20), t0 + 21).intent;
    expect(applyWebhook(cap, event('authorized', t0 + 10), t0 + 22).changed).toBe(false);
    expect(applyWebhook(cap, event('requires_action', t0 + 5), t0 + 22).changed).toBe(false);
    const auth = applyWebhook(c, event('authorized', t0 + 10), t0 + 11).intent;
    expect(applyWebhook(auth, event('requires_action', t0 + 30), t0 + 31).changed).toBe(false);
    expect(applyWebhook(auth, event('canceled', t0 + 5), t0 + 31).changed).toBe(false);
    expect(applyWebhook(auth, event('canceled', t0 + 15), t0 + 31).intent.status).toBe('canceled');
  });

  it('report contradictions and events of other PSP payments without changing anything', () => {
    const s = succeededIntent();
    const canceledAfterCapture = applyWebhook(s, event('canceled', t0 + 100), t0 + 101);
    expect(canceledAfterCapture).toMatchObject({ changed: false, effects: [{ kind: 'report_anomaly', reason: 'contradicting_event' }] });
    const other = applyWebhook(s, event('captured', t0 + 100, { pspReference: 'pi_other' }), t0 + 101);
    expect(other).toMatchObject({ changed: false, effects: [{ kind: 'report_anomaly', reason: 'event_for_other_reference' }] });
    const declined = answer(confirmed(), { kind: 'declined', pspReference: 'pi_1', reason: 'do_not_honor', pspCode: 'x' }).intent;
    expect(applyWebhook(declined, event('captured', t0 + 100), t0 + 101).effects[0]).toMatchObject({ reason: 'event_for_other_reference' });
    expect(applyWebhook(declined, event('authorization_failed', t0 + 100), t0 + 101)).toMatchObject({ changed: false, effects: [] });
    expect(errorOf(() => applyWebhook(s, event('captured', t0, { paymentId: 'pay_2' }), t0)).metadata.field).toBe('payment_id');
  });

  it('ignore an earlier attempt\'s PSP payment while the new one has no reference yet', () => {
    const declined = answer(confirmed(), { kind: 'declined', pspReference: 'pi_old', reason: 'do_not_honor', pspCode: 'x' }).intent;
    const again = confirmPayment(declined, { psps: ['stripe'] }, t0 + 50).intent;
    const stale = applyWebhook(again, event('authorized', t0 + 60, { pspReference: 'pi_old' }), t0 + 61);
    expect(stale.changed).toBe(false);
    expect(applyWebhook(again, event('authorized', t0 + 60, { pspReference: 'pi_new' }), t0 + 61).intent.pspReference).toBe('pi_new');
  });

  it('refunds made at the PSP are recorded once, with an id derived from the event', () => {
    const s = succeededIntent();
    const r = applyWebhook(s, event('refunded', t0 + 100, { amountMinor: 2_500n, pspEventId: 'evt_r1' }), t0 + 101);
    expect(r.intent.refunds).toHaveLength(1);
    expect(r.intent.refunds[0]).toMatchObject({ origin: 'psp', status: 'succeeded', amountMinor: 2_500n });
    expect(r.intent.refunds[0]?.id).toMatch(/^re_psp_[0-9a-f]{32}$/);
    expect(ledger(r)).toHaveLength(1);
    expect(applyWebhook(r.intent, event('refunded', t0 + 100, { amountMinor: 2_500n, pspEventId: 'evt_r1' }), t0 + 102).changed).toBe(false);
    expect(errorOf(() => applyWebhook(r.intent, event('refunded', t0 + 110, { amountMinor: 7_501n, pspEventId: 'evt_r2' }), t0)).reason).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('a refund event for our pending refund settles it; refund_failed frees the amount', () => {
    const pending = refundPayment(succeededIntent(), { refundId: 're_1', amountMinor: 4_000n }, t0 + 40).intent;
    const ok = applyWebhook(pending, event('refunded', t0 + 60, { amountMinor: 4_000n, refundId: 're_1' }), t0 + 61);
    expect(ok.intent).toMatchObject({ amountRefundedMinor: 4_000n, unknownSinceMs: null });
    expect(ok.intent.attempts.at(-1)).toMatchObject({ outcome: 'refunded', resolvedBy: 'webhook' });
    const ko = applyWebhook(pending, event('refund_failed', t0 + 60, { refundId: 're_1' }), t0 + 61);
    expect(ko.intent.refunds[0]?.status).toBe('failed');
    expect(refundableMinor(ko.intent)).toBe(10_000n);
    expect(applyPspOutcome(ok.intent, { idempotencyKey: 'pay_1:refund:re_1', source: 'call', outcome: { kind: 'retryable', reason: 'unavailable', detail: '' } }, t0).changed).toBe(false);
  });

  it('a refund the scheme rejects after it succeeded is reversed once and refundable again; a PSP retry succeeds again', () => {
    const asked = refundPayment(succeededIntent(), { refundId: 're_1', amountMinor: 4_000n }, t0 + 40).intent;
    const refundCall = (outcome: PspCallResult['outcome']) => applyPspOutcome(asked, { idempotencyKey: 'pay_1:refund:re_1', source: 'call', outcome }, t0 + 45);
    const done = refundCall({ kind: 'refunded', pspReference: 'pi_1', refundReference: 'rf_1', amountMinor: 4_000n, currency: 'USD' }).intent;
    const share = done.refunds[0]?.feeReversedMinor ?? -1n;
    expect(done).toMatchObject({ amountRefundedMinor: 4_000n });
    // Adyen REFUND_FAILED: the card scheme rejected the refund.
    const rejected = applyWebhook(done, event('refund_failed', t0 + 60, { refundId: 're_1', amountMinor: 4_000n }), t0 + 61);
    expect(rejected.intent).toMatchObject({ amountRefundedMinor: 0n });
    expect(rejected.intent.refunds[0]).toMatchObject({ status: 'failed', reversals: 1, feeReversedMinor: 0n, feeCarriedMinor: 0n, pspEventAtMs: t0 + 60 });
    expect(ledger(rejected)).toEqual([{
      kind: 'post_ledger',
      event: { kind: 'refund_reversal', paymentId: 'pay_1', refundId: 're_1', psp: 'stripe', currency: 'USD', amountMinor: 4_000n, feeReversedMinor: share, sequence: 1 },
    }]);
    expect(rejected.effects).toContainEqual({ kind: 'publish_event', event: { type: 'payment.refund_failed', refundId: 're_1' } });
    expect(refundableMinor(rejected.intent)).toBe(10_000n);
    // Again (another report of the same failure), or the success report delivered late: no-ops.
    expect(applyWebhook(rejected.intent, event('refund_failed', t0 + 60, { refundId: 're_1', pspEventId: 'evt_dup' }), t0 + 62).changed).toBe(false);
    expect(applyWebhook(rejected.intent, event('refunded', t0 + 50, { refundId: 're_1', amountMinor: 4_000n }), t0 + 62).changed).toBe(false);
    // The PSP re-processes it: a second success, a second entry.
    const retried = applyWebhook(rejected.intent, event('refunded', t0 + 70, { refundId: 're_1', amountMinor: 4_000n }), t0 + 71);
    expect(retried.intent).toMatchObject({ amountRefundedMinor: 4_000n });
    expect(retried.intent.refunds[0]).toMatchObject({ status: 'succeeded', reversals: 1 });
    expect(ledger(retried)).toMatchObject([{ event: { kind: 'refund', refundId: 're_1', sequence: 2 } }]);
    // Unless the amount was refunded again meanwhile: then it is reported, not booked twice.
    const again = refundPayment(rejected.intent, { refundId: 're_2', amountMinor: 10_000n }, t0 + 65).intent;
    const late = applyWebhook(again, event('refunded', t0 + 70, { refundId: 're_1', amountMinor: 4_000n }), t0 + 71);
    expect(late.changed).toBe(false);
    expect(kinds(late)).toEqual(['report_anomaly']);
  });

  it('a refund success and its failure reported in the same second end failed in either order (Stripe and Adyen times are whole seconds)', () => {
    const asked = refundPayment(succeededIntent(), { refundId: 're_1', amountMinor: 4_000n }, t0 + 40).intent;
    const done = applyPspOutcome(asked, { idempotencyKey: 'pay_1:refund:re_1', source: 'call', outcome: { kind: 'refunded', pspReference: 'pi_1', refundReference: 'rf_1', amountMinor: 4_000n, currency: 'USD' } }, t0 + 45).intent;
    const ok = event('refunded', t0 + 60_000, { refundId: 're_1', amountMinor: 4_000n });
    const ko = event('refund_failed', t0 + 60_000, { refundId: 're_1', amountMinor: 4_000n });
    const successFirst = applyWebhook(applyWebhook(done, ok, t0 + 61_000).intent, ko, t0 + 62_000).intent;
    const failureFirst = applyWebhook(applyWebhook(done, ko, t0 + 61_000).intent, ok, t0 + 62_000).intent;
    for (const p of [successFirst, failureFirst]) {
      expect(p.refunds[0]).toMatchObject({ status: 'failed', reversals: 1 });
      expect(p.amountRefundedMinor).toBe(0n);
    }
  });

  it('a success reported for a refund the PSP declined outright is an anomaly, not a booking', () => {
    const asked = refundPayment(succeededIntent(), { refundId: 're_1', amountMinor: 4_000n }, t0 + 40).intent;
    const declined = applyPspOutcome(asked, { idempotencyKey: 'pay_1:refund:re_1', source: 'call', outcome: { kind: 'declined', pspReference: null, reason: 'other', pspCode: 'refused' } }, t0 + 45).intent;
    expect(declined.refunds[0]?.status).toBe('failed');
    const contradicting = applyWebhook(declined, event('refunded', t0 + 70, { refundId: 're_1', amountMinor: 4_000n }), t0 + 71);
    expect(contradicting.changed).toBe(false);
    expect(kinds(contradicting)).toEqual(['report_anomaly']);
  });

  it('refund events that arrive before the capture wait for it', () => {
    const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
    const early = applyWebhook(capturing, event('refunded', t0 + 40, { amountMinor: 1_000n, pspEventId: 'evt_r' }), t0 + 41);
    expect(early.intent).toMatchObject({ status: 'processing', refunds: [] });
    expect(early.intent.deferredPspEvents).toHaveLength(1);
    expect(applyWebhook(early.intent, event('refunded', t0 + 40, { amountMinor: 1_000n, pspEventId: 'evt_r' }), t0 + 42).changed).toBe(false);
    const done = applyWebhook(early.intent, event('captured', t0 + 30), t0 + 43);
    expect(done.intent).toMatchObject({ status: 'succeeded', amountRefundedMinor: 1_000n, deferredPspEvents: [] });
    expect(ledger(done).map((e) => e.kind === 'post_ledger' && e.event.kind)).toEqual(['capture', 'refund']);
    // If the payment ends without a capture, they are reported and dropped.
    const voided = applyWebhook(early.intent, event('canceled', t0 + 30), t0 + 43);
    expect(voided.intent.deferredPspEvents).toEqual([]);
    expect(voided.effects.some((e) => e.kind === 'report_anomaly' && e.reason === 'deferred_events_dropped')).toBe(true);
  });

  it('a dispute and its reversal of the same second, waiting for the capture, come out in the order they happened, whatever their event ids', () => {
    const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
    // Stripe's times are whole seconds; the reversal's id sorts first.
    const reversal = event('chargeback_reversed', t0 + 60_000, { pspEventId: 'evt_a' });
    const dispute = event('chargeback', t0 + 60_000, { pspEventId: 'evt_b' });
    for (const arrival of [[reversal, dispute], [dispute, reversal]]) {
      let p = capturing;
      for (const e of arrival) p = applyWebhook(p, e, t0 + 60_001).intent;
      expect(p.deferredPspEvents).toHaveLength(2);
      const done = applyWebhook(p, event('captured', t0 + 30), t0 + 60_002);
      expect(done.intent).toMatchObject({ status: 'succeeded', chargeback: null, dispute: { status: 'chargeback_reversed' }, deferredPspEvents: [] });
      // Taken, then given back: both in the ledger, as they will be in the settlement report.
      expect(ledger(done).map((e) => e.kind === 'post_ledger' && e.event.kind)).toEqual(['capture', 'chargeback', 'chargeback_reversal']);
    }
  });

  it('a chargeback reverses what is left, with the dispute fee', () => {
    const refunded = applyWebhook(succeededIntent(), event('refunded', t0 + 40, { amountMinor: 3_000n, refundId: null }), t0 + 41).intent;
    const cb = applyWebhook(refunded, event('chargeback', t0 + 50, { amountMinor: 7_000n }), t0 + 51);
    expect(cb.intent.chargeback).toMatchObject({ amountMinor: 7_000n, disputeFeeMinor: 1_500n });
    const fee = cb.intent.platformFeeMinor;
    expect((cb.intent.chargeback?.feeReversedMinor ?? 0n) + (cb.intent.refunds[0]?.feeReversedMinor ?? 0n)).toBe(fee);
    expect(ledger(cb)[0]).toMatchObject({ event: { kind: 'chargeback', amountMinor: 7_000n, disputeFeeMinor: 1_500n } });
    expect(applyWebhook(cb.intent, event('chargeback', t0 + 60, { amountMinor: 7_000n }), t0 + 61).changed).toBe(false);
  });

  it('a won dispute reverses the chargeback once; a second chargeback takes the funds again', () => {
    const cb = applyWebhook(succeededIntent(), event('chargeback', t0 + 50), t0 + 51).intent;
    const won = applyWebhook(cb, event('chargeback_reversed', t0 + 60), t0 + 61);
    expect(won.intent).toMatchObject({ chargeback: null, dispute: { status: 'chargeback_reversed' } });
    expect(refundableMinor(won.intent)).toBe(10_000n);
    const cbEvent = ledger(applyWebhook(succeededIntent(), event('chargeback', t0 + 50), t0 + 51))[0];
    expect(ledger(won)).toEqual([{ kind: 'post_ledger', event: { ...(cbEvent?.kind === 'post_ledger' ? cbEvent.event : {}), kind: 'chargeback_reversal' } }]);
    expect(won.effects).toContainEqual({ kind: 'publish_event', event: { type: 'payment.chargeback_reversed', amountMinor: 10_000n } });
    // Again, or the chargeback delivered late: no-ops (a lower or the same stage).
    expect(applyWebhook(won.intent, event('chargeback_reversed', t0 + 60, { pspEventId: 'evt_other' }), t0 + 62).changed).toBe(false);
    expect(applyWebhook(won.intent, event('chargeback', t0 + 50, { pspEventId: 'evt_late' }), t0 + 62).changed).toBe(false);
    const second = applyWebhook(won.intent, event('second_chargeback', t0 + 70), t0 + 71);
    expect(second.intent).toMatchObject({ chargeback: { number: 2, amountMinor: 10_000n }, dispute: { status: 'second_chargeback' } });
    expect(ledger(second)).toMatchObject([{ event: { kind: 'chargeback', number: 2 } }]);
  });

  it('a reversal that overtakes its chargeback books nothing, and the chargeback is then a no-op', () => {
    const won = applyWebhook(succeededIntent(), event('chargeback_reversed', t0 + 60), t0 + 61);
    expect(won.intent).toMatchObject({ chargeback: null, dispute: { status: 'chargeback_reversed' } });
    expect(ledger(won)).toEqual([]);
    expect(applyWebhook(won.intent, event('chargeback', t0 + 50), t0 + 62).changed).toBe(false);
  });
});

describe('a capture recorded from a provisional answer (Adyen `received`)', () => {
  function provisionallyCaptured(): PaymentIntent {
    const capturing = capturePayment(authorizedIntent(), {}, t0 + 20).intent;
    return answer(capturing, { kind: 'captured', pspReference: 'pi_1', amountMinor: 10_000n, currency: 'USD', provisional: true }, 'call', t0 + 30).intent;
  }

  it('is unwound once by capture_failed: ledger reversed, back to requires_capture, capturable again', () => {
    const p = provisionallyCaptured();
    expect(p.attempts.at(-1)).toMatchObject({ operation: 'capture', outcome: 'captured', provisional: true });
    const failed = applyWebhook(p, event('capture_failed', t0 + 40, { declineReason: 'expired_card' }), t0 + 41);
    expect(failed.intent).toMatchObject({ status: 'requires_capture', amountCapturedMinor: 0n, amountCapturableMinor: 10_000n, platformFeeMinor: 0n, captureReversals: 1 });
    expect(failed.intent.attempts.at(-1)).toMatchObject({ outcome: 'declined', resolvedBy: 'webhook', provisional: false });
    expect(ledger(failed)).toMatchObject([{ event: { kind: 'capture_reversal', amountMinor: 10_000n, sequence: 1 } }]);
    expect(failed.error?.reason).toBe('CARD_DECLINED');
    expect(applyWebhook(failed.intent, event('capture_failed', t0 + 40, { pspEventId: 'evt_again' }), t0 + 42).changed).toBe(false);
    // An older `captured` cannot bring it back; a new capture is a new ledger entry.
    expect(applyWebhook(failed.intent, event('captured', t0 + 35), t0 + 43).changed).toBe(false);
    const again = answer(capturePayment(failed.intent, {}, t0 + 50).intent, captured(), 'call', t0 + 51);
    expect(ledger(again)).toMatchObject([{ event: { kind: 'capture', sequence: 2 } }]);
  });

  it('is confirmed by its captured webhook; a scheme rejection after that unwinds it, and a PSP re-capture captures again', () => {
    const confirmedCapture = applyWebhook(provisionallyCaptured(), event('captured', t0 + 40), t0 + 41);
    expect(confirmedCapture.intent.attempts.at(-1)).toMatchObject({ provisional: false });
    // Adyen CAPTURE_FAILED days later: the card scheme rejected the confirmed capture.
    const rejected = applyWebhook(confirmedCapture.intent, event('capture_failed', t0 + 50, { pspEventId: 'evt_scheme' }), t0 + 51);
    expect(rejected.intent).toMatchObject({ status: 'requires_capture', amountCapturedMinor: 0n, amountCapturableMinor: 10_000n, captureReversals: 1 });
    expect(ledger(rejected)).toMatchObject([{ event: { kind: 'capture_reversal', amountMinor: 10_000n, sequence: 1 } }]);
    // The confirmation, delivered again late, is older: it cannot bring the capture back.
    expect(applyWebhook(rejected.intent, event('captured', t0 + 40, { pspEventId: 'evt_confirm_again' }), t0 + 52).changed).toBe(false);
    // Adyen re-captures by itself ("Transaction Recaptured"): a new capture, a new ledger entry.
    const recaptured = applyWebhook(rejected.intent, event('captured', t0 + 60, { pspEventId: 'evt_recaptured' }), t0 + 61);
    expect(recaptured.intent).toMatchObject({ status: 'succeeded', amountCapturedMinor: 10_000n });
    expect(ledger(recaptured)).toMatchObject([{ event: { kind: 'capture', sequence: 2 } }]);
    // A rejection of that re-capture has no attempt of ours to unwind: reported, not applied.
    const again = applyWebhook(recaptured.intent, event('capture_failed', t0 + 70, { pspEventId: 'evt_scheme_2' }), t0 + 71);
    expect(again.changed).toBe(false);
    expect(kinds(again)).toEqual(['report_anomaly']);
  });

  it('a capture confirmation and its scheme rejection in the same second end unwound in either order', () => {
    const p = provisionallyCaptured();
    const ok = event('captured', t0 + 60_000, { pspEventId: 'evt_capture' });
    const ko = event('capture_failed', t0 + 60_000, { pspEventId: 'evt_capture_failed' });
    const successFirst = applyWebhook(applyWebhook(p, ok, t0 + 61_000).intent, ko, t0 + 62_000).intent;
    const failureFirst = applyWebhook(applyWebhook(p, ko, t0 + 61_000).intent, ok, t0 + 62_000).intent;
    for (const q of [successFirst, failureFirst]) expect(q).toMatchObject({ status: 'requires_capture', amountCapturedMinor: 0n, captureReversals: 1 });
  });

  it('a failure reported after a refund of the capture is an anomaly: the capture stays recorded', () => {
    const refunded = refundPayment(provisionallyCaptured(), { refundId: 're_1', amountMinor: 1_000n }, t0 + 35).intent;
    const kept = applyWebhook(refunded, event('capture_failed', t0 + 50), t0 + 51);
    expect(kept.changed).toBe(false);
    expect(kinds(kept)).toEqual(['report_anomaly']);
  });

});

describe('one-call checkout: creation and confirmation as one transition', () => {
  it('chains the creation and the confirmation: the confirmed intent, both effects in order, one save', () => {
    const created = createPaymentIntent({ amountMinor: 2_500n, currency: 'USD', captureMethod: 'automatic', paymentMethodId: 'pm_1', fees }, { id: 'pay_1', tenantId: 'ten_1', nowMs: t0 });
    const confirmed = confirmPayment(created.intent, { psps: ['stripe', 'adyen'] }, t0 + 1);
    const both = chainTransitions(created, confirmed);
    expect(both.intent).toBe(confirmed.intent);
    expect(both.intent).toMatchObject({ status: 'processing', version: created.intent.version + 1 });
    expect(both.changed).toBe(true);
    expect(both.error).toBeNull();
    expect(both.effects.map((e) => e.kind === 'publish_event' ? e.event.type : e.kind)).toEqual([
      ...created.effects.map((e) => e.kind === 'publish_event' ? e.event.type : e.kind),
      ...confirmed.effects.map((e) => e.kind === 'publish_event' ? e.event.type : e.kind),
    ]);
    expect(both.effects[0]).toMatchObject({ kind: 'publish_event', event: { type: 'payment.created', status: 'requires_confirmation' } });
    expect(both.effects.filter((e) => e.kind === 'call_psp_authorize')).toHaveLength(1);
  });

  it('a payment created and confirmed in one call announces itself once, created into the status it was confirmed into', () => {
    const created = createPaymentIntent({ amountMinor: 2_500n, currency: 'USD', captureMethod: 'automatic', paymentMethodId: 'pm_1', metadata: { order: '7' }, fees }, { id: 'pay_1', tenantId: 'ten_1', nowMs: t0 });
    const confirmed = confirmPayment(created.intent, { psps: ['stripe'] }, t0 + 1);
    const one = createdAndConfirmed(created, confirmed);
    const events = one.effects.flatMap((e) => (e.kind === 'publish_event' ? [e.event] : []));
    expect(events).toEqual([{ type: 'payment.created', status: 'processing', amountMinor: 2_500n, currency: 'USD', captureMethod: 'automatic', customerId: null, metadata: { order: '7' } }]);
    expect(one.effects.filter((e) => e.kind === 'call_psp_authorize')).toHaveLength(1);
    expect(one.intent).toBe(confirmed.intent);
  });

  it('keeps the error of the second transition (a decline answering the confirmation)', () => {
    const confirmed = confirmPayment(create(), { psps: ['stripe'] }, t0 + 1);
    const declined = answer(confirmed.intent, { kind: 'declined', reason: 'insufficient_funds', pspReference: 'pi_1', pspCode: 'insufficient_funds' });
    expect(declined.error).not.toBeNull();
    const both = chainTransitions(confirmed, declined);
    expect(both.error).toBe(declined.error);
    expect(both.intent.status).toBe('requires_payment_method');
  });

  it('derives the payment id of a one-call checkout from its key and request: same parts, same id; any other part, another id', () => {
    const id = derivedId('pay', ['ten_1', 'CreatePayment', 'order-42', 'hash-a']);
    expect(id).toMatch(/^pay_[A-Za-z0-9_-]{22}$/);
    expect(derivedId('pay', ['ten_1', 'CreatePayment', 'order-42', 'hash-a'])).toBe(id);
    for (const other of [['ten_2', 'CreatePayment', 'order-42', 'hash-a'], ['ten_1', 'CreatePayment', 'order-42', 'hash-b'], ['ten_1', 'CreatePayment', 'order-4', '2hash-a']]) {
      expect(derivedId('pay', other)).not.toBe(id);
    }
  });
});

describe('updating metadata', () => {
  const withMetadata = () => create({ metadata: { order: '1042', channel: 'web' } });

  it('sets, replaces and (with an empty value) removes keys, keeps the others, and announces the whole new metadata', () => {
    const t = updatePaymentMetadata(withMetadata(), { channel: '', note: 'gift', order: '1043' }, t0 + 5);
    expect(t.changed).toBe(true);
    expect(t.intent.metadata).toEqual({ note: 'gift', order: '1043' });
    expect(t.intent).toMatchObject({ version: 2, updatedAtMs: t0 + 5, status: 'requires_confirmation' });
    expect(t.effects).toEqual([{ kind: 'publish_event', event: { type: 'payment.metadata_updated', metadata: { note: 'gift', order: '1043' } } }]);
  });

  it('works in any status, e.g. after the payment succeeded or was canceled', () => {
    const succeeded = answer(confirmPayment(create({ captureMethod: 'automatic' }), { psps: ['stripe'] }, t0 + 1).intent, captured()).intent;
    expect(succeeded.status).toBe('succeeded');
    expect(updatePaymentMetadata(succeeded, { order: '7' }, t0 + 20).intent.metadata).toEqual({ order: '7' });
    const canceled = cancelPayment(create(), t0 + 1).intent;
    expect(updatePaymentMetadata(canceled, { reason: 'duplicate order' }, t0 + 2).intent.metadata).toEqual({ reason: 'duplicate order' });
  });

  it('the same metadata again is a no-op', () => {
    const t = updatePaymentMetadata(withMetadata(), { order: '1042', missing: '' }, t0 + 5);
    expect(t.changed).toBe(false);
    expect(t.effects).toEqual([]);
  });

  it('refuses what would break the limits, or names nothing, and changes nothing', () => {
    const full = create({ metadata: Object.fromEntries(Array.from({ length: PAYMENT_METADATA_KEYS_MAX }, (_, i) => [`k${i}`, 'v'])) });
    expect(errorOf(() => updatePaymentMetadata(full, { one_more: 'v' }, t0 + 1))).toMatchObject({ reason: 'FIELD_INVALID' });
    expect(updatePaymentMetadata(full, { k0: '', one_more: 'v' }, t0 + 1).intent.metadata.one_more).toBe('v'); // one out, one in
    expect(errorOf(() => updatePaymentMetadata(withMetadata(), { note: 'x'.repeat(501) }, t0 + 1))).toMatchObject({ reason: 'FIELD_INVALID' });
    expect(errorOf(() => updatePaymentMetadata(withMetadata(), { ['k'.repeat(41)]: 'v' }, t0 + 1))).toMatchObject({ reason: 'FIELD_INVALID' });
    expect(errorOf(() => updatePaymentMetadata(withMetadata(), {}, t0 + 1))).toMatchObject({ reason: 'FIELD_REQUIRED' });
  });
});
