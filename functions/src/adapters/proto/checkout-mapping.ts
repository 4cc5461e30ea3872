/** Checkout sessions between the domain and tally.checkout.v1 (issue 17). */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { CheckoutLine, CheckoutMode as DomainMode, CheckoutSession as DomainSession, CheckoutStatus, CheckoutTaxLine as DomainTaxLine } from '../../domain/checkout/session.js';
import { currencyOf } from '../../domain/money/index.js';
import {
  CheckoutLineItemSchema, CheckoutMode, CheckoutSessionSchema, CheckoutSessionStatus, CheckoutTaxLineSchema, HostedCheckoutSessionSchema,
  type CheckoutLineItem, type CheckoutSession, type CheckoutTaxLine, type HostedCheckoutSession,
} from '../../gen/tally/checkout/v1/checkout_pb.js';

const modeToProto: Record<DomainMode, CheckoutMode> = { payment: CheckoutMode.PAYMENT, subscription: CheckoutMode.SUBSCRIPTION };
const statusToProto: Record<CheckoutStatus, CheckoutSessionStatus> = {
  open: CheckoutSessionStatus.OPEN, complete: CheckoutSessionStatus.COMPLETE, expired: CheckoutSessionStatus.EXPIRED,
};

/** The domain's mode of a proto mode; null for UNSPECIFIED or an unknown number. */
export function checkoutModeFromProto(mode: CheckoutMode): DomainMode | null {
  if (mode === CheckoutMode.PAYMENT) return 'payment';
  if (mode === CheckoutMode.SUBSCRIPTION) return 'subscription';
  return null;
}

function lineToProto(l: CheckoutLine): CheckoutLineItem {
  return create(CheckoutLineItemSchema, {
    name: l.name, priceId: l.priceId, quantity: l.quantity, unitAmountMinor: l.unitAmountMinor, amountSubtotalMinor: l.subtotalMinor,
    amountTaxMinor: l.taxMinor, amountTotalMinor: l.totalMinor, taxRatePpm: l.taxRatePpm, taxInclusive: l.taxBehavior === 'inclusive',
    recurringInterval: l.recurring?.unit ?? '', recurringIntervalCount: l.recurring?.count ?? 0,
  });
}

const taxLineToProto = (t: DomainTaxLine): CheckoutTaxLine => create(CheckoutTaxLineSchema, {
  ratePpm: t.ratePpm, country: t.country, treatment: t.treatment, taxableAmountMinor: t.taxableMinor, amountMinor: t.taxMinor, reason: t.reason,
});

/** The merchant's view; `url` and `clientSecret` only when given (CreateCheckoutSession's response). */
export function checkoutSessionToProto(s: DomainSession, secret?: { url: string; clientSecret: string }): CheckoutSession {
  return create(CheckoutSessionSchema, {
    id: s.id, mode: modeToProto[s.mode], status: statusToProto[s.status], currency: s.currency, currencyExponent: currencyOf(s.currency).exponent,
    lineItems: s.lines.map(lineToProto), amountSubtotalMinor: s.subtotalMinor, amountTaxMinor: s.taxMinor, amountTotalMinor: s.totalMinor,
    taxLines: s.taxLines.map(taxLineToProto), automaticTax: s.automaticTax, customerEmail: s.customerEmail, customerCountry: s.customerCountry,
    customerPostcode: s.customerPostcode, customerId: s.customerId, paymentId: s.paymentId, subscriptionId: s.subscriptionId,
    successUrl: s.successUrl, cancelUrl: s.cancelUrl, metadata: { ...s.metadata }, expireTime: timestampFromMs(s.expiresAtMs),
    createTime: timestampFromMs(s.createdAtMs), ...(s.completedAtMs === null ? {} : { completeTime: timestampFromMs(s.completedAtMs) }),
    url: secret?.url ?? '', clientSecret: secret?.clientSecret ?? '', traceId: s.traceId,
  });
}

/** The buyer's view: no ids of the tenant's other resources, no metadata. */
export function hostedSessionToProto(
  s: DomainSession, extra: { merchantDisplayName: string; cardFieldsUrl: string; nextActionUrl: string },
): HostedCheckoutSession {
  return create(HostedCheckoutSessionSchema, {
    merchantDisplayName: extra.merchantDisplayName, mode: modeToProto[s.mode], status: statusToProto[s.status], currency: s.currency,
    currencyExponent: currencyOf(s.currency).exponent, lineItems: s.lines.map(lineToProto), amountSubtotalMinor: s.subtotalMinor,
    amountTaxMinor: s.taxMinor, amountTotalMinor: s.totalMinor, taxLines: s.taxLines.map(taxLineToProto), customerEmail: s.customerEmail,
    successUrl: s.successUrl, cancelUrl: s.cancelUrl, expireTime: timestampFromMs(s.expiresAtMs),
    cardFieldsUrl: s.status === 'open' ? extra.cardFieldsUrl : '', nextActionUrl: extra.nextActionUrl,
    declineMessage: s.status === 'open' ? s.declineMessage : '',
  });
}
