/**
 * A payment event's `payment` snapshot (app/payments/transitions.ts paymentSnapshot) -> the payment
 * as the API shows it: the same `paymentToProto` as GetPayment, then the protobuf JSON form the
 * API answers in (`toJson` with the API's defaults: int64 as strings, enum names, fields at their
 * default value left out). Merchant webhooks send it as `data.object` (issue 16 item 2, ADR 0034).
 *
 * Nothing is made up: a snapshot missing any field the API shows (events written before the
 * snapshot carried them), or holding a value of the wrong kind, gives undefined, and the caller
 * keeps the event's own body.
 */
import { toJson, type JsonObject } from '@bufbuild/protobuf';
import { declineReasons, disputeStatuses, paymentStatuses, pspNames, refundStatuses } from '../../domain/payments/index.js';
import { PaymentSchema } from '../../gen/tally/payments/v1/payments_pb.js';
import { paymentToProto, type PaymentView } from './payments-mapping.js';

const int64Pattern = /^-?\d{1,19}$/;

class NotAView extends Error {}

function viewOf(s: Record<string, unknown>): PaymentView {
  const fail = (field: string): never => { throw new NotAView(field); };
  const str = (field: string, v: unknown = s[field]): string => (typeof v === 'string' ? v : fail(field));
  const strOrNull = (field: string): string | null => (s[field] === null ? null : str(field));
  const minor = (field: string, v: unknown = s[field]): bigint => (typeof v === 'string' && int64Pattern.test(v) ? BigInt(v) : fail(field));
  const ms = (field: string): number => (typeof s[field] === 'number' && Number.isSafeInteger(s[field]) ? (s[field] as number) : fail(field));
  const oneOf = <T extends string>(field: string, values: readonly T[], v: unknown = s[field]): T => (values.includes(v as T) ? (v as T) : fail(field));
  const object = (field: string, v: unknown = s[field]): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(field));
  const metadata = object('metadata');
  for (const value of Object.values(metadata)) if (typeof value !== 'string') fail('metadata');
  const pricing = object('pricing');
  const refunds = Array.isArray(s.refunds) ? s.refunds : fail('refunds');
  const chargedBackMinor = minor('amountChargedBackMinor');
  const rateBps = typeof pricing.rateBps === 'number' && Number.isSafeInteger(pricing.rateBps) ? pricing.rateBps : fail('pricing.rateBps');
  return {
    id: str('id'), amountMinor: minor('amountMinor'), currency: str('currency'), status: oneOf('status', paymentStatuses),
    captureMethod: oneOf('captureMethod', ['automatic', 'manual'] as const), paymentMethodId: strOrNull('paymentMethodId'), customerId: strOrNull('customerId'),
    // The snapshot writes '' for none (the analytics sink's columns); the API shows none as '' too.
    psp: s.psp === '' ? null : oneOf('psp', pspNames), pspReference: strOrNull('pspReference'),
    amountCapturableMinor: minor('amountCapturableMinor'), amountCapturedMinor: minor('amountCapturedMinor'), amountRefundedMinor: minor('amountRefundedMinor'),
    declineReason: s.declineReason === '' ? null : oneOf('declineReason', declineReasons), nextActionUrl: strOrNull('nextActionUrl'),
    createdAtMs: ms('createdAtMs'), updatedAtMs: ms('updatedAtMs'), traceId: str('traceId'), platformFeeMinor: minor('feeMinor'),
    metadata: metadata as Record<string, string>,
    refunds: refunds.map((r, i) => {
      const refund = object(`refunds[${i}]`, r);
      return { id: str(`refunds[${i}].id`, refund.id), amountMinor: minor(`refunds[${i}].amountMinor`, refund.amountMinor), status: oneOf(`refunds[${i}].status`, refundStatuses, refund.status) };
    }),
    dispute: s.disputeStatus === null ? null : { status: oneOf('disputeStatus', disputeStatuses) },
    // The API shows the standing chargeback's amount, 0 when there is none.
    chargeback: chargedBackMinor === 0n ? null : { amountMinor: chargedBackMinor },
    fees: { rateBps, fixedMinor: minor('pricing.fixedMinor', pricing.fixedMinor) },
  };
}

/** The payment of a payment event's body (`payload.payment`) in the API's JSON form, or undefined (see above). */
export function paymentApiObject(body: Readonly<Record<string, unknown>>): JsonObject | undefined {
  const snapshot = body.payment;
  if (snapshot === null || typeof snapshot !== 'object' || Array.isArray(snapshot)) return undefined;
  try {
    return toJson(PaymentSchema, paymentToProto(viewOf(snapshot as Record<string, unknown>))) as JsonObject;
  } catch (error) {
    if (error instanceof NotAView) return undefined;
    throw error;
  }
}
