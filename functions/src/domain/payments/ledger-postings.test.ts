import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { type EntryInput, validateEntryShape } from '../ledger/index.js';
import { type RoundingMode, roundingModes } from '../money/index.js';
import {
  type FeeSchedule,
  type PaymentLedgerEvent,
  feeReversalMinor,
  paymentAccounts,
  paymentEntryId,
  paymentLedgerEntry,
  platformFeeMinor,
  validateFeeSchedule,
} from './ledger-postings.js';

const accountIdOf = (code: string, currency: string): string => `acc_${currency}_${code.replace(':', '_')}`;
const fees = (rateBps: number, fixedMinor: bigint, rounding: RoundingMode = 'half-up', disputeFeeMinor = 0n): FeeSchedule => ({
  rateBps,
  fixedMinor,
  rounding,
  disputeFeeMinor,
});

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? `${error.reason} ${error.metadata.field ?? ''}` : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

/** Signed effect of an entry per account code (debits positive). */
function netByAccount(entry: EntryInput): Map<string, bigint> {
  const net = new Map<string, bigint>();
  for (const p of entry.postings) net.set(p.accountId, (net.get(p.accountId) ?? 0n) + (p.direction === 'debit' ? p.amountMinor : -p.amountMinor));
  return net;
}

describe('platform fee', () => {
  it.each([
    [10_000n, 290, 30n, 'half-up', 320n],
    [1_050n, 290, 0n, 'half-up', 30n], // 30.45 -> 30
    [50n, 100, 0n, 'half-up', 1n], // 0.5 -> 1
    [50n, 100, 0n, 'half-even', 0n], // 0.5 -> 0
    [99n, 100, 0n, 'down', 0n],
    [20n, 290, 30n, 'half-up', 20n], // capped at the amount
  ] as const)('%s at %s bps + %s (%s) is %s', (amountMinor, rateBps, fixedMinor, rounding, expected) => {
    expect(platformFeeMinor(amountMinor, 'USD', fees(rateBps, fixedMinor, rounding))).toBe(expected);
  });

  it('validates its terms, naming the field', () => {
    expect(validateFeeSchedule(fees(290, 30n))).toEqual(fees(290, 30n));
    expect(reasonOf(() => validateFeeSchedule(fees(10_001, 0n)))).toBe('FIELD_INVALID fees.rate_bps');
    expect(reasonOf(() => validateFeeSchedule(fees(1.5, 0n)))).toBe('FIELD_INVALID fees.rate_bps');
    expect(reasonOf(() => validateFeeSchedule(fees(0, -1n)))).toBe('FIELD_INVALID fees.fixed_minor');
    expect(reasonOf(() => validateFeeSchedule(fees(0, 0n, 'up' as RoundingMode)))).toBe('FIELD_INVALID fees.rounding');
    expect(reasonOf(() => validateFeeSchedule(fees(0, 0n, 'down', 2n ** 60n)))).toBe('FIELD_INVALID fees.dispute_fee_minor');
  });
});

describe('payment ledger entries', () => {
  const capture: PaymentLedgerEvent = { kind: 'capture', paymentId: 'pay_1', psp: 'stripe', currency: 'USD', amountMinor: 10_000n, feeMinor: 320n, sequence: 1 };

  it('capture: receivable debited, merchant and fee credited', () => {
    const entry = paymentLedgerEntry(capture, accountIdOf);
    expect(entry.id).toBe('je_cap_pay_1');
    expect(entry.postings).toEqual([
      { accountId: 'acc_USD_psp_receivable_stripe', direction: 'debit', amountMinor: 10_000n, currency: 'USD' },
      { accountId: 'acc_USD_merchant_payable', direction: 'credit', amountMinor: 9_680n, currency: 'USD' },
      { accountId: 'acc_USD_platform_fee_revenue', direction: 'credit', amountMinor: 320n, currency: 'USD' },
    ]);
    expect(entry.metadata).toEqual({ paymentId: 'pay_1', psp: 'stripe', kind: 'capture' });
    expect(validateEntryShape(entry).id).toBe('je_cap_pay_1');
  });

  it('refund: the mirror image of its share; zero lines are left out', () => {
    const entry = paymentLedgerEntry(
      { kind: 'refund', paymentId: 'pay_1', refundId: 're_1', psp: 'adyen', currency: 'EUR', amountMinor: 500n, feeReversedMinor: 0n, sequence: 1 },
      accountIdOf,
    );
    expect(entry.id).toBe('je_ref_re_1');
    expect(entry.postings).toEqual([
      { accountId: 'acc_EUR_merchant_payable', direction: 'debit', amountMinor: 500n, currency: 'EUR' },
      { accountId: 'acc_EUR_psp_receivable_adyen', direction: 'credit', amountMinor: 500n, currency: 'EUR' },
    ]);
    expect(entry.metadata.refundId).toBe('re_1');
  });

  it('chargeback: like a refund of the rest, plus the dispute fee as the platform\'s loss', () => {
    const entry = paymentLedgerEntry(
      { kind: 'chargeback', paymentId: 'pay_1', psp: 'stripe', currency: 'USD', amountMinor: 10_000n, feeReversedMinor: 320n, disputeFeeMinor: 1_500n, number: 1 },
      accountIdOf,
    );
    expect(entry.id).toBe('je_cbk_pay_1');
    const net = netByAccount(entry);
    expect(net.get('acc_USD_merchant_payable')).toBe(9_680n);
    expect(net.get('acc_USD_platform_fee_revenue')).toBe(320n);
    expect(net.get('acc_USD_chargeback_loss')).toBe(1_500n);
    expect(net.get('acc_USD_psp_receivable_stripe')).toBe(-11_500n);
    validateEntryShape(entry);
  });

  it('reversals: the chargeback and capture lines the other way round; later ones numbered', () => {
    const chargeback = { kind: 'chargeback', paymentId: 'pay_1', psp: 'stripe', currency: 'USD', amountMinor: 4_000n, feeReversedMinor: 128n, disputeFeeMinor: 1_500n, number: 1 } as const;
    const reversal = paymentLedgerEntry({ ...chargeback, kind: 'chargeback_reversal' }, accountIdOf);
    expect(reversal.id).toBe('je_cbr_pay_1');
    expect(reversal.reversesEntryId).toBe('je_cbk_pay_1');
    const net = netByAccount(paymentLedgerEntry(chargeback, accountIdOf));
    for (const [account, amount] of netByAccount(reversal)) expect(amount).toBe(-(net.get(account) ?? 0n));
    expect(paymentEntryId({ ...chargeback, number: 2 })).toBe('je_cbk2_pay_1');
    expect(paymentEntryId({ ...chargeback, kind: 'chargeback_reversal', number: 2 })).toBe('je_cbr2_pay_1');
    const captureReversal = paymentLedgerEntry({ ...capture, kind: 'capture_reversal' }, accountIdOf);
    expect(captureReversal.id).toBe('je_capr_pay_1');
    expect(captureReversal.reversesEntryId).toBe('je_cap_pay_1');
    const captured = netByAccount(paymentLedgerEntry(capture, accountIdOf));
    for (const [account, amount] of netByAccount(captureReversal)) expect(amount).toBe(-(captured.get(account) ?? 0n));
    expect(paymentEntryId({ ...capture, sequence: 2 })).toBe('je_cap2_pay_1');
    validateEntryShape(reversal);
    validateEntryShape(captureReversal);
  });

  it('ids fit the ledger for the longest payment and refund ids', () => {
    const paymentId = `pay_${'x'.repeat(40)}`;
    const refundId = `re_${'y'.repeat(40)}`;
    expect(paymentEntryId({ ...capture, paymentId })).toBe(`je_cap_${paymentId}`);
    const refund = { kind: 'refund', paymentId, refundId, psp: 'stripe', currency: 'USD', amountMinor: 1n, feeReversedMinor: 0n, sequence: 1 } as const;
    expect(paymentEntryId(refund)).toBe(`je_ref_${refundId}`);
    // A refund that a scheme rejected and the PSP retried: the n-th success and its reversal, at the longest ids.
    expect(paymentEntryId({ ...refund, sequence: 5 })).toBe(`je_ref5_${refundId}`);
    expect(paymentEntryId({ ...refund, kind: 'refund_reversal', sequence: 5 })).toBe(`je_refr5_${refundId}`);
    expect(paymentLedgerEntry({ ...refund, kind: 'refund_reversal', sequence: 2 }, accountIdOf).reversesEntryId).toBe(`je_ref2_${refundId}`);
  });

  it('lists every account it posts to, with a ledger type', () => {
    const codes = paymentAccounts.map((a) => a.code);
    expect(codes).toEqual(['psp_receivable:stripe', 'psp_receivable:adyen', 'merchant_payable', 'platform_fee_revenue', 'chargeback_loss']);
  });
});

/** A captured amount, fee terms, and a random split of some or all of it into refunds. */
const splitArb = fc
  .record({
    capturedMinor: fc.bigInt({ min: 1n, max: 10n ** 12n }),
    rateBps: fc.integer({ min: 0, max: 10_000 }),
    fixedMinor: fc.bigInt({ min: 0n, max: 1_000n }),
    rounding: fc.constantFrom(...roundingModes),
    cuts: fc.array(fc.bigInt({ min: 0n, max: 10n ** 6n }), { minLength: 0, maxLength: 12 }),
    full: fc.boolean(),
    chargebackLast: fc.boolean(),
  })
  .map(({ capturedMinor, cuts, full, ...rest }) => {
    // Cut points in [0, captured] make a split; when not `full` the last part stays unrefunded.
    const points = cuts.map((c) => (c * capturedMinor) / 10n ** 6n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const bounds = [0n, ...points, capturedMinor];
    const parts = bounds.slice(1).map((b, i) => b - (bounds[i] ?? 0n)).filter((p) => p > 0n);
    return { capturedMinor, parts: full ? parts : parts.slice(0, -1), full, ...rest };
  });

describe('ledger postings (properties)', () => {
  it('every entry balances; fee shares sum to the fee when fully reversed, and never exceed it', () => {
    fc.assert(
      fc.property(splitArb, ({ capturedMinor, parts, full, rateBps, fixedMinor, rounding, chargebackLast }) => {
        const schedule = fees(rateBps, fixedMinor, rounding, 700n);
        const feeMinor = platformFeeMinor(capturedMinor, 'USD', schedule);
        const entries: EntryInput[] = [
          paymentLedgerEntry({ kind: 'capture', paymentId: 'pay_p', psp: 'stripe', currency: 'USD', amountMinor: capturedMinor, feeMinor, sequence: 1 }, accountIdOf),
        ];
        let reversedMinor = 0n;
        let feeReversedTotal = 0n;
        for (const [i, amountMinor] of parts.entries()) {
          const share = feeReversalMinor({ feeMinor, capturedMinor, reversedBeforeMinor: reversedMinor, amountMinor, rounding });
          expect(share >= 0n && share <= amountMinor).toBe(true);
          const asChargeback = chargebackLast && i === parts.length - 1;
          entries.push(
            paymentLedgerEntry(
              asChargeback
                ? { kind: 'chargeback', paymentId: 'pay_p', psp: 'stripe', currency: 'USD', amountMinor, feeReversedMinor: share, disputeFeeMinor: 700n, number: 1 as const }
                : { kind: 'refund', paymentId: 'pay_p', refundId: `re_${i}`, psp: 'stripe', currency: 'USD', amountMinor, feeReversedMinor: share, sequence: 1 },
              accountIdOf,
            ),
          );
          reversedMinor += amountMinor;
          feeReversedTotal += share;
        }
        // validateEntryShape throws ENTRY_UNBALANCED for an unbalanced entry.
        for (const entry of entries) validateEntryShape(entry);
        expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
        expect(feeReversedTotal <= feeMinor).toBe(true);
        if (full && parts.length > 0) expect(feeReversedTotal).toBe(feeMinor);
        // The running total is rounded, so what was reversed depends only on how much was reversed.
        expect(feeReversedTotal).toBe(feeReversalMinor({ feeMinor, capturedMinor, reversedBeforeMinor: 0n, amountMinor: reversedMinor, rounding }));
        // Fully reversed without a chargeback, the merchant and fee accounts net to zero.
        if (full && parts.length > 0 && !chargebackLast) {
          const net = new Map<string, bigint>();
          for (const e of entries) for (const [k, v] of netByAccount(e)) net.set(k, (net.get(k) ?? 0n) + v);
          expect([...net.values()].every((v) => v === 0n)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the same event always makes the same entry (posting twice is a replay)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.integer({ min: 0, max: 10_000 }), (amountMinor, rateBps) => {
        const feeMinor = platformFeeMinor(amountMinor, 'JPY', fees(rateBps, 0n));
        const event: PaymentLedgerEvent = { kind: 'capture', paymentId: 'pay_r', psp: 'adyen', currency: 'JPY', amountMinor, feeMinor, sequence: 1 };
        expect(paymentLedgerEntry(event, accountIdOf)).toEqual(paymentLedgerEntry({ ...event }, accountIdOf));
      }),
      { numRuns: 50 },
    );
  });
});
