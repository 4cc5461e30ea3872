/**
 * What a PSP accepts for one charge, declared by its connector as data (currencies, amount bounds,
 * multiple-of rules) in ISO 4217 minor units, and the pure check routing runs before anything is
 * sent. An amount a PSP would refuse is then never sent to it: it cannot fail there, and it cannot
 * count against the PSP's circuit breaker, which every tenant shares (ADR 0021).
 */
import { TallyError } from '../errors.js';
import { isCurrencyCode } from '../money/index.js';
import type { PspName } from './psp-vocabulary.js';

/** Overrides of one currency; absent fields fall back to the PSP-wide ones. */
export interface PspCurrencyLimits {
  /** Smallest amount per charge, inclusive. */
  readonly amountMinorMin?: bigint;
  /** Largest amount per charge, inclusive. */
  readonly amountMinorMax?: bigint;
  /** Amounts must be a multiple of this (Stripe: 10 for three-decimal currencies). */
  readonly amountMinorMultiple?: bigint;
}

/** One PSP's limits per charge. */
export interface PspAmountLimits {
  /** ISO 4217 codes the PSP accepts; null: every currency Tally knows. */
  readonly currencies: readonly string[] | null;
  /** Smallest amount per charge, inclusive, unless `byCurrency` says otherwise. */
  readonly amountMinorMin: bigint;
  /** Largest amount per charge, inclusive, unless `byCurrency` says otherwise. */
  readonly amountMinorMax: bigint;
  /** Per-currency overrides, keyed by ISO 4217 code. */
  readonly byCurrency: Readonly<Record<string, PspCurrencyLimits>>;
}

/** The limits that apply to one currency, every field resolved. */
export interface ResolvedPspLimits {
  readonly amountMinorMin: bigint;
  readonly amountMinorMax: bigint;
  readonly amountMinorMultiple: bigint;
}

/** `limits` for `currency`, overrides applied. */
export function pspLimitsFor(limits: PspAmountLimits, currency: string): ResolvedPspLimits {
  const own = Object.hasOwn(limits.byCurrency, currency) ? limits.byCurrency[currency] : undefined;
  return {
    amountMinorMin: own?.amountMinorMin ?? limits.amountMinorMin,
    amountMinorMax: own?.amountMinorMax ?? limits.amountMinorMax,
    amountMinorMultiple: own?.amountMinorMultiple ?? 1n,
  };
}

/**
 * Why `psp` cannot take `amountMinor` of `currency`, as the typed error to answer when no PSP
 * can; null when it can. The error names the PSP and its limit in metadata:
 * - `FIELD_INVALID` (field `currency`): the PSP does not take the currency;
 * - `AMOUNT_OUT_OF_RANGE` (`amount_minor_min` / `amount_minor_max`): outside its bounds;
 * - `AMOUNT_PRECISION_EXCEEDED` (`amount_minor_multiple`): not a multiple its rules require.
 */
export function pspAmountRefusal(psp: PspName, limits: PspAmountLimits, amountMinor: bigint, currency: string): TallyError | null {
  if (!isCurrencyCode(currency) || (limits.currencies !== null && !limits.currencies.includes(currency))) {
    return new TallyError('FIELD_INVALID', `currency: ${psp} does not accept ${currency}`, { field: 'currency', psp, currency });
  }
  const { amountMinorMin, amountMinorMax, amountMinorMultiple } = pspLimitsFor(limits, currency);
  if (amountMinor < amountMinorMin || amountMinor > amountMinorMax) {
    return new TallyError('AMOUNT_OUT_OF_RANGE', `amount_minor: ${psp} accepts ${currency} amounts from ${amountMinorMin} to ${amountMinorMax} minor units per charge`, {
      field: 'amount_minor', psp, currency, amount_minor_min: String(amountMinorMin), amount_minor_max: String(amountMinorMax),
    });
  }
  if (amountMinor % amountMinorMultiple !== 0n) {
    return new TallyError('AMOUNT_PRECISION_EXCEEDED', `amount_minor: ${psp} needs ${currency} amounts in multiples of ${amountMinorMultiple} minor units`, {
      field: 'amount_minor', psp, currency, amount_minor_multiple: String(amountMinorMultiple),
    });
  }
  return null;
}
