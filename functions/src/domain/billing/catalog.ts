/**
 * The catalog: products and their prices. A price says how much a product costs per period (or
 * once), in one or more currencies, by one of four schemes:
 *
 * - `flat`: a fixed amount per period, whatever the quantity (quantity must be 1);
 * - `per_unit`: `quantity * unitAmount` (per seat for licensed prices, per unit of usage for metered);
 * - `tiered` with `mode: 'graduated'`: each unit is priced by the tier it falls in (1-10 at A,
 *   11-50 at B, ...), plus each reached tier's flat amount;
 * - `tiered` with `mode: 'volume'`: ALL units are priced by the single tier the total falls in,
 *   plus that tier's flat amount.
 *
 * Recurring prices are `licensed` (the quantity is set on the subscription: seats) or `metered`
 * (the quantity is the period's usage records aggregated by `sum`, `max` or `last`, billed in
 * arrears). One-off prices (`recurring: null`) are invoiced once.
 *
 * Unit amounts may be finer than a minor unit (`unitAmountScale` extra decimal digits, as
 * Stripe's `unit_amount_decimal`: $0.0004 per API call is `unitAmountMinor: 4n, unitAmountScale: 2`);
 * a line's amount is rounded once, half-even, to whole minor units (`pricing.ts`).
 */
import { TallyError, invalidField } from '../errors.js';
import { AMOUNT_MINOR_MAX, currencyOf } from '../money/index.js';
import type { TaxBehavior, TaxCategory } from '../tax/tax-types.js';
import type { BillingInterval } from './calendar.js';

/** A product: what is sold. Prices hang off it. */
export interface Product {
  /** `prod_...` */
  readonly id: string;
  readonly name: string;
  readonly active: boolean;
  /** Tax category of the product's prices unless a price overrides it. */
  readonly taxCategory: TaxCategory;
}

/** VAT category and tax behaviour are tax's vocabulary (domain/tax), re-used here. */
export type { TaxBehavior, TaxCategory };
/** Every tax category. */
export const taxCategories: readonly TaxCategory[] = Object.freeze(['standard', 'reduced']);
/** Every tax behaviour. */
export const taxBehaviors: readonly TaxBehavior[] = Object.freeze(['exclusive', 'inclusive']);

/** How metered usage records of one period become one quantity. */
export type UsageAggregation = 'sum' | 'max' | 'last';
/** Every usage aggregation. */
export const usageAggregations: readonly UsageAggregation[] = Object.freeze(['sum', 'max', 'last']);

/** `graduated`: each unit at its own tier's price; `volume`: all units at the total's tier. */
export type TiersMode = 'graduated' | 'volume';

/** One tier. Tiers are ordered by `upTo`; the last has `upTo: null` (infinity). */
export interface PriceTier {
  /** Inclusive upper bound of units in this tier, or `null` for the last tier. */
  readonly upTo: bigint | null;
  /** Price per unit in this tier, in 10^-unitAmountScale minor units. */
  readonly unitAmountMinor: bigint;
  /** Flat amount (whole minor units) added when the tier is reached (graduated) or chosen (volume). */
  readonly flatAmountMinor: bigint;
}

/** How the amount of one period (or one-off charge) is computed from a quantity. */
export type PriceScheme =
  | { readonly kind: 'flat'; readonly amountMinor: bigint }
  | { readonly kind: 'per_unit'; readonly unitAmountMinor: bigint; readonly unitAmountScale: number }
  | { readonly kind: 'tiered'; readonly mode: TiersMode; readonly tiers: readonly PriceTier[]; readonly unitAmountScale: number };

/** Licensed (quantity on the subscription) or metered (quantity from usage records). */
export type PriceUsage =
  | { readonly type: 'licensed' }
  | { readonly type: 'metered'; readonly aggregation: UsageAggregation };

/** A recurring price's period and usage type. */
export interface PriceRecurring {
  readonly interval: BillingInterval;
  readonly usage: PriceUsage;
}

/** A price of a product. */
export interface Price {
  /** `price_...` */
  readonly id: string;
  readonly productId: string;
  readonly active: boolean;
  /** `null` for a one-off charge. */
  readonly recurring: PriceRecurring | null;
  /** The default currency and its scheme. */
  readonly currency: string;
  readonly scheme: PriceScheme;
  /**
   * The same price in other currencies (as Stripe's `currency_options`): currency -> scheme, same
   * kind of scheme. A subscription or invoice in another currency cannot use this price.
   */
  readonly currencyOptions: Readonly<Record<string, PriceScheme>>;
  readonly taxBehavior: TaxBehavior;
  /** Overrides the product's tax category; `null` inherits it. */
  readonly taxCategory: TaxCategory | null;
}

/** Most tiers per price (Stripe allows 250). */
export const PRICE_TIERS_MAX = 250;
/** Most extra decimal digits of a unit amount below the minor unit (Stripe: 12 decimal places total). */
export const UNIT_AMOUNT_SCALE_MAX = 10;
/** Most currencies per price (default + options). */
export const PRICE_CURRENCIES_MAX = 50;
/** Largest quantity (seats or aggregated usage) a price accepts: 10^15. */
export const QUANTITY_MAX = 1_000_000_000_000_000n;

/**
 * The scheme of `price` in `currency`. Throws `CURRENCY_MISMATCH` when the price has no amount in
 * that currency.
 */
export function schemeFor(price: Price, currency: string): PriceScheme {
  if (currency === price.currency) return price.scheme;
  const option = Object.hasOwn(price.currencyOptions, currency) ? price.currencyOptions[currency] : undefined;
  if (option === undefined) {
    throw new TallyError('CURRENCY_MISMATCH', `price ${price.id} has no amount in ${currency}`, {
      field: 'currency', priceId: price.id, expected: [price.currency, ...Object.keys(price.currencyOptions)].join(','), actual: currency,
    });
  }
  return option;
}

/** Every currency the price can be billed in, default first. */
export function priceCurrencies(price: Price): string[] {
  return [price.currency, ...Object.keys(price.currencyOptions).filter((c) => c !== price.currency).sort()];
}

/**
 * Checks a price's invariants and returns it frozen. Throws `FIELD_INVALID` (naming the field)
 * for: negative or out-of-range amounts, a scale outside 0..`UNIT_AMOUNT_SCALE_MAX`, tiers that
 * are empty, too many, not strictly increasing, or whose last `upTo` is not `null`; a flat scheme
 * on a metered price; currency options with another kind of scheme; `UNKNOWN_CURRENCY` for a bad
 * currency.
 */
export function validatePrice(price: Price): Price {
  currencyOf(price.currency, 'currency');
  const options = Object.entries(price.currencyOptions);
  if (options.length + 1 > PRICE_CURRENCIES_MAX) throw invalidField('currencyOptions', `at most ${PRICE_CURRENCIES_MAX - 1} entries`);
  validateScheme(price.scheme, 'scheme');
  for (const [currency, scheme] of options) {
    currencyOf(currency, `currencyOptions.${currency}`);
    validateScheme(scheme, `currencyOptions.${currency}`);
    if (scheme.kind !== price.scheme.kind) throw invalidField(`currencyOptions.${currency}`, `must be a ${price.scheme.kind} scheme like the price's`);
  }
  if (price.recurring?.usage.type === 'metered' && price.scheme.kind === 'flat') {
    throw invalidField('scheme', 'a metered price needs a per_unit or tiered scheme');
  }
  if (price.recurring?.usage.type === 'metered' && !usageAggregations.includes(price.recurring.usage.aggregation)) {
    throw invalidField('recurring.usage.aggregation', `must be one of ${usageAggregations.join(', ')}`);
  }
  if (!taxBehaviors.includes(price.taxBehavior)) throw invalidField('taxBehavior', `must be one of ${taxBehaviors.join(', ')}`);
  if (price.taxCategory !== null && !taxCategories.includes(price.taxCategory)) {
    throw invalidField('taxCategory', `must be one of ${taxCategories.join(', ')}`);
  }
  return Object.freeze(price);
}

/** Checks a quantity for a price: 1..QUANTITY_MAX for licensed, 0..QUANTITY_MAX for usage; flat needs 1. */
export function validateQuantity(scheme: PriceScheme, quantity: bigint, metered: boolean, field = 'quantity'): bigint {
  const min = metered ? 0n : 1n;
  if (typeof quantity !== 'bigint' || quantity < min || quantity > QUANTITY_MAX) {
    throw invalidField(field, `must be an integer from ${min} to ${QUANTITY_MAX}`);
  }
  if (scheme.kind === 'flat' && quantity !== 1n) throw invalidField(field, 'must be 1 for a flat price');
  return quantity;
}

function validateScheme(scheme: PriceScheme, field: string): void {
  switch (scheme.kind) {
    case 'flat':
      checkAmount(scheme.amountMinor, `${field}.amountMinor`);
      return;
    case 'per_unit':
      checkScale(scheme.unitAmountScale, `${field}.unitAmountScale`);
      checkAmount(scheme.unitAmountMinor, `${field}.unitAmountMinor`);
      return;
    case 'tiered': {
      checkScale(scheme.unitAmountScale, `${field}.unitAmountScale`);
      if (scheme.mode !== 'graduated' && scheme.mode !== 'volume') throw invalidField(`${field}.mode`, 'must be graduated or volume');
      if (scheme.tiers.length < 1 || scheme.tiers.length > PRICE_TIERS_MAX) {
        throw invalidField(`${field}.tiers`, `must have 1 to ${PRICE_TIERS_MAX} tiers`);
      }
      let previousUpTo = 0n;
      scheme.tiers.forEach((tier, i) => {
        const last = i === scheme.tiers.length - 1;
        checkAmount(tier.unitAmountMinor, `${field}.tiers[${i}].unitAmountMinor`);
        checkAmount(tier.flatAmountMinor, `${field}.tiers[${i}].flatAmountMinor`);
        if (last) {
          if (tier.upTo !== null) throw invalidField(`${field}.tiers[${i}].upTo`, 'the last tier must be unbounded (null)');
        } else if (tier.upTo === null || tier.upTo <= previousUpTo || tier.upTo > QUANTITY_MAX) {
          throw invalidField(`${field}.tiers[${i}].upTo`, 'must increase strictly from 1 and only the last tier may be unbounded');
        } else {
          previousUpTo = tier.upTo;
        }
      });
      return;
    }
    default:
      throw invalidField(`${field}.kind`, 'must be flat, per_unit or tiered');
  }
}

function checkAmount(amountMinor: bigint, field: string): void {
  if (typeof amountMinor !== 'bigint' || amountMinor < 0n || amountMinor > AMOUNT_MINOR_MAX) {
    throw invalidField(field, 'must be a non-negative integer of minor units within int64');
  }
}

function checkScale(scale: number, field: string): void {
  if (!Number.isSafeInteger(scale) || scale < 0 || scale > UNIT_AMOUNT_SCALE_MAX) {
    throw invalidField(field, `must be an integer from 0 to ${UNIT_AMOUNT_SCALE_MAX}`);
  }
}
