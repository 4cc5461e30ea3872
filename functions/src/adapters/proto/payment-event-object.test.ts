import { toJson } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { paymentSnapshot } from '../../app/payments/transitions.js';
import { createPaymentIntent, type PaymentIntent } from '../../domain/payments/index.js';
import { PaymentSchema } from '../../gen/tally/payments/v1/payments_pb.js';
import { paymentApiObject } from './payment-event-object.js';
import { paymentToProto } from './payments-mapping.js';

const fees = { rateBps: 290, fixedMinor: 30n, rounding: 'half-up', disputeFeeMinor: 1_500n } as const;
const t0 = 1_700_000_000_000;
const created = createPaymentIntent(
  { amountMinor: 10_000n, currency: 'EUR', captureMethod: 'automatic', paymentMethodId: 'pm_1', customerId: 'cus_1', metadata: { order: 'o-1', note: 'a "quoted" ü' }, fees },
  { id: 'pay_1', tenantId: 'ten_1', nowMs: t0, traceId: 'a'.repeat(32) },
).intent;

/** What the event carries: the snapshot as it reaches the dispatcher (JSON through the outbox and Pub/Sub). */
const eventBody = (p: PaymentIntent) => JSON.parse(JSON.stringify({ refundId: 're_1', payment: paymentSnapshot(p) })) as Record<string, unknown>;
/** What GetPayment answers for the same payment, in the API's JSON form. */
const apiJson = (p: PaymentIntent) => toJson(PaymentSchema, paymentToProto(p));

describe('a payment event\'s snapshot as the API shows the payment (webhook data.object)', () => {
  it('equals GetPayment\'s JSON of the same payment: fresh, and succeeded with refunds, a standing chargeback, PSP fields and a decline reason', () => {
    expect(paymentApiObject(eventBody(created))).toEqual(apiJson(created));
    const rich: PaymentIntent = {
      ...created, status: 'succeeded', psp: 'adyen', pspReference: 'PSP123', amountAuthorizedMinor: 10_000n, amountCapturedMinor: 10_000n,
      amountRefundedMinor: 1_000n, platformFeeMinor: 320n, updatedAtMs: t0 + 5_000, version: 7, nextActionUrl: 'https://psp.example/3ds',
      // Only the fields the snapshot and the API read are set on these.
      refunds: [{ id: 're_1', amountMinor: 1_000n, status: 'succeeded' }, { id: 're_2', amountMinor: 500n, status: 'failed' }] as unknown as PaymentIntent['refunds'],
      dispute: { status: 'chargeback' } as PaymentIntent['dispute'],
      chargeback: { amountMinor: 9_000n } as PaymentIntent['chargeback'],
    };
    const object = paymentApiObject(eventBody(rich));
    expect(object).toEqual(apiJson(rich));
    // The API's JSON form: int64 as strings, enums by name, nulls as the API shows them.
    expect(object).toMatchObject({
      id: 'pay_1', amountMinor: '10000', currency: 'EUR', status: 'PAYMENT_STATUS_SUCCEEDED', captureMethod: 'CAPTURE_METHOD_AUTOMATIC',
      psp: 'adyen', pspReference: 'PSP123', amountRefundedMinor: '1000', disputeStatus: 'DISPUTE_STATUS_CHARGEBACK', amountChargedBackMinor: '9000',
      refunds: [{ id: 're_1', amountMinor: '1000', status: 'succeeded' }, { id: 're_2', amountMinor: '500', status: 'failed' }],
      metadata: { order: 'o-1', note: 'a "quoted" ü' }, feeMinor: '320', createTime: '2023-11-14T22:13:20Z',
    });
    const declined: PaymentIntent = { ...created, status: 'requires_payment_method', psp: 'stripe', declineReason: 'insufficient_funds', dispute: null };
    expect(paymentApiObject(eventBody(declined))).toEqual(apiJson(declined));
  });

  it('makes nothing up: a snapshot without a field the API shows (an event from before), or with a value of the wrong kind, gives undefined', () => {
    const body = eventBody(created);
    const snapshot = body.payment as Record<string, unknown>;
    // The snapshot as payment events carried it before: the analytics fields only.
    const analyticsOnly = Object.fromEntries(['version', 'status', 'psp', 'amountMinor', 'currency', 'amountAuthorizedMinor', 'amountCapturedMinor', 'amountRefundedMinor',
      'amountChargedBackMinor', 'feeMinor', 'declineReason', 'createdAtMs'].map((k) => [k, snapshot[k]]));
    expect(paymentApiObject({ payment: analyticsOnly })).toBeUndefined();
    for (const field of Object.keys(snapshot).filter((k) => !(k in analyticsOnly) || k === 'status')) {
      const { [field]: _dropped, ...without } = snapshot;
      expect(paymentApiObject({ payment: without }), field).toBeUndefined();
    }
    for (const [field, value] of [['amountMinor', 10_000], ['status', 'paid'], ['refunds', {}], ['metadata', { n: 1 }], ['psp', 'acme'], ['updatedAtMs', '1']] as const) {
      expect(paymentApiObject({ payment: { ...snapshot, [field]: value } }), field).toBeUndefined();
    }
    expect(paymentApiObject({ refundId: 're_1' })).toBeUndefined();
  });
});
