import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money/index.js';
import { type Account, type AccountFlags, createAccount } from './account.js';
import {
  type Balance, EMPTY_BALANCE_SHARD, SHARD_HOLDS_MAX, ZERO_BALANCE, applyDelta, applyPosting, applyShardChange, balanceChangesOf, balanceOfShards,
  checkLimits, pickShard, postingDelta, shardComponentMaxMinor, sumShards,
} from './balance.js';
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
    expect(changes).toEqual([{ accountId: 'acc_a', shardKey: 'je_p', delta: balance([4n, 0n], [-10n, 0n]), hold: { action: 'release' } }]);
  });
});

describe('applyShardChange: overflow is refused, not capped (issue 11 item 4)', () => {
  const posted = (accountId: string, amountMinor: bigint, direction: 'debit' | 'credit' = 'debit') =>
    ({ accountId, shardKey: 'je_x', delta: postingDelta({ accountId, direction, amountMinor, currency: 'USD' }, 'posted') });
  const safe = BigInt(Number.MAX_SAFE_INTEGER);

  it('refuses the entry that would take a balance past int64 with BALANCE_OVERFLOW (1,024 x 2^53-1 on one shard)', () => {
    let shard = EMPTY_BALANCE_SHARD;
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 1_100 && refused === undefined; i++) {
      try {
        shard = applyShardChange(shard, posted('acc_a', safe), 1);
        accepted++;
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(TallyError);
    expect((refused as TallyError).reason).toBe('BALANCE_OVERFLOW');
    expect(BigInt(accepted) * safe).toBeLessThan(AMOUNT_MINOR_MAX);
    expect(BigInt(accepted + 1) * safe).toBeGreaterThan(AMOUNT_MINOR_MAX - 1n);
    expect(shard.balance.postedDebitsMinor).toBe(BigInt(accepted) * safe);
  });

  it('gives each of n shards 1/n of the range, so the account sum always fits int64', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), (shardCount) => {
      const max = shardComponentMaxMinor(shardCount);
      expect(max * BigInt(shardCount)).toBeLessThanOrEqual(AMOUNT_MINOR_MAX);
      const full = { balance: balance([max, 0n]), holds: new Map() };
      expect(() => applyShardChange(full, posted('acc_a', 1n), shardCount)).toThrow(expect.objectContaining({ reason: 'BALANCE_OVERFLOW' }));
      // The other side and lowering changes are unaffected.
      expect(applyShardChange(full, posted('acc_a', 1n, 'credit'), shardCount).balance.postedCreditsMinor).toBe(1n);
    }));
  });

  it('refuses to report a balance beyond int64, or a shard clamped at the int64 maximum, instead of a capped number', () => {
    const half = { balance: balance([0n, AMOUNT_MINOR_MAX / 2n + 1n]), holds: new Map() };
    expect(() => balanceOfShards([half, half], 0, 'acc_a')).toThrow(expect.objectContaining({ reason: 'BALANCE_OVERFLOW' }));
    expect(() => balanceOfShards([{ balance: balance([AMOUNT_MINOR_MAX, 0n]), holds: new Map() }], 0)).toThrow(expect.objectContaining({ reason: 'BALANCE_OVERFLOW' }));
    expect(balanceOfShards([half], 0).postedCreditsMinor).toBe(AMOUNT_MINOR_MAX / 2n + 1n);
  });

  it('counts posted + pending of one side (a hold cannot push the side past int64)', () => {
    const nearlyFull = { balance: balance([AMOUNT_MINOR_MAX - 6n, 0n]), holds: new Map() };
    const hold = balanceChangesOf({
      kind: 'entry', id: 'je_h', createdAtMs: 0, description: '', metadata: {}, reversesEntryId: null,
      postings: [{ accountId: 'acc_a', direction: 'debit', amountMinor: 6n, currency: 'USD' }, { accountId: 'acc_b', direction: 'credit', amountMinor: 6n, currency: 'USD' }],
      pending: { timeoutMs: 1_000, expiresAtMs: 1_000 },
    })[0]!;
    expect(() => applyShardChange(nearlyFull, hold, 1)).toThrow(expect.objectContaining({ reason: 'BALANCE_OVERFLOW', metadata: expect.objectContaining({ field: 'debitsMinor' }) }));
  });
});

describe('holds expire at their timeout (issue 11 item 3)', () => {
  const entry = (id: string, amountMinor: bigint, expiresAtMs: number) => ({
    kind: 'entry' as const, id, createdAtMs: 0, description: '', metadata: {}, reversesEntryId: null,
    postings: [{ accountId: 'acc_a', direction: 'debit' as const, amountMinor, currency: 'USD' }, { accountId: 'acc_b', direction: 'credit' as const, amountMinor, currency: 'USD' }],
    pending: { timeoutMs: expiresAtMs, expiresAtMs },
  });

  it('keeps each hold on the shard and releases it from expiresAtMs on, before any sweep', () => {
    let shard = EMPTY_BALANCE_SHARD;
    shard = applyShardChange(shard, balanceChangesOf(entry('je_1', 30n, 1_000))[0]!, 1);
    shard = applyShardChange(shard, balanceChangesOf(entry('je_2', 7n, 5_000))[0]!, 1);
    expect([...shard.holds.keys()]).toEqual(['je_1', 'je_2']);
    expect(balanceOfShards([shard], 999).pendingDebitsMinor).toBe(37n);
    expect(balanceOfShards([shard], 1_000).pendingDebitsMinor).toBe(7n);
    expect(balanceOfShards([shard], 5_000).pendingDebitsMinor).toBe(0n);
  });

  it('the sweep\'s expiry removes the hold with its amount: the balance as of then does not change', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 1000n }), fc.integer({ min: 1, max: 100 })), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 120 }), (holds, nowMs) => {
      let shard = EMPTY_BALANCE_SHARD;
      holds.forEach(([amount, expiresAtMs], i) => { shard = applyShardChange(shard, balanceChangesOf(entry(`je_${i}`, amount, expiresAtMs))[0]!, 1); });
      const before = balanceOfShards([shard], nowMs);
      holds.forEach(([amount, expiresAtMs], i) => {
        if (expiresAtMs > nowMs) return;
        const expiry = balanceChangesOf({
          kind: 'resolution', id: `je_${i}.resolution`, pendingEntryId: `je_${i}`, outcome: 'expired', createdAtMs: nowMs,
          postings: [{ accountId: 'acc_a', direction: 'debit', currency: 'USD', pendingAmountMinor: amount, postedAmountMinor: 0n }],
        })[0]!;
        shard = applyShardChange(shard, expiry, 1);
      });
      expect(balanceOfShards([shard], nowMs)).toEqual(before);
      expect(shard.holds.size).toBe(holds.filter(([, e]) => e > nowMs).length);
    }));
  });

  it('refuses a hold beyond SHARD_HOLDS_MAX on one shard with LIMIT_EXCEEDED', () => {
    const holds = new Map(Array.from({ length: SHARD_HOLDS_MAX }, (_, i) => [`je_${i}`, { entryId: `je_${i}`, expiresAtMs: 1, pendingDebitsMinor: 1n, pendingCreditsMinor: 0n }]));
    const full = { balance: balance([0n, 0n], [BigInt(SHARD_HOLDS_MAX), 0n]), holds };
    expect(() => applyShardChange(full, balanceChangesOf(entry('je_new', 1n, 10))[0]!, 1)).toThrow(expect.objectContaining({ reason: 'LIMIT_EXCEEDED', metadata: expect.objectContaining({ limit: 'holdsPerShardMax' }) }));
  });
});
