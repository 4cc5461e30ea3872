/**
 * Per-line tax arithmetic, exact (ADR 0031):
 *
 *   exclusive: tax = round(net * rate),              gross = net + tax
 *   inclusive: tax = round(gross * rate / (1 + rate)), net = gross - tax
 *
 * Rounding is half-up (commercial rounding, ties away from zero: what EU tax administrations
 * expect on an invoice), applied ONCE PER LINE to the tax amount; the invoice's tax is the sum of
 * its lines' taxes, so an invoice never shows a total its lines do not add up to. In both modes
 * `net + tax = gross` exactly, and a line's tax is within half a minor unit of the exact value.
 */
import { invalidField } from '../errors.js';
import { type Money, divideRounded, money } from '../money/index.js';
import type { TaxBehavior } from './tax-types.js';

/** 100 % in parts per million. */
export const RATE_PPM_MAX = 1_000_000;
const ppmPerUnit = 1_000_000n;

/** The net and tax of one line at `ratePpm`. `amount` is net for exclusive, gross for inclusive. */
export function lineTax(amount: Money, ratePpm: number, behavior: TaxBehavior): { net: Money; tax: Money; gross: Money } {
  checkRatePpm(ratePpm);
  const rate = BigInt(ratePpm);
  if (behavior === 'exclusive') {
    const tax = divideRounded(amount.amountMinor * rate, ppmPerUnit, 'half-up');
    return { net: amount, tax: money(tax, amount.currency), gross: money(amount.amountMinor + tax, amount.currency) };
  }
  const tax = divideRounded(amount.amountMinor * rate, ppmPerUnit + rate, 'half-up');
  return { net: money(amount.amountMinor - tax, amount.currency), tax: money(tax, amount.currency), gross: amount };
}

/** Throws `FIELD_INVALID` (field `rate`) unless `ratePpm` is an integer in 0..1,000,000 (0..100 %). */
export function checkRatePpm(ratePpm: number, field = 'rate'): number {
  if (!Number.isSafeInteger(ratePpm) || ratePpm < 0 || ratePpm > RATE_PPM_MAX) {
    throw invalidField(field, 'must be a percentage from 0 to 100 with at most 4 decimals');
  }
  return ratePpm;
}

const percentShape = /^([0-9]{1,3})(?:\.([0-9]{1,4}))?$/;

/**
 * Parses a percentage ("25.5", "7", "8.875") into parts per million, exactly. Throws
 * `FIELD_INVALID` for anything else: signs, more than 4 decimals, above 100.
 */
export function parsePercent(text: string, field = 'rate'): number {
  const match = typeof text === 'string' ? percentShape.exec(text) : null;
  if (match === null) throw invalidField(field, 'must be a percentage such as 25.5 (0 to 100, at most 4 decimals)');
  const [, whole = '0', fraction = ''] = match;
  return checkRatePpm(Number(whole) * 10_000 + Number(fraction.padEnd(4, '0')), field);
}

/** `255000` -> `"25.5"`, `200000` -> `"20"`, `48000` -> `"4.8"`: shortest exact percentage text. */
export function formatPercent(ratePpm: number): string {
  checkRatePpm(ratePpm);
  const whole = Math.floor(ratePpm / 10_000);
  const fraction = String(ratePpm % 10_000).padStart(4, '0').replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}
