import { describe, expect, it } from 'vitest';
import { ZERO_BALANCE } from './balance.js';
import type { EntryBody, ResolutionBody } from './journal-record.js';
import { replayBalances } from './replay.js';

const hold: EntryBody = {
  kind: 'entry',
  id: 'je_hold',
  postings: [
    { accountId: 'acc_customer', direction: 'debit', amountMinor: 100n, currency: 'USD' },
    { accountId: 'acc_merchant', direction: 'credit', amountMinor: 100n, currency: 'USD' },
  ],
  description: '',
  metadata: {},
  reversesEntryId: null,
  pending: { timeoutMs: 60_000, expiresAtMs: 61_000 },
  createdAtMs: 1_000,
};
const capture: ResolutionBody = {
  kind: 'resolution',
  id: 'je_hold.resolution',
  pendingEntryId: 'je_hold',
  outcome: 'posted',
  postings: [
    { accountId: 'acc_customer', direction: 'debit', currency: 'USD', pendingAmountMinor: 100n, postedAmountMinor: 80n },
    { accountId: 'acc_merchant', direction: 'credit', currency: 'USD', pendingAmountMinor: 100n, postedAmountMinor: 80n },
  ],
  createdAtMs: 2_000,
};
const refund: EntryBody = {
  ...hold,
  id: 'je_refund',
  pending: null,
  reversesEntryId: 'je_hold',
  postings: [
    { accountId: 'acc_merchant', direction: 'debit', amountMinor: 30n, currency: 'USD' },
    { accountId: 'acc_customer', direction: 'credit', amountMinor: 30n, currency: 'USD' },
  ],
  createdAtMs: 3_000,
};

describe('replayBalances', () => {
  it('folds entries and resolutions, in any order', () => {
    const expected = { postedDebitsMinor: 80n, postedCreditsMinor: 30n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n };
    expect(replayBalances([hold, capture, refund]).get('acc_customer')).toEqual(expected);
    expect(replayBalances([refund, capture, hold]).get('acc_customer')).toEqual(expected);
  });

  it('answers as of a past time', () => {
    expect(replayBalances([hold, capture, refund], { asOfMs: 999 }).size).toBe(0);
    expect(replayBalances([hold, capture, refund], { asOfMs: 1_500 }).get('acc_merchant')).toEqual({ ...ZERO_BALANCE, pendingCreditsMinor: 100n });
    expect(replayBalances([hold, capture, refund], { asOfMs: 2_000 }).get('acc_merchant')).toEqual({ ...ZERO_BALANCE, postedCreditsMinor: 80n });
  });
});
