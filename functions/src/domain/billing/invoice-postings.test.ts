import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReservedAccountId, isReservedEntryId } from '../ledger/namespace.js';
import { billingAccountId, billingLedgerNamespace, creditNoteEntry, customerCreditEntry, finalizationEntry, paymentEntry, uncollectibleEntry, voidEntry } from './invoice-postings.js';

const invoice = { id: 'inv_a', number: 'INV-000001', currency: 'EUR' };
const sums = (e: NonNullable<ReturnType<typeof finalizationEntry>>) => ({
  debits: e.postings.filter((p) => p.direction === 'debit').reduce((a, p) => a + p.amountMinor, 0n),
  credits: e.postings.filter((p) => p.direction === 'credit').reduce((a, p) => a + p.amountMinor, 0n),
});

describe('billing ledger postings', () => {
  it('finalization debits the receivable by the total and credits revenue and tax payable', () => {
    const e = finalizationEntry({ ...invoice, netMinor: 2_000n, taxMinor: 400n })!;
    expect(e.id).toBe('je_binv_inv_a');
    expect(e.postings).toEqual([
      { accountId: 'acc_bil_receivable_EUR', direction: 'debit', amountMinor: 2_400n, currency: 'EUR' },
      { accountId: 'acc_bil_revenue_EUR', direction: 'credit', amountMinor: 2_000n, currency: 'EUR' },
      { accountId: 'acc_bil_tax_payable_EUR', direction: 'credit', amountMinor: 400n, currency: 'EUR' },
    ]);
  });

  it('a negative invoice posts the other side, and its total moves to the customer credit (created, applied, returned)', () => {
    expect(finalizationEntry({ ...invoice, netMinor: -850n, taxMinor: -170n })!.postings).toEqual([
      { accountId: 'acc_bil_receivable_EUR', direction: 'credit', amountMinor: 1_020n, currency: 'EUR' },
      { accountId: 'acc_bil_revenue_EUR', direction: 'debit', amountMinor: 850n, currency: 'EUR' },
      { accountId: 'acc_bil_tax_payable_EUR', direction: 'debit', amountMinor: 170n, currency: 'EUR' },
    ]);
    const created = customerCreditEntry(invoice, -1_020n)!;
    expect(created.id).toBe('je_bcred_inv_a');
    expect(created.postings).toEqual([
      { accountId: 'acc_bil_customer_credit_EUR', direction: 'credit', amountMinor: 1_020n, currency: 'EUR' },
      { accountId: 'acc_bil_receivable_EUR', direction: 'debit', amountMinor: 1_020n, currency: 'EUR' },
    ]);
    expect(customerCreditEntry(invoice, 120n)!.postings).toEqual([
      { accountId: 'acc_bil_customer_credit_EUR', direction: 'debit', amountMinor: 120n, currency: 'EUR' },
      { accountId: 'acc_bil_receivable_EUR', direction: 'credit', amountMinor: 120n, currency: 'EUR' },
    ]);
    expect(customerCreditEntry(invoice, -120n, true)!.id).toBe('je_bcred_inv_a_void');
    expect(isReservedEntryId(billingLedgerNamespace, 'je_bcred_inv_a_void')).toBe(true);
    expect(customerCreditEntry(invoice, 0n)).toBeNull();
  });

  it('an uncollectible invoice writes its amount due off to bad debt; the reversal (paid or voided after all) puts it back', () => {
    const e = uncollectibleEntry(invoice, 1_200n)!;
    expect(e.id).toBe('je_bunc_inv_a');
    expect(e.postings).toEqual([
      { accountId: 'acc_bil_bad_debt_EUR', direction: 'debit', amountMinor: 1_200n, currency: 'EUR' },
      { accountId: 'acc_bil_receivable_EUR', direction: 'credit', amountMinor: 1_200n, currency: 'EUR' },
    ]);
    const rev = uncollectibleEntry(invoice, 1_200n, true)!;
    expect(rev.id).toBe('je_bunc_inv_a_rev');
    expect(rev.postings).toEqual([
      { accountId: 'acc_bil_bad_debt_EUR', direction: 'credit', amountMinor: 1_200n, currency: 'EUR' },
      { accountId: 'acc_bil_receivable_EUR', direction: 'debit', amountMinor: 1_200n, currency: 'EUR' },
    ]);
    expect(isReservedEntryId(billingLedgerNamespace, 'je_bunc_inv_a_rev')).toBe(true);
    expect(isReservedAccountId(billingLedgerNamespace, billingAccountId('billing_bad_debt', 'EUR'))).toBe(true);
    expect(uncollectibleEntry(invoice, 0n)).toBeNull();
  });

  it('drops zero lines (no tax: two lines) and posts nothing for a zero invoice', () => {
    expect(finalizationEntry({ ...invoice, netMinor: 1_000n, taxMinor: 0n })!.postings).toHaveLength(2);
    expect(finalizationEntry({ ...invoice, netMinor: 0n, taxMinor: 0n })).toBeNull();
  });

  it('every entry balances, for any amounts (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 11n }), fc.boolean(), (net, tax, paid) => {
      for (const e of [finalizationEntry({ ...invoice, netMinor: net, taxMinor: tax }), paymentEntry(invoice, net + tax, 'pay_x'),
        creditNoteEntry({ id: 'cn_x', netMinor: net, taxMinor: tax }, invoice, paid), voidEntry(invoice, net, tax)]) {
        if (e === null) continue;
        const { debits, credits } = sums(e);
        expect(debits).toBe(credits);
        expect(e.postings.every((p) => p.amountMinor > 0n)).toBe(true);
      }
    }));
  });

  it('a credit note credits the receivable while unpaid, the customer credit once paid; a void names what it reverses', () => {
    expect(creditNoteEntry({ id: 'cn_x', netMinor: 100n, taxMinor: 20n }, invoice, false)!.postings.at(-1)?.accountId).toBe('acc_bil_receivable_EUR');
    expect(creditNoteEntry({ id: 'cn_x', netMinor: 100n, taxMinor: 20n }, invoice, true)!.postings.at(-1)?.accountId).toBe('acc_bil_customer_credit_EUR');
    expect(voidEntry(invoice, 100n, 20n)?.reversesEntryId).toBe('je_binv_inv_a');
  });

  it('its account ids and entry ids are in the reserved billing namespace (the public ledger API refuses them)', () => {
    expect(isReservedAccountId(billingLedgerNamespace, billingAccountId('billing_collected', 'USD'))).toBe(true);
    for (const e of [finalizationEntry({ ...invoice, netMinor: 1n, taxMinor: 1n }), paymentEntry(invoice, 2n, 'p'), creditNoteEntry({ id: 'cn_x', netMinor: 1n, taxMinor: 1n }, invoice, true), voidEntry(invoice, 1n, 1n)]) {
      expect(isReservedEntryId(billingLedgerNamespace, e!.id)).toBe(true);
    }
    expect(isReservedEntryId(billingLedgerNamespace, 'je_cap_pay_x')).toBe(false);
  });
});
