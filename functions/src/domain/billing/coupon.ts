/**
 * Coupons and how a discount is spread over an invoice's lines, exactly (ADR 0031).
 *
 * Discounts apply BEFORE tax, in the order the coupons are given, each to what the previous ones
 * left. For each coupon:
 * 1. the eligible lines are the discountable lines with a positive amount left (and, when the
 *    coupon names products, lines of those products); their remaining amounts sum to `base`;
 * 2. the coupon's discount on the invoice is computed once: a percentage is
 *    `round_half_up(base * percentOffBps / 10_000)`, a fixed amount is `min(amountOff, base)`
 *    (a discount never makes a line negative; the unused part of a fixed coupon is lost, as Stripe);
 * 3. that discount is split over the eligible lines in proportion to their remaining amounts by
 *    the largest-remainder method (`money/allocate.ts`): the parts add up to the discount exactly,
 *    so no minor unit is lost or invented, and no line gets more than it has left.
 */
import { TallyError, invalidField } from '../errors.js';
import { type Money, AMOUNT_MINOR_MAX, allocate, currencyOf, divideRounded, money } from '../money/index.js';

/** A percentage (in basis points: 1250 = 12.5 %) or a fixed amount per currency. */
export type CouponDiscount =
  | { readonly kind: 'percent'; readonly percentOffBps: number }
  | { readonly kind: 'amount'; readonly amountOffMinorByCurrency: Readonly<Record<string, bigint>> };

/** How long a coupon keeps applying to a subscription's invoices. */
export type CouponDuration = 'once' | 'repeating' | 'forever';

/** A coupon. */
export interface Coupon {
  /** `coupon_...` */
  readonly id: string;
  readonly discount: CouponDiscount;
  readonly duration: CouponDuration;
  /** Number of billing periods for `repeating` (1..120), else `null`. */
  readonly durationPeriods: number | null;
  /** Products the coupon is restricted to, or `null` for every discountable line. */
  readonly appliesToProductIds: readonly string[] | null;
}

/** Most coupons on one invoice. */
export const INVOICE_COUPONS_MAX = 20;

/** Checks a coupon's invariants and returns it frozen (`FIELD_INVALID` naming the field). */
export function validateCoupon(coupon: Coupon): Coupon {
  checkCoupon(coupon);
  return Object.freeze(coupon);
}

/** `validateCoupon` without freezing: the caller's object is left as it is. */
function checkCoupon(coupon: Coupon): void {
  const d = coupon.discount;
  if (d.kind === 'percent') {
    if (!Number.isSafeInteger(d.percentOffBps) || d.percentOffBps < 1 || d.percentOffBps > 10_000) {
      throw invalidField('percentOff', 'must be from 0.01 to 100 percent (1..10000 basis points)');
    }
  } else if (d.kind === 'amount') {
    const entries = Object.entries(d.amountOffMinorByCurrency);
    if (entries.length < 1) throw invalidField('amountOff', 'needs an amount in at least one currency');
    for (const [currency, amountMinor] of entries) {
      currencyOf(currency, `amountOff.${currency}`);
      if (typeof amountMinor !== 'bigint' || amountMinor < 1n || amountMinor > AMOUNT_MINOR_MAX) {
        throw invalidField(`amountOff.${currency}`, 'must be a positive number of minor units');
      }
    }
  } else {
    throw invalidField('discount', 'must be percent or amount');
  }
  if (coupon.duration === 'repeating') {
    if (coupon.durationPeriods === null || !Number.isSafeInteger(coupon.durationPeriods) || coupon.durationPeriods < 1 || coupon.durationPeriods > 120) {
      throw invalidField('durationPeriods', 'a repeating coupon needs 1..120 periods');
    }
  } else if (coupon.duration !== 'once' && coupon.duration !== 'forever') {
    throw invalidField('duration', 'must be once, repeating or forever');
  } else if (coupon.durationPeriods !== null) {
    throw invalidField('durationPeriods', 'only a repeating coupon has a number of periods');
  }
}

/** A line as discounts see it. */
export interface DiscountableLine {
  readonly lineId: string;
  readonly amount: Money;
  /** False for lines no coupon may touch (e.g. proration credits, tax-exempt fees). */
  readonly discountable: boolean;
  readonly productId: string | null;
}

/** A coupon's share of one line. */
export interface LineDiscount {
  readonly couponId: string;
  readonly amount: Money;
}

/** The discounts of one invoice. */
export interface DiscountResult {
  /** Per line, same order as the input: each coupon's share (zero shares left out) and their sum. */
  readonly lines: readonly { readonly lineId: string; readonly discounts: readonly LineDiscount[]; readonly discountTotal: Money }[];
  /** Per coupon, in order: its whole discount (the sum of its line shares). */
  readonly coupons: readonly LineDiscount[];
  readonly discountTotal: Money;
}

/**
 * Applies `coupons` in order to `lines` (see the module comment). Throws `CURRENCY_MISMATCH` for
 * a line in another currency or a fixed-amount coupon with no amount in `currency`,
 * `LIMIT_EXCEEDED` beyond `INVOICE_COUPONS_MAX` coupons, `FIELD_INVALID` for a malformed coupon
 * (as `validateCoupon`).
 */
export function applyCoupons(lines: readonly DiscountableLine[], coupons: readonly Coupon[], currency: string): DiscountResult {
  currencyOf(currency);
  if (coupons.length > INVOICE_COUPONS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `at most ${INVOICE_COUPONS_MAX} coupons per invoice`, { limit: String(INVOICE_COUPONS_MAX) });
  }
  for (const line of lines) {
    if (line.amount.currency !== currency) {
      throw new TallyError('CURRENCY_MISMATCH', `line ${line.lineId} is in ${line.amount.currency}, the invoice in ${currency}`, {
        field: 'currency', expected: currency, actual: line.amount.currency,
      });
    }
  }
  // Cheap, and a malformed coupon (e.g. 200 %) would otherwise take a line below zero.
  for (const coupon of coupons) checkCoupon(coupon);
  const remaining = lines.map((l) => (l.discountable && l.amount.amountMinor > 0n ? l.amount.amountMinor : 0n));
  const perLine: LineDiscount[][] = lines.map(() => []);
  const perCoupon: LineDiscount[] = [];
  for (const coupon of coupons) {
    const eligible = lines
      .map((l, i) => i)
      .filter((i) => (remaining[i] ?? 0n) > 0n && appliesTo(coupon, lines[i]?.productId ?? null));
    const baseMinor = eligible.reduce((acc, i) => acc + (remaining[i] ?? 0n), 0n);
    const discountMinor = baseMinor === 0n ? 0n : couponDiscountMinor(coupon, baseMinor, currency);
    perCoupon.push({ couponId: coupon.id, amount: money(discountMinor, currency) });
    if (discountMinor === 0n) continue;
    const parts = allocate(money(discountMinor, currency), eligible.map((i) => remaining[i] ?? 0n));
    eligible.forEach((lineIndex, k) => {
      const partMinor = parts[k]?.amountMinor ?? 0n;
      if (partMinor === 0n) return;
      remaining[lineIndex] = (remaining[lineIndex] ?? 0n) - partMinor;
      perLine[lineIndex]?.push({ couponId: coupon.id, amount: money(partMinor, currency) });
    });
  }
  const lineResults = lines.map((l, i) => {
    const discounts = perLine[i] ?? [];
    const totalMinor = discounts.reduce((acc, d) => acc + d.amount.amountMinor, 0n);
    return Object.freeze({ lineId: l.lineId, discounts: Object.freeze(discounts), discountTotal: money(totalMinor, currency) });
  });
  const discountTotalMinor = perCoupon.reduce((acc, d) => acc + d.amount.amountMinor, 0n);
  return Object.freeze({ lines: Object.freeze(lineResults), coupons: Object.freeze(perCoupon), discountTotal: money(discountTotalMinor, currency) });
}

function appliesTo(coupon: Coupon, productId: string | null): boolean {
  return coupon.appliesToProductIds === null || (productId !== null && coupon.appliesToProductIds.includes(productId));
}

/** The coupon's discount on an eligible base (`0 < base`), capped at the base. */
function couponDiscountMinor(coupon: Coupon, baseMinor: bigint, currency: string): bigint {
  const d = coupon.discount;
  if (d.kind === 'percent') return divideRounded(baseMinor * BigInt(d.percentOffBps), 10_000n, 'half-up');
  const amountOffMinor = Object.hasOwn(d.amountOffMinorByCurrency, currency) ? d.amountOffMinorByCurrency[currency] : undefined;
  if (amountOffMinor === undefined) {
    throw new TallyError('CURRENCY_MISMATCH', `coupon ${coupon.id} has no amount off in ${currency}`, {
      field: 'coupon', couponId: coupon.id, actual: currency,
    });
  }
  return amountOffMinor < baseMinor ? amountOffMinor : baseMinor;
}
