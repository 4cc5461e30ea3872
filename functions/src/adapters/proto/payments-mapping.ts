/** Domain <-> protobuf for payments. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { DisputeStatus as DomainDisputeStatus, PaymentIntent, PaymentStatus as DomainStatus } from '../../domain/payments/index.js';
import { CaptureMethod, DisputeStatus, PaymentSchema, PaymentStatus, type Payment } from '../../gen/tally/payments/v1/payments_pb.js';

const statusToProto: Record<DomainStatus, PaymentStatus> = {
  requires_payment_method: PaymentStatus.REQUIRES_PAYMENT_METHOD,
  requires_confirmation: PaymentStatus.REQUIRES_CONFIRMATION,
  requires_action: PaymentStatus.REQUIRES_ACTION,
  processing: PaymentStatus.PROCESSING,
  requires_capture: PaymentStatus.REQUIRES_CAPTURE,
  succeeded: PaymentStatus.SUCCEEDED,
  canceled: PaymentStatus.CANCELED,
  failed: PaymentStatus.FAILED,
};

/** A proto status back to the domain's; undefined for UNSPECIFIED or a number no status has. */
export function paymentStatusFromProto(status: PaymentStatus): DomainStatus | undefined {
  return (Object.keys(statusToProto) as DomainStatus[]).find((s) => statusToProto[s] === status);
}

const disputeStatusToProto: Record<DomainDisputeStatus, DisputeStatus> = {
  chargeback: DisputeStatus.CHARGEBACK,
  chargeback_reversed: DisputeStatus.CHARGEBACK_REVERSED,
  second_chargeback: DisputeStatus.SECOND_CHARGEBACK,
};

export function captureMethodFromProto(m: CaptureMethod): string {
  if (m === CaptureMethod.MANUAL) return 'manual';
  if (m === CaptureMethod.AUTOMATIC || m === CaptureMethod.UNSPECIFIED) return 'automatic';
  return `unknown(${String(m)})`;
}

/**
 * What the API shows of a payment: the fields `paymentToProto` reads. A PaymentIntent is one; so is
 * the `payment` snapshot a payment event carries (adapters/proto/payment-event-object.ts), which is
 * how a webhook's `data.object` is the payment exactly as GetPayment returns it.
 */
export interface PaymentView extends Pick<PaymentIntent, 'id' | 'amountMinor' | 'currency' | 'status' | 'captureMethod' | 'paymentMethodId' | 'customerId' | 'psp'
  | 'pspReference' | 'amountCapturableMinor' | 'amountCapturedMinor' | 'amountRefundedMinor' | 'declineReason' | 'nextActionUrl' | 'createdAtMs' | 'updatedAtMs'
  | 'traceId' | 'platformFeeMinor' | 'metadata'> {
  readonly refunds: readonly Pick<PaymentIntent['refunds'][number], 'id' | 'amountMinor' | 'status'>[];
  readonly dispute: Pick<NonNullable<PaymentIntent['dispute']>, 'status'> | null;
  readonly chargeback: Pick<NonNullable<PaymentIntent['chargeback']>, 'amountMinor'> | null;
  readonly fees: Pick<PaymentIntent['fees'], 'rateBps' | 'fixedMinor'>;
}

export function paymentToProto(p: PaymentView): Payment {
  return create(PaymentSchema, {
    id: p.id, amountMinor: p.amountMinor, currency: p.currency, status: statusToProto[p.status],
    captureMethod: p.captureMethod === 'manual' ? CaptureMethod.MANUAL : CaptureMethod.AUTOMATIC,
    paymentMethodId: p.paymentMethodId ?? '', customerId: p.customerId ?? '', psp: p.psp ?? '', pspReference: p.pspReference ?? '',
    amountCapturableMinor: p.amountCapturableMinor, amountCapturedMinor: p.amountCapturedMinor, amountRefundedMinor: p.amountRefundedMinor,
    refunds: p.refunds.map((r) => ({ id: r.id, amountMinor: r.amountMinor, status: r.status })),
    declineReason: p.declineReason ?? '', nextActionUrl: p.nextActionUrl ?? '',
    createTime: timestampFromMs(p.createdAtMs), updateTime: timestampFromMs(p.updatedAtMs), traceId: p.traceId,
    disputeStatus: p.dispute === null ? DisputeStatus.UNSPECIFIED : disputeStatusToProto[p.dispute.status],
    amountChargedBackMinor: p.chargeback?.amountMinor ?? 0n,
    feeMinor: p.platformFeeMinor, pricing: { rateBps: p.fees.rateBps, fixedMinor: p.fees.fixedMinor }, metadata: { ...p.metadata },
  });
}
