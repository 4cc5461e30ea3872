/**
 * Billing's pure core (issue 14): the calendar, the catalog and pricing, proration, coupons,
 * invoices and credit notes, and the subscription status table. No I/O and no clock: times are
 * integer UTC milliseconds passed in, money is exact (`domain/money`), tax comes from `domain/tax`
 * through the `TaxCalculator` port. Decisions: ADR 0031.
 */

/** Billing calendar: intervals, period boundaries from the original anchor, trials. */
export type { IntervalUnit, BillingInterval, BillingPeriod, InitialScheduleInput, InitialSchedule } from './calendar.js';
export {
  intervalUnits, billingInterval, periodBoundaryMs, periodByIndex, periodAt, periodLengthMs, initialSchedule,
  daysInMonth, isLeapYear, DAY_MS, INTERVAL_DAYS_MAX, TRIAL_DAYS_MAX, CALENDAR_MS_MIN, CALENDAR_MS_MAX,
} from './calendar.js';

/** Catalog: products, prices (flat, per_unit, tiered graduated/volume; licensed or metered; one-off). */
export type { Product, Price, PriceScheme, PriceTier, PriceUsage, PriceRecurring, TiersMode, UsageAggregation, TaxBehavior, TaxCategory } from './catalog.js';
export {
  schemeFor, priceCurrencies, validatePrice, validateQuantity, taxCategories, taxBehaviors, usageAggregations,
  PRICE_TIERS_MAX, UNIT_AMOUNT_SCALE_MAX, PRICE_CURRENCIES_MAX, QUANTITY_MAX,
} from './catalog.js';

/** Pricing: `priceAmount(price, currency, quantity)`, `aggregateUsage(records, aggregation, period)`. */
export type { PricedAmount, TierShare, UsageRecord } from './pricing.js';
export { priceAmount, schemeAmount, aggregateUsage, USAGE_RECORDS_MAX } from './pricing.js';

/** Proration: `prorate(input)` -> credit and charge lines; `prorateItemChange` prices both sides first. */
export type { ProrationBehavior, ProrationGranularity, ProrationSide, ProrationInput, ProrationLine, ProrationResult, ItemChangeInput } from './proration.js';
export { prorate, prorateItemChange, prorationUnits, prorationBehaviors, prorationGranularities } from './proration.js';

/** Coupons: `applyCoupons(lines, coupons, currency)`, exact spreading by largest remainder. */
export type { Coupon, CouponDiscount, CouponDuration, DiscountableLine, LineDiscount, DiscountResult } from './coupon.js';
export { applyCoupons, validateCoupon, INVOICE_COUPONS_MAX } from './coupon.js';

/** Invoices: `discountInvoice` -> `taxRequestFor` -> `priceInvoice`; the status machine. */
export type {
  InvoiceStatus, InvoiceLineKind, InvoiceLineInput, DiscountedLine, DiscountedInvoice, InvoiceLine, InvoiceTotals, Invoice,
} from './invoice.js';
export {
  invoiceStatuses, invoiceTransitions, discountInvoice, taxRequestFor, priceInvoice, invoiceTotals, canTransitionInvoice, assertDraft,
  finalizeInvoice, markInvoicePaid, voidInvoice, markInvoiceUncollectible, assertInvoiceInvariants, formatInvoiceNumber, INVOICE_LINES_MAX,
} from './invoice.js';

/** Credit notes: `creditNoteAmounts(invoice, previous, requests)`, `creditShareRequests`. */
export type { CreditNoteReason, CreditNoteLineRequest, CreditNoteLine, CreditNoteAmounts } from './credit-note.js';
export { creditNoteAmounts, creditShareRequests, CREDIT_NOTE_LINES_MAX } from './credit-note.js';

/** Subscriptions: statuses, the transition table, items, dunning policy. */
export type { SubscriptionStatus, SubscriptionItem, DunningPolicy, Subscription } from './subscription.js';
export { subscriptionStatuses, subscriptionTransitions, canTransitionSubscription, transitionSubscription } from './subscription.js';
