/**
 * Pricing: the amount a price charges for a quantity, and the quantity of a metered period.
 *
 * Exact: amounts are bigint minor units of the currency's ISO 4217 exponent. A sub-minor unit
 * amount (`unitAmountScale > 0`) is multiplied exactly and the line is rounded ONCE, half-even,
 * to whole minor units (ADR 0031); tier flat amounts are whole minor units already.
 */
import { TallyError, assert, invalidField } from '../errors.js';
import { type Money, divideRounded, money } from '../money/index.js';
import { type Price, type PriceScheme, type UsageAggregation, schemeFor, validateQuantity } from './catalog.js';

/** One tier's share of an amount, for invoice line descriptions ("11-50 x 4.00"). */
export interface TierShare {
  readonly tierIndex: number;
  /** Units priced in this tier (graduated: the units inside it; volume: all units). */
  readonly quantity: bigint;
  /** Exact `quantity * unitAmount`, still in 10^-scale minor units (rounded only in the total). */
  readonly unitPartScaled: bigint;
  readonly flatAmountMinor: bigint;
}

/** The amount of a price for a quantity, with how it was reached. */
export interface PricedAmount {
  readonly amount: Money;
  readonly quantity: bigint;
  /** Tier shares for a tiered scheme, empty otherwise. */
  readonly tiers: readonly TierShare[];
}

/**
 * The amount `price` charges in `currency` for `quantity` (seats, or the period's aggregated usage
 * for a metered price: see `aggregateUsage`). Throws `CURRENCY_MISMATCH` for a currency the price
 * has no amount in, `FIELD_INVALID` (field `quantity`) for a quantity out of range (licensed: at
 * least 1; metered: at least 0; flat: exactly 1), `AMOUNT_OUT_OF_RANGE` past int64.
 */
export function priceAmount(price: Price, currency: string, quantity: bigint): PricedAmount {
  const scheme = schemeFor(price, currency);
  validateQuantity(scheme, quantity, price.recurring?.usage.type === 'metered');
  return schemeAmount(scheme, currency, quantity);
}

/** `priceAmount` on a scheme directly (the quantity is not range-checked here). */
export function schemeAmount(scheme: PriceScheme, currency: string, quantity: bigint): PricedAmount {
  assert(quantity >= 0n, 'schemeAmount: quantity must be non-negative');
  switch (scheme.kind) {
    case 'flat':
      return Object.freeze({ amount: money(scheme.amountMinor, currency), quantity, tiers: [] });
    case 'per_unit':
      return Object.freeze({
        amount: money(roundScaled(quantity * scheme.unitAmountMinor, scheme.unitAmountScale), currency),
        quantity,
        tiers: [],
      });
    case 'tiered': {
      const tiers = scheme.mode === 'graduated' ? graduatedShares(scheme.tiers, quantity) : volumeShares(scheme.tiers, quantity);
      const scale = 10n ** BigInt(scheme.unitAmountScale);
      let totalScaled = 0n;
      for (const t of tiers) totalScaled += t.unitPartScaled + t.flatAmountMinor * scale;
      return Object.freeze({ amount: money(roundScaled(totalScaled, scheme.unitAmountScale), currency), quantity, tiers: Object.freeze(tiers) });
    }
  }
}

/** Graduated: units 1..upTo[0] at tier 0, upTo[0]+1..upTo[1] at tier 1, ...; a tier's flat amount once it holds a unit. */
function graduatedShares(tiers: TieredScheme['tiers'], quantity: bigint): TierShare[] {
  const shares: TierShare[] = [];
  let lower = 0n; // units already priced by earlier tiers
  for (const [tierIndex, tier] of tiers.entries()) {
    if (quantity <= lower) break;
    const upper = tier.upTo === null || tier.upTo > quantity ? quantity : tier.upTo;
    const units = upper - lower;
    shares.push({ tierIndex, quantity: units, unitPartScaled: units * tier.unitAmountMinor, flatAmountMinor: tier.flatAmountMinor });
    lower = upper;
  }
  // Zero units reach no tier: Stripe charges nothing for a graduated price at quantity 0.
  return shares;
}

/** Volume: the first tier whose `upTo` holds the quantity prices all of it (quantity 0 uses tier 0). */
function volumeShares(tiers: TieredScheme['tiers'], quantity: bigint): TierShare[] {
  const tierIndex = tiers.findIndex((t) => t.upTo === null || quantity <= t.upTo);
  const tier = tiers[tierIndex];
  assert(tier !== undefined, 'volumeShares: the last tier is unbounded');
  // A zero quantity charges no flat fee either (nothing was bought), as Stripe.
  if (quantity === 0n) return [];
  return [{ tierIndex, quantity, unitPartScaled: quantity * tier.unitAmountMinor, flatAmountMinor: tier.flatAmountMinor }];
}

function roundScaled(scaled: bigint, scale: number): bigint {
  return scale === 0 ? scaled : divideRounded(scaled, 10n ** BigInt(scale), 'half-even');
}

/** One usage record of a metered subscription item. */
export interface UsageRecord {
  /** The client's idempotency key: a retried report is counted once. */
  readonly idempotencyKey: string;
  readonly subscriptionItemId: string;
  /** Non-negative units. */
  readonly quantity: bigint;
  /** When the usage happened; it counts in the period containing it. */
  readonly timestampMs: number;
}

/** Most usage records one aggregation reads (the app pre-aggregates beyond this). */
export const USAGE_RECORDS_MAX = 100_000;

/**
 * The quantity of a metered period `[startMs, endMs)` from its usage records:
 * - `sum`: the total of the records in the period;
 * - `max`: the largest record in the period;
 * - `last`: the record with the latest timestamp in the period (equal timestamps: the later one
 *   in `records`, i.e. the later reported).
 * No record in the period gives 0. Records outside the period are ignored; records with an
 * idempotency key already seen are counted once (the first). Throws `LIMIT_EXCEEDED` beyond
 * `USAGE_RECORDS_MAX` records, `FIELD_INVALID` for a negative quantity.
 */
export function aggregateUsage(
  records: readonly UsageRecord[],
  aggregation: UsageAggregation,
  period: { readonly startMs: number; readonly endMs: number },
): bigint {
  if (records.length > USAGE_RECORDS_MAX) {
    throw new TallyError('LIMIT_EXCEEDED', `at most ${USAGE_RECORDS_MAX} usage records per aggregation`, { limit: String(USAGE_RECORDS_MAX) });
  }
  const seen = new Set<string>();
  let total = 0n;
  let max = 0n;
  let last: UsageRecord | null = null;
  for (const record of records) {
    if (record.quantity < 0n) throw invalidField('quantity', 'usage quantities are non-negative');
    if (seen.has(record.idempotencyKey)) continue;
    seen.add(record.idempotencyKey);
    if (record.timestampMs < period.startMs || record.timestampMs >= period.endMs) continue;
    total += record.quantity;
    if (record.quantity > max) max = record.quantity;
    if (last === null || record.timestampMs >= last.timestampMs) last = record;
  }
  switch (aggregation) {
    case 'sum':
      return total;
    case 'max':
      return max;
    case 'last':
      return last?.quantity ?? 0n;
  }
}

type TieredScheme = Extract<PriceScheme, { kind: 'tiered' }>;
