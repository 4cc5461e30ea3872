/**
 * The ledger entries a payment implies, and the platform fee they split off.
 *
 * Chart of accounts (stable codes; the app maps `(code, currency)` to a tenant's account ids, since
 * ledger accounts hold one currency each):
 * - `psp_receivable:<psp>` (asset): what the PSP owes us for captured money until it settles.
 * - `merchant_payable` (liability): what the platform owes the merchant.
 * - `platform_fee_revenue` (revenue): the platform's fee.
 * - `chargeback_loss` (expense): the PSP's dispute fee, borne by the platform.
 *
 * Entries (A captured, F fee, each refund or chargeback reverses its share of F):
 * - capture A:          debit psp_receivable A; credit merchant_payable A - F; credit platform_fee_revenue F.
 * - refund a, share f:  debit merchant_payable a - f; debit platform_fee_revenue f; credit psp_receivable a.
 * - chargeback d, share f, dispute fee x: as a refund of d, plus debit chargeback_loss x, and
 *   psp_receivable is credited d + x (the PSP claws back the disputed amount and its fee).
 * - chargeback reversal (the merchant won): the chargeback's lines the other way round, so
 *   receivable, payable, fee revenue and chargeback_loss are back where they were. Its fee share
 *   is the chargeback's, except when a refund settled while the chargeback stood: then it is the
 *   share that keeps the running total exact (intent-draft.ts), which differs only by rounding.
 * - capture reversal (the PSP reported a recorded capture failed): the capture's lines the other
 *   way round.
 * - refund reversal (the PSP reported a succeeded refund failed: a card scheme rejected it): the
 *   refund's lines the other way round, with the fee share that keeps the running total exact.
 *
 * Chargeback choice: the merchant bears the disputed amount exactly as for a full refund of what
 * is left (the platform returns its fee share, so refunds and chargebacks together reverse exactly
 * the fee charged); the PSP's dispute fee, which the merchant never agreed to, is the platform's
 * `chargeback_loss`. Lines of zero are left out (the ledger wants positive amounts).
 *
 * Fee shares are cumulative: after reversing R of the captured C, the fee reversed so far is
 * `round(F * R / C)`, and each reversal is the difference of two such values. Rounding happens on
 * the running total, never per refund, so no cent is lost or invented across any split of partial
 * refunds, and once R = C the total reversed is exactly F. A share never exceeds its amount (the
 * merchant line is never negative) and never goes below zero.
 *
 * Entry ids derive from our ids, so posting twice is the ledger's idempotent replay, never a second
 * entry: `je_cap_<paymentId>` (the n-th capture after n-1 unwound ones: `je_cap<n>_`, its reversal
 * `je_capr_` / `je_capr<n>_`), `je_ref_<refundId>`, `je_cbk_<paymentId>` (a second chargeback:
 * `je_cbk2_`; their reversals `je_cbr_` / `je_cbr2_`). The reversals name the entry they reverse
 * in `reversesEntryId`; the ledger checks it exists, also when both are posted in one transaction
 * (deferred events released together: the first is planned before the second).
 */
import { assert, invalidField } from '../errors.js';
import { type AccountType, type EntryInput, type Posting, isEntryId } from '../ledger/index.js';
import type { ReservedLedgerNamespace } from '../ledger/namespace.js';
import { type RoundingMode, currencyOf, divideRounded, multiplyRatio, money, roundingModes } from '../money/index.js';
import { type PspName, pspNames } from './psp-vocabulary.js';

/** Code of the merchant's payable account (liability). */
export const MERCHANT_PAYABLE = 'merchant_payable';
/** Code of the platform's fee revenue account (revenue). */
export const PLATFORM_FEE_REVENUE = 'platform_fee_revenue';
/** Code of the platform's chargeback loss account (expense). */
export const CHARGEBACK_LOSS = 'chargeback_loss';

/** A payments account code: one of the constants above or `psp_receivable:<psp>`. */
export type PaymentAccountCode =
  | typeof MERCHANT_PAYABLE
  | typeof PLATFORM_FEE_REVENUE
  | typeof CHARGEBACK_LOSS
  | `psp_receivable:${PspName}`;

/** The receivable account code of one PSP (asset). */
export function pspReceivableCode(psp: PspName): `psp_receivable:${PspName}` {
  return `psp_receivable:${psp}`;
}

/** Every account the payments entries use, with its ledger type: what a tenant needs per currency. */
export const paymentAccounts: readonly { readonly code: PaymentAccountCode; readonly type: AccountType }[] = Object.freeze([
  ...pspNames.map((psp) => ({ code: pspReceivableCode(psp), type: 'asset' as const })),
  { code: MERCHANT_PAYABLE, type: 'liability' },
  { code: PLATFORM_FEE_REVENUE, type: 'revenue' },
  { code: CHARGEBACK_LOSS, type: 'expense' },
]);

/** Prefix of the payment accounts' ledger ids (`paymentAccountIdOf`). */
export const PAYMENT_ACCOUNT_ID_PREFIX = 'acc_pay_';

/** Deterministic ledger account id of a payment account code in a currency: `acc_pay_<code>_<currency>`. */
export function paymentAccountIdOf(code: PaymentAccountCode, currency: string): string {
  return `${PAYMENT_ACCOUNT_ID_PREFIX}${code.replace(':', '_')}_${currency}`;
}

/** Maps an account code in a currency to the tenant's ledger account id (the app owns the mapping). */
export type AccountIdOf = (code: PaymentAccountCode, currency: string) => string;

/**
 * The platform's fee terms, snapshotted on each payment at creation so later changes of a
 * tenant's pricing never alter an existing payment's fee or its reversals.
 */
export interface FeeSchedule {
  /** Percentage fee in basis points of the captured amount (290 = 2.9 %), 0..FEE_RATE_BPS_MAX. */
  readonly rateBps: number;
  /** Fixed fee per captured payment, in minor units of the payment's currency. */
  readonly fixedMinor: bigint;
  /** How the percentage fee (and the running fee reversal) is rounded to minor units. */
  readonly rounding: RoundingMode;
  /** The PSP's fee per chargeback, in minor units; booked to `chargeback_loss`. */
  readonly disputeFeeMinor: bigint;
}

/** Largest fee rate: 100 %. */
export const FEE_RATE_BPS_MAX = 10_000;
/** Largest fixed or dispute fee: amounts are bounded by the safe-integer range (see payment-intent.ts). */
export const FEE_FIXED_MINOR_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Validates fee terms; errors name the field (`fees.rate_bps`, `fees.fixed_minor`, ...). */
export function validateFeeSchedule(input: FeeSchedule): FeeSchedule {
  if (!Number.isSafeInteger(input.rateBps) || input.rateBps < 0 || input.rateBps > FEE_RATE_BPS_MAX) {
    throw invalidField('fees.rate_bps', `must be an integer from 0 to ${FEE_RATE_BPS_MAX}`);
  }
  const fixedMinor = checkFeeAmount('fees.fixed_minor', input.fixedMinor);
  const disputeFeeMinor = checkFeeAmount('fees.dispute_fee_minor', input.disputeFeeMinor);
  if (!roundingModes.includes(input.rounding)) {
    throw invalidField('fees.rounding', `must be one of ${roundingModes.join(', ')}`);
  }
  return Object.freeze({ rateBps: input.rateBps, fixedMinor, rounding: input.rounding, disputeFeeMinor });
}

/**
 * A tenant's pricing (issue 11 item 13): the percentage part of its platform fee and a fixed part
 * per currency (minor units of that currency; 0 for a currency not listed). Set by the platform
 * admin per tenant; the platform's default comes from configuration.
 */
export interface TenantPricing {
  readonly rateBps: number;
  readonly fixedMinorByCurrency: Readonly<Record<string, bigint>>;
}

/** Largest fixed part of a tenant's pricing, minor units (10,000.00 in a 2-decimal currency). */
export const PRICING_FIXED_MINOR_MAX = 1_000_000n;
/** Most currencies one pricing lists a fixed part for. */
export const PRICING_CURRENCIES_MAX = 50;

/** Validates a pricing; errors name the field (`pricing.rate_bps`, `pricing.fixed_minor_by_currency.EUR`). */
export function validateTenantPricing(input: TenantPricing): TenantPricing {
  if (!Number.isSafeInteger(input.rateBps) || input.rateBps < 0 || input.rateBps > FEE_RATE_BPS_MAX) {
    throw invalidField('pricing.rate_bps', `must be an integer from 0 to ${FEE_RATE_BPS_MAX}`);
  }
  const entries = Object.entries(input.fixedMinorByCurrency);
  if (entries.length > PRICING_CURRENCIES_MAX) throw invalidField('pricing.fixed_minor_by_currency', `at most ${PRICING_CURRENCIES_MAX} currencies`);
  const fixed: Record<string, bigint> = {};
  for (const [currency, amountMinor] of entries) {
    const field = `pricing.fixed_minor_by_currency.${currency}`;
    currencyOf(currency, field);
    if (typeof amountMinor !== 'bigint' || amountMinor < 0n || amountMinor > PRICING_FIXED_MINOR_MAX) {
      throw invalidField(field, `must be from 0 to ${PRICING_FIXED_MINOR_MAX} minor units`);
    }
    fixed[currency] = amountMinor;
  }
  return Object.freeze({ rateBps: input.rateBps, fixedMinorByCurrency: Object.freeze(fixed) });
}

/** The fee terms a payment in `currency` snapshots from a pricing; rounding and dispute fee from the platform's terms. */
export function feeScheduleOf(pricing: TenantPricing, currency: string, platform: FeeSchedule): FeeSchedule {
  return Object.freeze({ ...platform, rateBps: pricing.rateBps, fixedMinor: pricing.fixedMinorByCurrency[currency] ?? 0n });
}

/**
 * The platform fee on a capture of `amountMinor`: `round(amount * rateBps / 10_000) + fixedMinor`,
 * capped at the amount (a fee above the captured amount would make the merchant owe money on a
 * sale; the cap keeps `merchant_payable` lines non-negative).
 */
export function platformFeeMinor(amountMinor: bigint, currency: string, fees: FeeSchedule): bigint {
  assert(amountMinor >= 0n, 'platformFeeMinor: negative amount');
  const rateMinor = multiplyRatio(money(amountMinor, currency), BigInt(fees.rateBps), 10_000n, fees.rounding).amountMinor;
  const feeMinor = rateMinor + fees.fixedMinor;
  return feeMinor > amountMinor ? amountMinor : feeMinor;
}

/** The running state a fee reversal is computed from. */
export interface FeeReversalInput {
  /** The fee charged at capture. */
  readonly feeMinor: bigint;
  /** The captured amount the fee was charged on. */
  readonly capturedMinor: bigint;
  /** Amount already reversed (succeeded refunds plus any chargeback) before this one. */
  readonly reversedBeforeMinor: bigint;
  /** Amount of this refund or chargeback. */
  readonly amountMinor: bigint;
  readonly rounding: RoundingMode;
}

/**
 * The fee share returned by a refund or chargeback of `amountMinor`:
 * `round(F * (before + amount) / C) - round(F * before / C)` (see the file header). The sum over
 * any sequence of reversals depends only on their total, and equals F when the total is C.
 */
export function feeReversalMinor(input: FeeReversalInput): bigint {
  const { feeMinor, capturedMinor, reversedBeforeMinor, amountMinor, rounding } = input;
  assert(capturedMinor > 0n, 'feeReversalMinor: nothing captured');
  assert(feeMinor >= 0n && feeMinor <= capturedMinor, 'feeReversalMinor: fee outside [0, captured]');
  assert(reversedBeforeMinor >= 0n && amountMinor >= 0n, 'feeReversalMinor: negative amount');
  assert(reversedBeforeMinor + amountMinor <= capturedMinor, 'feeReversalMinor: reversing more than captured');
  const after = divideRounded(feeMinor * (reversedBeforeMinor + amountMinor), capturedMinor, rounding);
  const before = divideRounded(feeMinor * reversedBeforeMinor, capturedMinor, rounding);
  const shareMinor = after - before;
  assert(shareMinor >= 0n && shareMinor <= amountMinor, 'feeReversalMinor: share outside [0, amount]');
  return shareMinor;
}

/** A ledger-relevant fact of a payment: what `post_ledger` effects carry. */
export type PaymentLedgerEvent =
  | {
      readonly kind: 'capture' | 'capture_reversal';
      readonly paymentId: string;
      readonly psp: PspName;
      readonly currency: string;
      readonly amountMinor: bigint;
      readonly feeMinor: bigint;
      /** Which capture of the payment (1-based; > 1 only after unwound ones). */
      readonly sequence: number;
    }
  | {
      readonly kind: 'refund' | 'refund_reversal';
      readonly paymentId: string;
      readonly refundId: string;
      readonly psp: PspName;
      readonly currency: string;
      readonly amountMinor: bigint;
      /** The fee share the refund returns to the merchant (its reversal: takes back). */
      readonly feeReversedMinor: bigint;
      /** Which success of the refund (1-based; > 1 only after reversed ones). */
      readonly sequence: number;
    }
  | {
      readonly kind: 'chargeback' | 'chargeback_reversal';
      readonly paymentId: string;
      readonly psp: PspName;
      readonly currency: string;
      readonly amountMinor: bigint;
      /** The fee share the chargeback returns to the merchant (its reversal takes it back). */
      readonly feeReversedMinor: bigint;
      readonly disputeFeeMinor: bigint;
      /** 1: the first chargeback; 2: the second (after a reversal). */
      readonly number: 1 | 2;
    };

/**
 * The entry a capture of payment `p` at `psp` would post next, as far as reading for it goes (its
 * id and accounts): the app reads those ledger documents with the payment, in one round trip.
 */
export function nextCaptureEntryReads(
  p: { readonly id: string; readonly currency: string; readonly captureReversals: number }, psp: PspName, accountIdOf: AccountIdOf,
): { entryId: string; accountIds: string[] } {
  return {
    entryId: paymentEntryId({ kind: 'capture', paymentId: p.id, psp, currency: p.currency, amountMinor: 1n, feeMinor: 0n, sequence: p.captureReversals + 1 }),
    accountIds: ([pspReceivableCode(psp), MERCHANT_PAYABLE, PLATFORM_FEE_REVENUE] as const).map((code) => accountIdOf(code, p.currency)),
  };
}

/** The deterministic ledger entry id of a payment event (see the file header). */
export function paymentEntryId(event: PaymentLedgerEvent): string {
  return numberedEntryId(entryPrefixes[event.kind], event);
}

const entryPrefixes = {
  capture: 'cap', capture_reversal: 'capr', chargeback: 'cbk', chargeback_reversal: 'cbr', refund: 'ref', refund_reversal: 'refr',
} as const;

/**
 * Every ledger name the payments path derives, built from the constants above (account id prefix,
 * account codes, entry id prefixes): the public ledger RPCs refuse them (`RESERVED_NAMESPACE`), so
 * that no API caller can take a name a PSP outcome must be recorded under. Account codes are
 * reserved as families (`merchant_payable`, `merchant_payable:<anything>`), as the app creates
 * them per currency (`merchant_payable:EUR`).
 */
export const paymentsLedgerNamespace: ReservedLedgerNamespace = Object.freeze({
  owner: 'payments',
  accountIdPrefixes: Object.freeze([PAYMENT_ACCOUNT_ID_PREFIX]),
  accountCodeFamilies: Object.freeze([...new Set(paymentAccounts.map(({ code }) => code.split(':', 1)[0]!))]),
  entryIdFamilies: Object.freeze(Object.values(entryPrefixes)),
});

/**
 * `je_<prefix>_<id>` for the first capture, chargeback or success of a refund (the ids entries had
 * before there could be more), else `je_<prefix><n>_<id>`; `<id>` is the refund's for refunds, the
 * payment's otherwise.
 */
function numberedEntryId(prefix: string, event: PaymentLedgerEvent): string {
  const n = 'sequence' in event ? event.sequence : event.number;
  assert(Number.isSafeInteger(n) && n >= 1, 'paymentEntryId: ordinals start at 1');
  const id = event.kind === 'refund' || event.kind === 'refund_reversal' ? event.refundId : event.paymentId;
  return checkedEntryId(`je_${prefix}${n === 1 ? '' : String(n)}_${id}`);
}

/** The entry a reversal undoes: the capture, chargeback or refund success of the same number. */
function reversedEntryId(event: PaymentLedgerEvent): string | null {
  switch (event.kind) {
    case 'capture_reversal':
      return numberedEntryId(entryPrefixes.capture, event);
    case 'chargeback_reversal':
      return numberedEntryId(entryPrefixes.chargeback, event);
    case 'refund_reversal':
      return numberedEntryId(entryPrefixes.refund, event);
    default:
      return null;
  }
}

function checkedEntryId(id: string): string {
  // Payment and refund ids are bounded (payment-intent.ts) so that these ids always fit.
  assert(isEntryId(id), `paymentEntryId: ${id} is not a valid entry id`);
  return id;
}

/**
 * The ledger entry of a payment event, balanced by construction. Account ids come from
 * `accountIdOf`. Posting it twice replays (same id, same content).
 */
export function paymentLedgerEntry(event: PaymentLedgerEvent, accountIdOf: AccountIdOf): EntryInput {
  currencyOf(event.currency);
  const line = (code: PaymentAccountCode, direction: 'debit' | 'credit', amountMinor: bigint): Posting => ({
    accountId: accountIdOf(code, event.currency),
    direction,
    amountMinor,
    currency: event.currency,
  });
  const receivable = pspReceivableCode(event.psp);
  const metadata: Record<string, string> = { paymentId: event.paymentId, psp: event.psp, kind: event.kind };
  let lines: Posting[];
  let description: string;
  switch (event.kind) {
    case 'capture':
    case 'capture_reversal': {
      assert(event.amountMinor > 0n && event.feeMinor >= 0n && event.feeMinor <= event.amountMinor, 'capture entry: fee outside [0, amount]');
      const [debit, credit] = event.kind === 'capture' ? (['debit', 'credit'] as const) : (['credit', 'debit'] as const);
      lines = [
        line(receivable, debit, event.amountMinor),
        line(MERCHANT_PAYABLE, credit, event.amountMinor - event.feeMinor),
        line(PLATFORM_FEE_REVENUE, credit, event.feeMinor),
      ];

      description = event.kind === 'capture' ? `capture of payment ${event.paymentId}` : `failed capture of payment ${event.paymentId} reversed`;
      break;
    }
    case 'refund':
    case 'refund_reversal': {
      checkReversal(event.amountMinor, event.feeReversedMinor);
      const [debit, credit] = event.kind === 'refund' ? (['debit', 'credit'] as const) : (['credit', 'debit'] as const);
      lines = [
        line(MERCHANT_PAYABLE, debit, event.amountMinor - event.feeReversedMinor),
        line(PLATFORM_FEE_REVENUE, debit, event.feeReversedMinor),
        line(receivable, credit, event.amountMinor),
      ];
      metadata.refundId = event.refundId;
      description = event.kind === 'refund'
        ? `refund ${event.refundId} of payment ${event.paymentId}`
        : `failed refund ${event.refundId} of payment ${event.paymentId} reversed`;
      break;
    }
    case 'chargeback':
    case 'chargeback_reversal': {
      checkReversal(event.amountMinor, event.feeReversedMinor);
      assert(event.disputeFeeMinor >= 0n, 'chargeback entry: negative dispute fee');
      const [debit, credit] = event.kind === 'chargeback' ? (['debit', 'credit'] as const) : (['credit', 'debit'] as const);
      lines = [
        line(MERCHANT_PAYABLE, debit, event.amountMinor - event.feeReversedMinor),
        line(PLATFORM_FEE_REVENUE, debit, event.feeReversedMinor),
        line(CHARGEBACK_LOSS, debit, event.disputeFeeMinor),
        line(receivable, credit, event.amountMinor + event.disputeFeeMinor),
      ];

      description = event.kind === 'chargeback' ? `chargeback of payment ${event.paymentId}` : `chargeback of payment ${event.paymentId} reversed (dispute won)`;
      break;
    }
  }
  return {
    id: paymentEntryId(event),
    postings: lines.filter((p) => p.amountMinor > 0n),
    description,
    metadata,
    reversesEntryId: reversedEntryId(event),
    pending: null,
  };
}

function checkReversal(amountMinor: bigint, feeReversedMinor: bigint): void {
  assert(amountMinor > 0n, 'reversal entry: amount must be positive');
  assert(feeReversedMinor >= 0n && feeReversedMinor <= amountMinor, 'reversal entry: fee share outside [0, amount]');
}

function checkFeeAmount(field: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > FEE_FIXED_MINOR_MAX) {
    throw invalidField(field, `must be an integer from 0 to ${FEE_FIXED_MINOR_MAX} minor units`);
  }
  return value;
}
