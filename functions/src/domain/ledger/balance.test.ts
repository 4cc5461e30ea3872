import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money/index.js';
import { type Account, type AccountFlags, createAccount } from './account.js';
import { type Balance, ZERO_BALANCE, applyDelta, applyPosting, balanceChangesOf, checkLimits, pickShard, postingDelta, sumShards } from './balance.js';
import type { Posting } from './entry.js';

const debit: Posting = { accountId: 'acc_a', direction: 'debit', amountMinor: 100n, currency: 'USD' };
const credit: Posting = { ...debit, direction: 'credit' };
const balance = (posted: [bigint, bigint], pending: [bigint, bigint] = [0n, 0n]): Balance => ({
  postedDebitsMinor: posted[0],
  postedCreditsMinor: posted[1],
  pendingDebitsMinor: pending[0],
  pendingCreditsMinor: pending[1],
});
function account(flags: Partial<AccountFlags>, shardCount = 1): Account {
  const allFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false, ...flags };
  return createAccount({ code: 'c', name: 'n', currency: 'USD', type: 'asset', flags: allFlags, shardCount }, { id: 'acc_a', tenantId: 'ten_1', createdAtMs: 0 });
}
function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

describe('postingDelta and applyPosting', () => {
  it('moves posted, pending, posts (partly) and voids', () => {
    expect(postingDelta(debit, 'posted')).toEqual(balance([100n, 0n]));
    expect(postingDelta(credit, 'pending')).toEqual(balance([0n, 0n], [0n, 100n]));
    expect(postingDelta(debit, 'post_pending')).toEqual(balance([100n, 0n], [-100n, 0n]));
    expect(postingDelta(credit, 'post_pending', 30n)).toEqual(balance([0n, 30n], [0n, -100n]));
    expect(postingDelta(credit, 'void_pending')).toEqual(balance([0n, 0n], [0n, -100n]));
    const reserved = applyPosting(ZERO_BALANCE, debit, 'pending');
    expect(applyPosting(reserved, debit, 'post_pending', 40n)).toEqual(balance([40n, 0n]));
  });

  it('asserts programmer errors: releasing more than reserved, posted amounts out of range or on the wrong phase', () => {
    expect(() => applyPosting(ZERO_BALANCE, debit, 'void_pending')).toThrow(/assertion failed/);
    expect(() => postingDelta(debit, 'post_pending', 101n)).toThrow(/assertion failed/);
    expect(() => postingDelta(debit, 'posted', 5n)).toThrow(/assertion failed/);
  });

  it('refuses a balance beyond int64 as AMOUNT_OUT_OF_RANGE', () => {
    expect(reasonOf(() => applyDelta(balance([AMOUNT_MINOR_MAX, 0n]), postingDelta(debit, 'posted')))).toBe('AMOUNT_OUT_OF_RANGE');
  });
});

describe('checkLimits', () => {
  const debitLimited = account({ debitsMustNotExceedCredits: true });
  const creditLimited = account({ creditsMustNotExceedDebits: true });

  it('counts pending debits against posted credits (debitsMustNotExceedCredits)', () => {
    expect(reasonOf(() => checkLimits(debitLimited, balance([60n, 100n], [40n, 0n])))).toBeUndefined();
    expect(reasonOf(() => checkLimits(debitLimited, balance([60n, 100n], [41n, 0n])))).toBe('LIMIT_EXCEEDED');
    expect(reasonOf(() => checkLimits(debitLimited, balance([101n, 100n])))).toBe('LIMIT_EXCEEDED');
    // Pending credits are not yet credits.
    expect(reasonOf(() => checkLimits(debitLimited, balance([1n, 0n], [0n, 100n])))).toBe('LIMIT_EXCEEDED');
  });

  it('mirrors it for credits (creditsMustNotExceedDebits)', () => {
    expect(reasonOf(() => checkLimits(creditLimited, balance([100n, 60n], [0n, 40n])))).toBeUndefined();
    expect(reasonOf(() => checkLimits(creditLimited, balance([100n, 60n], [0n, 41n])))).toBe('LIMIT_EXCEEDED');
    expect(reasonOf(() => checkLimits(creditLimited, balance([0n, 1n], [100n, 0n])))).toBe('LIMIT_EXCEEDED');
  });

  it('says which limit and by how much', () => {
    try {
      checkLimits(debitLimited, balance([0n, 10n], [15n, 0n]));
      expect.unreachable();
    } catch (error) {
      expect((error as TallyError).metadata).toEqual({ accountId: 'acc_a', limit: 'debitsMustNotExceedCredits', currency: 'USD', excessMinor: '5' });
    }
  });

  it('ignores accounts without limits, and asserts that limited accounts are unsharded', () => {
    expect(reasonOf(() => checkLimits(account({}, 8), balance([1_000n, 0n], [1_000n, 0n])))).toBeUndefined();
    const forged: Account = { ...debitLimited, shardCount: 2 };
    expect(() => checkLimits(forged, ZERO_BALANCE)).toThrow(/assertion failed/);
  });

  it('is never broken by a resolution that follows a passing check (post or void only relax limits)', () => {
    const arb = fc.record({
      flags: fc.constantFrom({ debitsMustNotExceedCredits: true }, { creditsMustNotExceedDebits: true }),
      direction: fc.constantFrom('debit' as const, 'credit' as const),
      reserved: fc.bigInt({ min: 1n, max: 1_000n }),
      postedFraction: fc.bigInt({ min: 0n, max: 1_000n }),
      start: fc.tuple(fc.bigInt({ min: 0n, max: 5_000n }), fc.bigInt({ min: 0n, max: 5_000n })),
      void: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ flags, direction, reserved, postedFraction, start, void: isVoid }) => {
        const acc = account(flags);
        const posting: Posting = { accountId: 'acc_a', direction, amountMinor: reserved, currency: 'USD' };
        const before = applyPosting(balance(start), posting, 'pending');
        fc.pre(reasonOf(() => checkLimits(acc, before)) === undefined);
        const after = isVoid ? applyPosting(before, posting, 'void_pending') : applyPosting(before, posting, 'post_pending', (reserved * postedFraction) / 1_000n);
        expect(reasonOf(() => checkLimits(acc, after))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

describe('pickShard and sumShards', () => {
  it('is deterministic, in range, and 0 for one shard', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 1, max: 64 }), (accountId, entryId, shardCount) => {
        const shard = pickShard(accountId, entryId, shardCount);
        expect(shard).toBe(pickShard(accountId, entryId, shardCount));
        expect(shard >= 0 && shard < shardCount).toBe(true);
        expect(pickShard(accountId, entryId, 1)).toBe(0);
      }),
    );
  });

  it('spreads a hot account evenly over its shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[pickShard('acc_hot', `je_${i}`, 16)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    for (const count of counts) expect(count).toBeLessThan(1_150);
  });

  it('adds shards up to the unsharded balance, whatever the shard count', () => {
    const postingArb = fc.record({
      direction: fc.constantFrom('debit' as const, 'credit' as const),
      amountMinor: fc.bigInt({ min: 1n, max: 10n ** 12n }),
      phase: fc.constantFrom('posted' as const, 'pending' as const),
    });
    fc.assert(
      fc.property(fc.array(postingArb, { maxLength: 50 }), fc.integer({ min: 1, max: 64 }), (postings, shardCount) => {
        const shards = new Array<Balance>(shardCount).fill(ZERO_BALANCE);
        let flat = ZERO_BALANCE;
        postings.forEach((p, i) => {
          const posting: Posting = { accountId: 'acc_hot', direction: p.direction, amountMinor: p.amountMinor, currency: 'USD' };
          const shard = pickShard('acc_hot', `je_${i}`, shardCount);
          shards[shard] = applyPosting(shards[shard] ?? ZERO_BALANCE, posting, p.phase);
          flat = applyPosting(flat, posting, p.phase);
        });
        expect(sumShards(shards)).toEqual(flat);
      }),
      { numRuns: 100 },
    );
  });
});

describe('balanceChangesOf', () => {
  it('keys a resolution on the pending entry, so the release hits the reserving shard', () => {
    const changes = balanceChangesOf({
      kind: 'resolution',
      id: 'je_p.resolution',
      pendingEntryId: 'je_p',
      outcome: 'posted',
      createdAtMs: 1,
      postings: [{ accountId: 'acc_a', direction: 'debit', currency: 'USD', pendingAmountMinor: 10n, postedAmountMinor: 4n }],
    });
    expect(changes).toEqual([{ accountId: 'acc_a', shardKey: 'je_p', delta: balance([4n, 0n], [-10n, 0n]) }]);
  });
});
