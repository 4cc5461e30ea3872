/** Domain <-> protobuf for billing (tally.billing.v1). The only place that knows both shapes. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { invalidField } from '../../domain/errors.js';
import { billingInterval } from '../../domain/billing/calendar.js';
import type { Price as DomainPrice, PriceScheme as DomainScheme, PriceRecurring, Product as DomainProduct, TaxCategory } from '../../domain/billing/catalog.js';
import type { CouponDuration } from '../../domain/billing/coupon.js';
import {
  BillingCustomerSchema, BillingSettingsSchema, CouponSchema, CreditNoteSchema, Interval, InvoiceLineSchema, InvoiceSchema, InvoiceStatus, PriceModel,
  PriceSchema, PriceSchemeSchema, ProductSchema, SubscriptionSchema, SubscriptionStatus, TestClockSchema, UsageAggregation,
  type BillingCustomer, type BillingSettings, type Coupon, type CreditNote, type Invoice, type Price, type PriceScheme, type Product, type Subscription, type TestClock,
} from '../../gen/tally/billing/v1/billing_pb.js';
import type * as port from '../../ports/billing-store.js';

const ts = (ms: number | null | undefined): Timestamp | undefined => (ms === null || ms === undefined ? undefined : timestampFromMs(ms));

/** A timestamp field as ms, or null when unset; refuses one out of the calendar's range. */
export function msOf(t: Timestamp | undefined, field: string): number | null {
  if (!t) return null;
  const ms = timestampMs(t);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > Date.UTC(9999, 11, 31)) throw invalidField(field, 'outside 1970..9999');
  return ms;
}

function taxCategoryOf(value: string, field: string, allowEmpty: boolean): TaxCategory | null {
  if (value === '' && allowEmpty) return null;
  if (value === '') return 'standard';
  if (value !== 'standard' && value !== 'reduced') throw invalidField(field, 'standard or reduced');
  return value;
}

export function productFromProto(p: Product | undefined, id: string): DomainProduct {
  if (!p) throw invalidField('name', 'required', 'FIELD_REQUIRED');
  return { id, name: p.name, active: true, taxCategory: taxCategoryOf(p.taxCategory, 'tax_category', false)! };
}

export function productToProto(p: DomainProduct, createdAtMs: number): Product {
  return create(ProductSchema, { id: p.id, name: p.name, taxCategory: p.taxCategory, createTime: ts(createdAtMs) });
}

function schemeFromProto(s: PriceScheme | undefined, field: string): DomainScheme {
  if (!s) throw invalidField(field, 'required', 'FIELD_REQUIRED');
  switch (s.model) {
    case PriceModel.FLAT: return { kind: 'flat', amountMinor: s.amountMinor };
    case PriceModel.PER_UNIT: return { kind: 'per_unit', unitAmountMinor: s.amountMinor, unitAmountScale: s.unitAmountScale };
    case PriceModel.TIERED: case PriceModel.VOLUME:
      return {
        kind: 'tiered', mode: s.model === PriceModel.TIERED ? 'graduated' : 'volume', unitAmountScale: s.unitAmountScale,
        tiers: s.tiers.map((t, i) => ({ upTo: t.upTo === 0n && i === s.tiers.length - 1 ? null : t.upTo, unitAmountMinor: t.unitAmountMinor, flatAmountMinor: t.flatAmountMinor })),
      };
    default: throw invalidField(`${field}.model`, 'FLAT, PER_UNIT, TIERED or VOLUME');
  }
}

function schemeToProto(s: DomainScheme): PriceScheme {
  switch (s.kind) {
    case 'flat': return create(PriceSchemeSchema, { model: PriceModel.FLAT, amountMinor: s.amountMinor });
    case 'per_unit': return create(PriceSchemeSchema, { model: PriceModel.PER_UNIT, amountMinor: s.unitAmountMinor, unitAmountScale: s.unitAmountScale });
    case 'tiered': return create(PriceSchemeSchema, {
      model: s.mode === 'graduated' ? PriceModel.TIERED : PriceModel.VOLUME, unitAmountScale: s.unitAmountScale,
      tiers: s.tiers.map((t) => ({ upTo: t.upTo ?? 0n, unitAmountMinor: t.unitAmountMinor, flatAmountMinor: t.flatAmountMinor })),
    });
  }
}

const intervalUnits: Partial<Record<Interval, 'day' | 'week' | 'month' | 'year'>> = { [Interval.DAY]: 'day', [Interval.WEEK]: 'week', [Interval.MONTH]: 'month', [Interval.YEAR]: 'year' };
const aggregations: Partial<Record<UsageAggregation, 'sum' | 'max' | 'last'>> = { [UsageAggregation.SUM]: 'sum', [UsageAggregation.MAX]: 'max', [UsageAggregation.LAST]: 'last' };

/** The price a request describes (not yet validated: `validatePrice` does that), under `id`. */
export function priceFromProto(p: Price | undefined, id: string): DomainPrice {
  if (!p) throw invalidField('price', 'required', 'FIELD_REQUIRED');
  let recurring: PriceRecurring | null = null;
  if (p.interval !== Interval.UNSPECIFIED) {
    const unit = intervalUnits[p.interval];
    if (!unit) throw invalidField('price.interval', 'DAY, WEEK, MONTH or YEAR');
    const aggregation = aggregations[p.usageAggregation];
    if (p.usageAggregation !== UsageAggregation.UNSPECIFIED && !aggregation) throw invalidField('price.usage_aggregation', 'SUM, MAX or LAST');
    recurring = { interval: billingInterval(unit, p.intervalCount, 'price.interval_count'), usage: aggregation ? { type: 'metered', aggregation } : { type: 'licensed' } };
  } else if (p.usageAggregation !== UsageAggregation.UNSPECIFIED) {
    throw invalidField('price.usage_aggregation', 'only recurring prices are metered');
  }
  if (Object.keys(p.currencyOptions).length > 49) throw invalidField('price.currency_options', 'at most 49');
  return {
    id, productId: p.productId, active: true, recurring, currency: p.currency, scheme: schemeFromProto(p.scheme, 'price.scheme'),
    currencyOptions: Object.fromEntries(Object.entries(p.currencyOptions).map(([c, s]) => [c, schemeFromProto(s, `price.currency_options.${c}`)])),
    taxBehavior: p.taxInclusive ? 'inclusive' : 'exclusive', taxCategory: taxCategoryOf(p.taxCategory, 'price.tax_category', true),
  };
}

export function priceToProto(p: DomainPrice, createdAtMs: number): Price {
  const unit = p.recurring ? (Object.entries(intervalUnits).find(([, u]) => u === p.recurring!.interval.unit)?.[0]) : undefined;
  const usage = p.recurring?.usage;
  return create(PriceSchema, {
    id: p.id, productId: p.productId, currency: p.currency, scheme: schemeToProto(p.scheme),
    currencyOptions: Object.fromEntries(Object.entries(p.currencyOptions).map(([c, s]) => [c, schemeToProto(s)])),
    interval: unit === undefined ? Interval.UNSPECIFIED : (Number(unit) as Interval), intervalCount: p.recurring?.interval.count ?? 0,
    usageAggregation: usage?.type === 'metered' ? Number(Object.entries(aggregations).find(([, a]) => a === usage.aggregation)![0]) as UsageAggregation : UsageAggregation.UNSPECIFIED,
    taxInclusive: p.taxBehavior === 'inclusive', taxCategory: p.taxCategory ?? '', createTime: ts(createdAtMs),
  });
}

export function couponFromProto(c: Coupon | undefined, id: string, createdAtMs: number): port.Coupon {
  if (!c) throw invalidField('coupon', 'required', 'FIELD_REQUIRED');
  if ((c.percentOffBps === 0) === (c.amountOffMinor === 0n)) throw invalidField('coupon.percent_off_bps', 'exactly one of percent_off_bps and amount_off_minor');
  if (!['once', 'repeating', 'forever'].includes(c.duration)) throw invalidField('coupon.duration', 'once, repeating or forever');
  if (c.name.length > 200) throw invalidField('coupon.name', 'at most 200 characters');
  return {
    id, name: c.name, createdAtMs,
    discount: c.percentOffBps !== 0 ? { kind: 'percent', percentOffBps: c.percentOffBps } : { kind: 'amount', amountOffMinorByCurrency: { [c.currency]: c.amountOffMinor } },
    duration: c.duration as CouponDuration, durationPeriods: c.duration === 'repeating' ? c.durationInMonths : null, appliesToProductIds: null,
  };
}

export function couponToProto(c: port.Coupon): Coupon {
  const amount = c.discount.kind === 'amount' ? Object.entries(c.discount.amountOffMinorByCurrency)[0] : undefined;
  return create(CouponSchema, {
    id: c.id, name: c.name, percentOffBps: c.discount.kind === 'percent' ? c.discount.percentOffBps : 0,
    amountOffMinor: amount?.[1] ?? 0n, currency: amount?.[0] ?? '', duration: c.duration, durationInMonths: c.durationPeriods ?? 0,
  });
}

export function billingCustomerFromProto(c: BillingCustomer | undefined): port.BillingCustomer {
  if (!c) throw invalidField('customer', 'required', 'FIELD_REQUIRED');
  if (c.postcode.length > 16) throw invalidField('customer.postcode', 'at most 16 characters');
  if (c.vatId.length > 32) throw invalidField('customer.vat_id', 'at most 32 characters');
  return { customerId: c.customerId, defaultPaymentMethodId: c.defaultPaymentMethodId, country: c.country, postcode: c.postcode, vatId: c.vatId, testClockId: c.testClockId, updatedAtMs: 0 };
}

export function billingCustomerToProto(c: port.BillingCustomer): BillingCustomer {
  return create(BillingCustomerSchema, { customerId: c.customerId, defaultPaymentMethodId: c.defaultPaymentMethodId, country: c.country, postcode: c.postcode, vatId: c.vatId, testClockId: c.testClockId });
}

const subscriptionStatuses: Record<port.Subscription['status'], SubscriptionStatus> = {
  trialing: SubscriptionStatus.TRIALING, active: SubscriptionStatus.ACTIVE, past_due: SubscriptionStatus.PAST_DUE,
  unpaid: SubscriptionStatus.UNPAID, paused: SubscriptionStatus.PAUSED, canceled: SubscriptionStatus.CANCELED,
};

export function subscriptionToProto(s: port.Subscription): Subscription {
  return create(SubscriptionSchema, {
    id: s.id, customerId: s.customerId, items: s.items.map((i) => ({ priceId: i.priceId, quantity: i.quantity })), currency: s.currency,
    status: subscriptionStatuses[s.status], currentPeriodStart: ts(s.currentPeriodStartMs), currentPeriodEnd: ts(s.currentPeriodEndMs),
    billingCycleAnchor: ts(s.anchorMs), trialEnd: ts(s.trialEndMs), cancelAtPeriodEnd: s.cancelAtPeriodEnd, cancelTime: ts(s.canceledAtMs),
    couponId: s.couponId, latestInvoiceId: s.latestInvoiceId, createTime: ts(s.createdAtMs), pauseTime: ts(s.pausedAtMs ?? null),
  });
}

const invoiceStatuses: Record<port.Invoice['status'], InvoiceStatus> = {
  draft: InvoiceStatus.DRAFT, open: InvoiceStatus.OPEN, paid: InvoiceStatus.PAID, void: InvoiceStatus.VOID, uncollectible: InvoiceStatus.UNCOLLECTIBLE,
};

export function invoiceToProto(i: port.Invoice): Invoice {
  return create(InvoiceSchema, {
    id: i.id, number: i.number ?? '', customerId: i.customerId, subscriptionId: i.subscriptionId ?? '', status: invoiceStatuses[i.status], currency: i.currency,
    lines: i.lines.map((l) => create(InvoiceLineSchema, {
      description: l.description, priceId: l.priceId ?? '', quantity: l.quantity, amountMinor: l.net.amountMinor + l.discountAmount.amountMinor,
      discountMinor: l.discountAmount.amountMinor, taxMinor: l.tax.amountMinor, taxRateBps: Math.round(l.ratePpm / 100),
      periodStart: ts(l.periodStartMs), periodEnd: ts(l.periodEndMs),
    })),
    subtotalMinor: i.totals.totalExcludingTax.amountMinor + i.totals.discountTotal.amountMinor, discountMinor: i.totals.discountTotal.amountMinor,
    taxMinor: i.totals.taxTotal.amountMinor, totalMinor: i.totals.total.amountMinor, amountPaidMinor: i.amountPaidMinor, amountCreditedMinor: i.amountCreditedMinor,
    periodStart: ts(i.periodStartMs), periodEnd: ts(i.periodEndMs), attemptCount: i.attemptCount, nextPaymentAttempt: ts(i.nextAttemptAtMs),
    paymentId: i.paymentId, taxCalculationJson: JSON.stringify(i.taxCalculation, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
    finalizeTime: ts(i.finalizedAtMs), createTime: ts(i.createdAtMs),
    creditAppliedMinor: i.creditAppliedMinor ?? 0n, amountDueMinor: dueOf(i),
  });
}

/** total - credit applied - credited - paid, never below 0; nothing is due on a void invoice. */
function dueOf(i: port.Invoice): bigint {
  if (i.status === 'void') return 0n;
  const due = i.totals.total.amountMinor - (i.creditAppliedMinor ?? 0n) - i.amountCreditedMinor - i.amountPaidMinor;
  return due > 0n ? due : 0n;
}

export function creditNoteToProto(n: port.CreditNote): CreditNote {
  return create(CreditNoteSchema, { id: n.id, invoiceId: n.invoiceId, amountMinor: n.amountMinor, taxMinor: n.taxMinor, reason: n.reason, createTime: ts(n.createdAtMs) });
}

export function settingsFromProto(s: BillingSettings | undefined): port.BillingSettings {
  if (!s) throw invalidField('settings', 'required', 'FIELD_REQUIRED');
  if (s.prorationGranularity !== '' && s.prorationGranularity !== 'second' && s.prorationGranularity !== 'day') throw invalidField('settings.proration_granularity', 'second or day');
  if (s.dunningFinalAction !== '' && s.dunningFinalAction !== 'unpaid' && s.dunningFinalAction !== 'cancel') throw invalidField('settings.dunning_final_action', 'unpaid or cancel');
  if (s.externalTaxFallback !== '' && s.externalTaxFallback !== 'fail' && s.externalTaxFallback !== 'builtin') throw invalidField('settings.external_tax_fallback', 'fail or builtin');
  if (s.externalTaxUrl.length > 2_000) throw invalidField('settings.external_tax_url', 'at most 2000 characters');
  return {
    originCountry: s.originCountry, vatId: s.vatId, invoicePrefix: s.invoicePrefix === '' ? 'INV' : s.invoicePrefix,
    prorationGranularity: s.prorationGranularity === 'day' ? 'day' : 'second',
    dunning: { retryDelaysDays: s.dunningRetryDays.length === 0 ? [1, 3, 5, 7] : [...s.dunningRetryDays], finalStatus: s.dunningFinalAction === 'cancel' ? 'canceled' : 'unpaid' },
    externalTaxUrl: s.externalTaxUrl, externalTaxTimeoutMs: s.externalTaxTimeoutMs === 0 ? 2_000 : s.externalTaxTimeoutMs,
    externalTaxFallback: s.externalTaxFallback === 'fail' ? 'fail' : 'builtin',
  };
}

export function settingsToProto(s: port.BillingSettings): BillingSettings {
  return create(BillingSettingsSchema, {
    originCountry: s.originCountry, vatId: s.vatId, invoicePrefix: s.invoicePrefix, prorationGranularity: s.prorationGranularity,
    dunningRetryDays: [...s.dunning.retryDelaysDays], dunningFinalAction: s.dunning.finalStatus === 'canceled' ? 'cancel' : 'unpaid',
    externalTaxUrl: s.externalTaxUrl, externalTaxTimeoutMs: s.externalTaxTimeoutMs, externalTaxFallback: s.externalTaxFallback,
  });
}

export function testClockToProto(c: port.TestClock): TestClock {
  return create(TestClockSchema, { id: c.id, name: c.name, frozenTime: ts(c.frozenTimeMs) });
}
