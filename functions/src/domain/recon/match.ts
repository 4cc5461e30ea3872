/**
 * Matching one report line to what Tally recorded of its payment, and the ledger movements the
 * line implies. Pure: the app looks the payment up (batched by reference) and posts the movements.
 *
 * Movements (each an entry of two postings, in the line's currencies; ADR 0033):
 * - PSP fees: `psp_fees` (expense) debited, the PSP receivable credited, by what the PSP kept
 *   (gross - net when both are in one currency; the itemised fees otherwise);
 * - FX: a line settled in another currency than its gross moves the gross out of the receivable in
 *   the gross currency into `fx_clearing`, and `net + fees` from `fx_clearing` into the receivable
 *   in the net currency: the FX difference stays in the two `fx_clearing` accounts;
 * - payouts: the receivable credited, `bank` (the merchant's bank account at the PSP) debited;
 * - corrections and other lines with a net amount, and an amount mismatch (a known kind, healed):
 *   the difference between the receivable and `recon_adjustments`.
 */
import type { ReportLine } from './report-line.js';
import { type Break, matchedTypes } from './summary.js';

/** The recon accounts (codes); `psp_receivable` is the payments path's receivable of the PSP. */
export type ReconAccount = 'psp_receivable' | 'psp_fees' | 'fx_clearing' | 'bank' | 'recon_adjustments';

/** One ledger movement: `amountMinor` (> 0) from `credit` to `debit`, in `currency`. */
export interface Movement {
  /** Suffix of the entry id, unique within the line (`fee`, `fxg`, `fxn`, `po`, `adj`). */
  readonly part: string;
  readonly debit: ReconAccount;
  readonly credit: ReconAccount;
  readonly amountMinor: bigint;
  readonly currency: string;
  /** What it is (`PSP fees`, `payout`, ...) and the reference it is for: the entry's description (built only when posted). */
  readonly what: string;
  readonly ref: string;
}

/** What Tally recorded of a payment, as matching needs it. */
export interface PaymentView {
  readonly paymentId: string;
  readonly currency: string;
  readonly amountCapturedMinor: bigint;
  /** Succeeded refunds' amounts. */
  readonly refundsMinor: readonly bigint[];
  /** The amount of the chargeback standing, null when none stands (never one, or reversed: see `disputeStatus`). */
  readonly chargebackMinor: bigint | null;
  /** The dispute's furthest stage (`chargeback`, `chargeback_reversed`, `second_chargeback`), null when none. */
  readonly disputeStatus: string | null;
}

/** Kinds healed with compensating entries; the others wait for review. */
export const healedKinds: ReadonlySet<Break['kind']> = new Set(['amount_mismatch', 'fee_mismatch']);

export interface LineMatch {
  readonly breaks: Break[];
  readonly movements: Movement[];
  /** The payment the line matched (for "missing in report"), '' when none. */
  readonly paymentId: string;
}

/** A movement of `signedMinor`: positive moves `from` -> `to` (debit `to`), negative the other way, zero nothing. */
export function move(part: string, to: ReconAccount, from: ReconAccount, signedMinor: bigint, currency: string, what: string, ref: string): Movement[] {
  if (signedMinor === 0n) return [];
  return signedMinor > 0n
    ? [{ part, debit: to, credit: from, amountMinor: signedMinor, currency, what, ref }]
    : [{ part, debit: from, credit: to, amountMinor: -signedMinor, currency, what, ref }];
}

/** The movements a line implies whatever it matched: fees, FX, payouts, corrections. */
export function lineMovements(l: ReportLine): Movement[] {
  const ref = l.modificationReference || l.pspReference;
  if (l.type === 'payout') return move('po', 'bank', 'psp_receivable', -l.netMinor, l.currency, 'payout', ref);
  if (l.grossCurrency !== l.currency) {
    return [
      ...move('fxg', 'fx_clearing', 'psp_receivable', l.grossMinor, l.grossCurrency, 'FX: gross out of the receivable', ref),
      ...move('fxn', 'psp_receivable', 'fx_clearing', l.netMinor + l.feesMinor, l.currency, 'FX: converted into the receivable', ref),
      ...move('fee', 'psp_fees', 'psp_receivable', l.feesMinor, l.currency, 'PSP fees', ref),
    ];
  }
  if (matchedTypes.has(l.type) || l.type === 'fee') {
    // What the PSP kept is gross - net, whatever its itemisation says (a fee_mismatch is healed so).
    return move('fee', 'psp_fees', 'psp_receivable', l.grossMinor - l.netMinor, l.currency, 'PSP fees', ref);
  }
  // correction, other: the net moves the receivable against the adjustments.
  return move('adj', 'psp_receivable', 'recon_adjustments', l.netMinor, l.currency, l.rawType, ref);
}

const breakOf = (l: ReportLine, kind: Break['kind'], expectedMinor: bigint, tallyId: string, detail: string): Break => ({
  kind, line: l.line, pspReference: l.pspReference, merchantReference: l.merchantReference, currency: l.grossCurrency,
  reportedMinor: l.grossMinor, expectedMinor, tallyId, detail,
});

/**
 * Matches a line about a payment (payment, refund, chargeback, chargeback reversal) with Tally's
 * record of it (`undefined`: no payment of this tenant has the line's references), to the cent.
 * Other line types match nothing and only move money (`lineMovements`).
 */
export function matchLine(l: ReportLine, payment: PaymentView | undefined): LineMatch {
  const movements = lineMovements(l);
  if (!matchedTypes.has(l.type)) return { breaks: [], movements, paymentId: '' };
  if (payment === undefined) {
    return { breaks: [breakOf(l, 'unknown_reference', 0n, '', `no payment of this tenant has PSP reference ${l.pspReference || '-'} or merchant reference ${l.merchantReference || '-'}`)], movements: [], paymentId: '' };
  }
  const id = payment.paymentId;
  if (l.grossCurrency !== payment.currency) {
    return { breaks: [breakOf(l, 'currency_mismatch', payment.amountCapturedMinor, id, `the report settles ${l.grossCurrency}, the payment is in ${payment.currency}`)], movements: [], paymentId: id };
  }
  const amount = l.grossMinor < 0n ? -l.grossMinor : l.grossMinor;
  const adjust = (expectedMinor: bigint, signedDiffMinor: bigint, what: string): LineMatch => ({
    breaks: [breakOf(l, 'amount_mismatch', expectedMinor, id, `${what}: the report says ${amount}, Tally recorded ${expectedMinor < 0n ? -expectedMinor : expectedMinor} (minor units); the difference is booked to recon_adjustments`)],
    movements: [...movements, ...move('adj', 'psp_receivable', 'recon_adjustments', signedDiffMinor, l.currency, 'amount difference', l.modificationReference || l.pspReference)],
    paymentId: id,
  });
  const missing = (what: string): LineMatch => ({ breaks: [breakOf(l, 'missing_in_ledger', 0n, id, `${what} is in the report but not in Tally's ledger`)], movements: [], paymentId: id });
  switch (l.type) {
    case 'payment':
      if (payment.amountCapturedMinor === 0n) return missing('the capture');
      if (payment.amountCapturedMinor !== l.grossMinor) return adjust(payment.amountCapturedMinor, l.grossMinor - payment.amountCapturedMinor, 'capture');
      break;
    case 'refund': {
      if (payment.refundsMinor.length === 0) return missing('the refund');
      if (!payment.refundsMinor.includes(amount)) {
        const nearest = payment.refundsMinor[payment.refundsMinor.length - 1]!;
        return adjust(-nearest, nearest - amount, 'refund');
      }
      break;
    }
    case 'chargeback':
      if (payment.chargebackMinor === null && payment.disputeStatus === null) return missing('the chargeback');
      // A chargeback reversed since is no longer standing: its amount is not kept, the dispute is.
      if (payment.chargebackMinor !== null && payment.chargebackMinor !== amount) return adjust(-payment.chargebackMinor, payment.chargebackMinor - amount, 'chargeback');
      break;
    case 'chargeback_reversal':
      if (payment.disputeStatus !== 'chargeback_reversed' && payment.disputeStatus !== 'second_chargeback') return missing('the chargeback reversal');
      break;
  }
  return { breaks: [], movements, paymentId: id };
}
