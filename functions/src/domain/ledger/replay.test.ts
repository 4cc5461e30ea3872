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

  it('as of a time after a hold expired, releases it even before the sweep wrote its expiry', () => {
    const expiry: ResolutionBody = {
      ...capture, outcome: 'expired', createdAtMs: 75_000, // the sweep ran 14 s after the timeout
      postings: capture.postings.map((p) => ({ ...p, postedAmountMinor: 0n })),
    };
    const held = { ...ZERO_BALANCE, pendingCreditsMinor: 100n };
    expect(replayBalances([hold], { asOfMs: 60_999 }).get('acc_merchant')).toEqual(held);
    // Expired at 61 000: released as of then, with or without the sweep's record, and the same after it.
    for (const asOfMs of [61_000, 70_000, 75_000, 90_000]) {
      expect(replayBalances([hold, expiry], { asOfMs }).get('acc_merchant'), `as of ${asOfMs}`).toEqual(ZERO_BALANCE);
      expect(replayBalances([hold], { asOfMs }).get('acc_merchant'), `as of ${asOfMs}, not swept`).toEqual(ZERO_BALANCE);
    }
    // A hold posted before its timeout stays posted as of any later time.
    expect(replayBalances([hold, capture], { asOfMs: 90_000 }).get('acc_merchant')).toEqual({ ...ZERO_BALANCE, postedCreditsMinor: 80n });
    // Without a time (all records), nothing is synthesized: stored balances hold until the sweep.
    expect(replayBalances([hold]).get('acc_merchant')).toEqual(held);
  });
});
