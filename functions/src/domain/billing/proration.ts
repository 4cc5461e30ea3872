/**
 * Proration: what a mid-period change of price or quantity costs, as Stripe computes it: a credit
 * for the unused time of what was billed, and a charge for the rest of the period at the new
 * amount.
 *
 *   remaining = units from the change to the period end;  total = units in the period
 *   credit = -round(oldAmount * remaining / total)        charge = round(newAmount * remaining / total)
 *
 * Units are seconds by default (`second`), or days when the tenant chooses `day`. Rounding is
 * half-even (banker's), once per line (ADR 0031): each line is within half a minor unit of its
 * exact value, so `credit + charge` is within ONE minor unit of the exact
 * `(newAmount - oldAmount) * remaining / total`.
 *
 * Granularity details:
 * - `second`: remaining = whole seconds from the change to the period end (a started second counts
 *   as used); total = whole seconds of the period.
 * - `day`: days are counted back from the period end in 24 h slots; remaining = the number of
 *   slots the change falls in or after (the day of the change is charged at the new amount), total =
 *   the period's slots (a partial slot at the start of a stub period counts as one).
 *
 * Metered prices are billed in arrears on usage and are not prorated.
 */
import { TallyError, invalidField } from '../errors.js';
import { type Money, divideRounded, money, negate } from '../money/index.js';
import { DAY_MS } from './calendar.js';
import type { Price } from './catalog.js';
import { priceAmount } from './pricing.js';

/** `create_prorations`: add the lines to the next invoice; `always_invoice`: invoice them now; `none`: no lines. */
export type ProrationBehavior = 'create_prorations' | 'always_invoice' | 'none';
/** Every proration behaviour. */
export const prorationBehaviors: readonly ProrationBehavior[] = Object.freeze(['create_prorations', 'always_invoice', 'none']);

/** Unit of time prorations are counted in: `second` (default) or `day` (tenant setting). */
export type ProrationGranularity = 'second' | 'day';
/** Every proration granularity. */
export const prorationGranularities: readonly ProrationGranularity[] = Object.freeze(['second', 'day']);

/** What was billed for the period, or what is billed from the change on. */
export interface ProrationSide {
  /** The price (`price_...`), for the line's description. */
  readonly priceId: string;
  readonly quantity: bigint;
  /** The full-period amount of this price and quantity (`pricing.ts`), tax behaviour as the price's. */
  readonly amount: Money;
}

/** A mid-period change to prorate. */
export interface ProrationInput {
  /** The current period `[startMs, endMs)`. */
  readonly period: { readonly startMs: number; readonly endMs: number };
  /** When the change takes effect (the "proration date"): `startMs <= changeAtMs < endMs`. */
  readonly changeAtMs: number;
  readonly from: ProrationSide;
  readonly to: ProrationSide;
  readonly behavior: ProrationBehavior;
  readonly granularity: ProrationGranularity;
}

/** One proration line for an invoice: the credit (negative) or the charge (positive). */
export interface ProrationLine {
  readonly kind: 'proration_credit' | 'proration_charge';
  readonly priceId: string;
  readonly quantity: bigint;
  readonly amount: Money;
  /** The prorated span: from the change to the period end. */
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  /** e.g. "Unused time on price_a x 1 (15 of 30 days)". */
  readonly description: string;
}

/** The proration of one change. */
export interface ProrationResult {
  readonly behavior: ProrationBehavior;
  /** True for `always_invoice`: the app finalizes an invoice of these lines now. */
  readonly invoiceNow: boolean;
  readonly granularity: ProrationGranularity;
  readonly remainingUnits: bigint;
  readonly totalUnits: bigint;
  /** `<= 0`. Zero for `none`. */
  readonly credit: Money;
  /** `>= 0`. Zero for `none`. */
  readonly charge: Money;
  /** `credit + charge`. */
  readonly net: Money;
  /** Credit then charge (zero-amount lines left out); empty for `none`. */
  readonly lines: readonly ProrationLine[];
}

/**
 * Prorates a change. Throws `FIELD_INVALID` (field `prorationDate`) unless the change lies in
 * `[startMs, endMs)`, (field `period`) for an empty period, (field `amount`) for a negative
 * amount, `CURRENCY_MISMATCH` when the two sides differ in currency, `FIELD_INVALID` (field
 * `prorationBehavior` / `prorationGranularity`) for unknown values.
 */
export function prorate(input: ProrationInput): ProrationResult {
  const { period, changeAtMs, from, to } = input;
  if (!prorationBehaviors.includes(input.behavior)) throw invalidField('prorationBehavior', `must be one of ${prorationBehaviors.join(', ')}`);
  if (!prorationGranularities.includes(input.granularity)) throw invalidField('prorationGranularity', `must be one of ${prorationGranularities.join(', ')}`);
  if (!(Number.isSafeInteger(period.startMs) && Number.isSafeInteger(period.endMs) && period.startMs < period.endMs)) {
    throw invalidField('period', 'must be a non-empty span of integer ms');
  }
  if (!Number.isSafeInteger(changeAtMs) || changeAtMs < period.startMs || changeAtMs >= period.endMs) {
    throw invalidField('prorationDate', 'must lie within the current period [start, end)');
  }
  if (from.amount.currency !== to.amount.currency) {
    throw new TallyError('CURRENCY_MISMATCH', `both sides of a proration must be in one currency (${from.amount.currency} vs ${to.amount.currency})`, {
      field: 'currency', expected: from.amount.currency, actual: to.amount.currency,
    });
  }
  if (from.amount.amountMinor < 0n || to.amount.amountMinor < 0n) throw invalidField('amount', 'full-period amounts are non-negative');

  const { remainingUnits, totalUnits } = prorationUnits(period, changeAtMs, input.granularity);
  const currency = from.amount.currency;
  const zero = money(0n, currency);
  if (input.behavior === 'none') {
    return Object.freeze({ behavior: 'none', invoiceNow: false, granularity: input.granularity, remainingUnits, totalUnits, credit: zero, charge: zero, net: zero, lines: [] });
  }
  const credit = negate(money(divideRounded(from.amount.amountMinor * remainingUnits, totalUnits, 'half-even'), currency));
  const charge = money(divideRounded(to.amount.amountMinor * remainingUnits, totalUnits, 'half-even'), currency);
  const span = `${remainingUnits} of ${totalUnits} ${input.granularity}s`;
  const lines: ProrationLine[] = [];
  if (credit.amountMinor !== 0n) {
    lines.push(Object.freeze({ kind: 'proration_credit', priceId: from.priceId, quantity: from.quantity, amount: credit, periodStartMs: changeAtMs, periodEndMs: period.endMs, description: `Unused time on ${from.priceId} x ${from.quantity} (${span})` }));
  }
  if (charge.amountMinor !== 0n) {
    lines.push(Object.freeze({ kind: 'proration_charge', priceId: to.priceId, quantity: to.quantity, amount: charge, periodStartMs: changeAtMs, periodEndMs: period.endMs, description: `Remaining time on ${to.priceId} x ${to.quantity} (${span})` }));
  }
  return Object.freeze({
    behavior: input.behavior,
    invoiceNow: input.behavior === 'always_invoice',
    granularity: input.granularity,
    remainingUnits,
    totalUnits,
    credit,
    charge,
    net: money(credit.amountMinor + charge.amountMinor, currency),
    lines: Object.freeze(lines),
  });
}

/** Remaining and total units of a period for a change at `changeAtMs` (see the module comment). */
export function prorationUnits(
  period: { readonly startMs: number; readonly endMs: number },
  changeAtMs: number,
  granularity: ProrationGranularity,
): { remainingUnits: bigint; totalUnits: bigint } {
  const unitMs = granularity === 'day' ? DAY_MS : 1000;
  if (granularity === 'second') {
    return {
      remainingUnits: BigInt(Math.floor((period.endMs - changeAtMs) / unitMs)),
      totalUnits: BigInt(Math.max(1, Math.floor((period.endMs - period.startMs) / unitMs))),
    };
  }
  return {
    remainingUnits: BigInt(Math.ceil((period.endMs - changeAtMs) / unitMs)),
    totalUnits: BigInt(Math.ceil((period.endMs - period.startMs) / unitMs)),
  };
}

/** A subscription item's change: the price and quantity before and after. */
export interface ItemChangeInput {
  readonly period: { readonly startMs: number; readonly endMs: number };
  readonly changeAtMs: number;
  /** The subscription's currency. */
  readonly currency: string;
  readonly from: { readonly price: Price; readonly quantity: bigint };
  readonly to: { readonly price: Price; readonly quantity: bigint };
  readonly behavior: ProrationBehavior;
  readonly granularity: ProrationGranularity;
}

/**
 * Prorates a price and/or quantity change of one licensed subscription item: both sides priced for
 * the full period (`priceAmount`) in the subscription's currency, then `prorate`. Throws
 * `FIELD_INVALID` (field `price`) for a one-off or metered price (metered usage is billed in
 * arrears, never prorated) or a new price with another interval (that would move the billing
 * cycle), `CURRENCY_MISMATCH` for a price without an amount in the currency, `FIELD_INVALID`
 * (field `quantity`) below 1, and `prorate`'s errors (`prorationDate`).
 */
export function prorateItemChange(input: ItemChangeInput): ProrationResult {
  const { from, to } = input;
  for (const side of [from, to]) {
    const recurring = side.price.recurring;
    if (recurring === null) throw invalidField('price', `${side.price.id} is a one-off price: only recurring prices are prorated`);
    if (recurring.usage.type === 'metered') throw invalidField('price', `${side.price.id} is metered: usage is billed in arrears, not prorated`);
  }
  const a = from.price.recurring?.interval;
  const b = to.price.recurring?.interval;
  if (a === undefined || b === undefined || a.unit !== b.unit || a.count !== b.count) {
    throw invalidField('price', `${to.price.id} bills every ${b?.count} ${b?.unit}, the subscription every ${a?.count} ${a?.unit}: change the billing cycle instead`);
  }
  return prorate({
    period: input.period,
    changeAtMs: input.changeAtMs,
    from: { priceId: from.price.id, quantity: from.quantity, amount: priceAmount(from.price, input.currency, from.quantity).amount },
    to: { priceId: to.price.id, quantity: to.quantity, amount: priceAmount(to.price, input.currency, to.quantity).amount },
    behavior: input.behavior,
    granularity: input.granularity,
  });
}
