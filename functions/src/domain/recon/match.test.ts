import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Movement, type PaymentView, lineMovements, matchLine } from './match.js';
import type { ReportLine } from './report-line.js';

const line = (over: Partial<ReportLine>): ReportLine => ({
  line: 2, type: 'payment', rawType: 'Settled', pspReference: 'psp_1', altReferences: [], merchantReference: 'pay_1', modificationReference: 'mod_1',
  grossCurrency: 'EUR', grossMinor: 1_000n, currency: 'EUR', feesMinor: 30n, netMinor: 970n, payoutKey: '7', ...over,
});
const payment = (over: Partial<PaymentView> = {}): PaymentView => ({
  paymentId: 'pay_1', currency: 'EUR', amountCapturedMinor: 1_000n, refundsMinor: [], chargebackMinor: null, disputeStatus: null, ...over,
});

/** Net effect of movements on each account, per currency (debit positive). */
function effect(movements: readonly Movement[]): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const m of movements) {
    out[`${m.debit}:${m.currency}`] = (out[`${m.debit}:${m.currency}`] ?? 0n) + m.amountMinor;
    out[`${m.credit}:${m.currency}`] = (out[`${m.credit}:${m.currency}`] ?? 0n) - m.amountMinor;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== 0n));
}

describe('lineMovements', () => {
  it('a settled payment moves what the PSP kept (gross - net) from the receivable to psp_fees', () => {
    expect(effect(lineMovements(line({})))).toEqual({ 'psp_fees:EUR': 30n, 'psp_receivable:EUR': -30n });
  });

  it('a payout moves the paid-out amount from the receivable to the bank; a correction against recon_adjustments', () => {
    expect(effect(lineMovements(line({ type: 'payout', grossMinor: 0n, feesMinor: 0n, netMinor: -5_000n })))).toEqual({ 'bank:EUR': 5_000n, 'psp_receivable:EUR': -5_000n });
    expect(effect(lineMovements(line({ type: 'correction', grossMinor: 0n, feesMinor: 0n, netMinor: 100n })))).toEqual({ 'psp_receivable:EUR': 100n, 'recon_adjustments:EUR': -100n });
  });

  it('an FX line clears the gross currency and books net + fees in the net currency; the receivable in each moves by exactly the report', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), (gross, fees, net) => {
      const e = effect(lineMovements(line({ grossCurrency: 'USD', grossMinor: gross, currency: 'EUR', feesMinor: fees, netMinor: net })));
      // The receivable in USD gives up the gross; in EUR it gains the net (net + fees in, fees out).
      expect(e['psp_receivable:USD'] ?? 0n).toBe(-gross);
      expect(e['psp_receivable:EUR'] ?? 0n).toBe(net);
      expect(e['psp_fees:EUR'] ?? 0n).toBe(fees);
      // Every movement is positive and balanced (debit = credit) by construction.
      for (const m of lineMovements(line({ grossCurrency: 'USD', grossMinor: gross, currency: 'EUR', feesMinor: fees, netMinor: net }))) expect(m.amountMinor > 0n).toBe(true);
    }));
  });
});

describe('matchLine', () => {
  it('a capture that agrees matches with no break', () => {
    expect(matchLine(line({}), payment())).toMatchObject({ breaks: [], paymentId: 'pay_1' });
  });

  it.each([
    ['unknown_reference', line({}), undefined],
    ['currency_mismatch', line({ grossCurrency: 'USD', currency: 'USD' }), payment()],
    ['missing_in_ledger', line({}), payment({ amountCapturedMinor: 0n })],
    ['missing_in_ledger', line({ type: 'refund', grossMinor: -400n, feesMinor: 0n, netMinor: -400n }), payment()],
    ['missing_in_ledger', line({ type: 'chargeback', grossMinor: -1_000n, feesMinor: 0n, netMinor: -1_000n }), payment()],
    ['missing_in_ledger', line({ type: 'chargeback_reversal', grossMinor: 1_000n, feesMinor: 0n, netMinor: 1_000n }), payment({ disputeStatus: 'chargeback' })],
    ['amount_mismatch', line({ grossMinor: 1_001n, netMinor: 971n }), payment()],
    ['amount_mismatch', line({ type: 'refund', grossMinor: -400n, feesMinor: 0n, netMinor: -400n }), payment({ refundsMinor: [300n] })],
  ] as const)('%s', (kind, l, p) => {
    const m = matchLine(l, p);
    expect(m.breaks.map((b) => b.kind)).toEqual([kind]);
    // Only the healed kind moves money beyond the line's own movements.
    if (kind !== 'amount_mismatch') expect(m.movements.filter((x) => x.part === 'adj')).toEqual([]);
  });

  it('an amount mismatch is healed by exactly the difference between the report and Tally', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), (captured, reported) => {
      fc.pre(captured !== reported);
      const m = matchLine(line({ grossMinor: reported, feesMinor: 0n, netMinor: reported }), payment({ amountCapturedMinor: captured }));
      expect(effect(m.movements.filter((x) => x.part === 'adj'))).toEqual({ 'psp_receivable:EUR': reported - captured, 'recon_adjustments:EUR': captured - reported });
    }));
  });

  it('refunds, chargebacks and reversals that Tally recorded match', () => {
    expect(matchLine(line({ type: 'refund', grossMinor: -300n, feesMinor: 0n, netMinor: -300n }), payment({ refundsMinor: [500n, 300n] })).breaks).toEqual([]);
    expect(matchLine(line({ type: 'chargeback', grossMinor: -1_000n, feesMinor: 0n, netMinor: -1_000n }), payment({ chargebackMinor: 1_000n, disputeStatus: 'chargeback' })).breaks).toEqual([]);
    // Reversed since: the chargeback no longer stands, the dispute says it happened.
    expect(matchLine(line({ type: 'chargeback', grossMinor: -1_000n, feesMinor: 0n, netMinor: -1_000n }), payment({ disputeStatus: 'chargeback_reversed' })).breaks).toEqual([]);
    expect(matchLine(line({ type: 'chargeback_reversal', grossMinor: 1_000n, feesMinor: 0n, netMinor: 1_000n }), payment({ disputeStatus: 'chargeback_reversed' })).breaks).toEqual([]);
  });
});
