import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { paymentAccountIdOf, paymentAccounts, paymentEntryId, paymentsLedgerNamespace, type PaymentLedgerEvent } from '../payments/ledger-postings.js';
import { pspNames } from '../payments/psp-vocabulary.js';
import { checkAccountCodeNotReserved, checkAccountIdNotReserved, checkEntryIdNotReserved, isReservedAccountCode, isReservedAccountId, isReservedEntryId } from './namespace.js';

const ns = paymentsLedgerNamespace;

describe('the payments namespace is reserved (issue 11 item 1)', () => {
  it('covers every entry id the payments path derives, for every kind and ordinal', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9]{1,20}$/);
    fc.assert(fc.property(fc.constantFrom('capture', 'capture_reversal', 'refund', 'refund_reversal', 'chargeback', 'chargeback_reversal'), id, fc.integer({ min: 1, max: 99 }), (kind, rawId, n) => {
      const common = { paymentId: `pay_${rawId}`, psp: pspNames[0]!, currency: 'EUR', amountMinor: 1n };
      const event = (kind.startsWith('refund')
        ? { ...common, kind, refundId: `re_${rawId}`, feeReversedMinor: 0n, sequence: n }
        : kind.startsWith('chargeback')
          ? { ...common, kind, feeReversedMinor: 0n, disputeFeeMinor: 0n, number: n % 2 === 0 ? 2 : 1 }
          : { ...common, kind, feeMinor: 0n, sequence: n }) as PaymentLedgerEvent;
      expect(isReservedEntryId(ns, paymentEntryId(event))).toBe(true);
    }));
    for (const example of ['je_cap_pay_1', 'je_capr_x', 'je_cap2_x', 'je_ref_re_1', 'je_refr_x', 'je_ref2_x', 'je_cbk_x', 'je_cbk2_x', 'je_cbr_x', 'je_cbr2_x']) {
      expect(isReservedEntryId(ns, example)).toBe(true);
    }
  });

  it('leaves ordinary entry ids alone', () => {
    for (const free of ['je_capture_1', 'je_1', 'je_cash_in', 'je_caps_1', 'je_reference', 'je_x_cap_1']) expect(isReservedEntryId(ns, free)).toBe(false);
  });

  it('covers every payment account id and code, in every currency', () => {
    for (const { code } of paymentAccounts) {
      for (const currency of ['EUR', 'GBP', 'JPY']) {
        expect(isReservedAccountId(ns, paymentAccountIdOf(code, currency))).toBe(true);
        expect(isReservedAccountCode(ns, `${code}:${currency}`)).toBe(true);
      }
    }
    for (const code of ['merchant_payable', 'merchant_payable:GBP', 'psp_receivable:stripe', 'platform_fee_revenue:x', 'chargeback_loss']) {
      expect(isReservedAccountCode(ns, code)).toBe(true);
    }
    for (const code of ['merchant_payables', 'cash:EUR', 'payable:merchant_payable']) expect(isReservedAccountCode(ns, code)).toBe(false);
  });

  it('refuses with RESERVED_NAMESPACE naming the field and the owner', () => {
    expect(() => checkEntryIdNotReserved([ns], 'je_cap_pay_1', 'entry_id')).toThrow(expect.objectContaining({ reason: 'RESERVED_NAMESPACE', metadata: { field: 'entry_id', namespace: 'payments' } }));
    expect(() => checkAccountIdNotReserved([ns], 'acc_pay_platform_fee_revenue_EUR', 'account_id')).toThrow(expect.objectContaining({ reason: 'RESERVED_NAMESPACE' }));
    expect(() => checkAccountCodeNotReserved([ns], 'merchant_payable:GBP')).toThrow(expect.objectContaining({ reason: 'RESERVED_NAMESPACE', metadata: { field: 'code', namespace: 'payments' } }));
    expect(() => checkAccountIdNotReserved([ns], 'acc_1', 'account_id')).not.toThrow();
  });
});
