import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { type Balance, ZERO_BALANCE, addBalances } from './balance.js';
import type { Posting } from './entry.js';
import { createEntryRecord } from './journal-record.js';
import { type PendingEntry, createPendingEntry, expirePending, isExpired, postPending, stateAt, voidPending } from './two-phase.js';

const t0 = 1_700_000_000_000;
const timeoutMs = 60_000;
const postings: Posting[] = [
  { accountId: 'acc_customer', direction: 'debit', amountMinor: 1_000n, currency: 'USD' },
  { accountId: 'acc_merchant', direction: 'credit', amountMinor: 970n, currency: 'USD' },
  { accountId: 'acc_fees', direction: 'credit', amountMinor: 30n, currency: 'USD' },
];
const context = { tenantId: 'ten_1', traceId: 't', spanId: 's' };
const entry = { id: 'je_hold', postings, description: '', metadata: {}, reversesEntryId: null, pending: { timeoutMs } };
const pending: PendingEntry = createPendingEntry(createEntryRecord(entry, t0, context));

function errorOf(fn: () => unknown): TallyError | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    return error;
  }
  return undefined;
}
function deltaOf(changes: readonly { accountId: string; delta: Balance }[], accountId: string): Balance {
  return changes.filter((c) => c.accountId === accountId).reduce((sum, c) => addBalances(sum, c.delta), ZERO_BALANCE);
}

describe('pending entries', () => {
  it('start pending, expiring after their timeout', () => {
    expect(pending).toMatchObject({ id: 'je_hold', state: 'pending', createdAtMs: t0, expiresAtMs: t0 + timeoutMs, resolvedAtMs: null });
    expect(isExpired(pending, t0 + timeoutMs - 1)).toBe(false);
    expect(isExpired(pending, t0 + timeoutMs)).toBe(true);
  });

  it('post in full: release the reservation, post everything', () => {
    const t = postPending(pending, undefined, t0 + 10);
    expect(t.pending).toMatchObject({ state: 'posted', resolvedAtMs: t0 + 10, postedAmountsMinor: [1_000n, 970n, 30n] });
    expect(t.resolution).toMatchObject({ kind: 'resolution', id: 'je_hold.resolution', pendingEntryId: 'je_hold', outcome: 'posted', createdAtMs: t0 + 10 });
    expect(deltaOf(t.changes, 'acc_customer')).toEqual({ postedDebitsMinor: 1_000n, postedCreditsMinor: 0n, pendingDebitsMinor: -1_000n, pendingCreditsMinor: 0n });
    expect(t.changes.every((c) => c.shardKey === 'je_hold')).toBe(true);
  });

  it('post in part: post the given amounts, release the rest', () => {
    const t = postPending(pending, [600n, 600n, 0n], t0 + 10);
    expect(deltaOf(t.changes, 'acc_merchant')).toEqual({ postedDebitsMinor: 0n, postedCreditsMinor: 600n, pendingDebitsMinor: 0n, pendingCreditsMinor: -970n });
    expect(deltaOf(t.changes, 'acc_fees')).toEqual({ postedDebitsMinor: 0n, postedCreditsMinor: 0n, pendingDebitsMinor: 0n, pendingCreditsMinor: -30n });
  });

  it.each<[string, bigint[], string, string]>([
    ['more than pending', [1_001n, 971n, 30n], 'AMOUNT_OUT_OF_RANGE', 'amounts_minor[0]'],
    ['a negative amount', [10n, 20n, -10n], 'AMOUNT_OUT_OF_RANGE', 'amounts_minor[2]'],
    ['nothing at all', [0n, 0n, 0n], 'AMOUNT_OUT_OF_RANGE', 'amounts_minor'],
    ['unbalanced amounts', [500n, 400n, 0n], 'ENTRY_UNBALANCED', 'amounts_minor'],
    ['the wrong number of amounts', [500n, 500n], 'FIELD_INVALID', 'amounts_minor'],
  ])('refuse a partial post of %s', (_name, amounts, reason, field) => {
    const error = errorOf(() => postPending(pending, amounts, t0 + 10));
    expect([error?.reason, error?.metadata.field]).toEqual([reason, field]);
  });

  it('void: release everything, post nothing', () => {
    const t = voidPending(pending, t0 + 10);
    expect(t.pending).toMatchObject({ state: 'voided', postedAmountsMinor: [0n, 0n, 0n] });
    expect(deltaOf(t.changes, 'acc_customer')).toEqual({ ...ZERO_BALANCE, pendingDebitsMinor: -1_000n });
  });

  it('expire: only once timed out, releasing everything', () => {
    expect(errorOf(() => expirePending(pending, t0 + timeoutMs - 1))?.metadata.state).toBe('pending');
    const t = expirePending(pending, t0 + timeoutMs);
    expect(t.pending.state).toBe('expired');
    expect(t.resolution.outcome).toBe('expired');
    expect(deltaOf(t.changes, 'acc_merchant')).toEqual({ ...ZERO_BALANCE, pendingCreditsMinor: -970n });
    expect(isExpired(t.pending, t0)).toBe(true);
  });

  it('refuse every other transition with INVALID_STATE_TRANSITION naming the state', () => {
    const posted = postPending(pending, undefined, t0 + 1).pending;
    const voided = voidPending(pending, t0 + 1).pending;
    const expired = expirePending(pending, t0 + timeoutMs).pending;
    const cases: [() => unknown, string][] = [
      [() => postPending(posted, undefined, t0 + 2), 'posted'],
      [() => voidPending(posted, t0 + 2), 'posted'],
      [() => expirePending(posted, t0 + timeoutMs), 'posted'],
      [() => postPending(voided, undefined, t0 + 2), 'voided'],
      [() => voidPending(voided, t0 + 2), 'voided'],
      [() => postPending(expired, undefined, t0 + 2), 'expired'],
      [() => voidPending(expired, t0 + 2), 'expired'],
      [() => expirePending(expired, t0 + timeoutMs), 'expired'],
      // Timed out but not yet swept: no longer postable or voidable.
      [() => postPending(pending, undefined, t0 + timeoutMs), 'expired'],
      [() => voidPending(pending, t0 + timeoutMs), 'expired'],
    ];
    for (const [transition, state] of cases) {
      const error = errorOf(transition);
      expect([error?.reason, error?.metadata.state]).toEqual(['INVALID_STATE_TRANSITION', state]);
    }
  });

  it('always release exactly the reservation and post a balanced amount', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1_000n }), fc.constantFrom('post', 'void', 'expire'), (postedDebitMinor, action) => {
        const fees = postedDebitMinor < 30n ? postedDebitMinor : 30n;
        const amounts = [postedDebitMinor, postedDebitMinor - fees, fees];
        fc.pre(action !== 'post' || postedDebitMinor > 0n);
        const t =
          action === 'post' ? postPending(pending, amounts, t0 + 1) : action === 'void' ? voidPending(pending, t0 + 1) : expirePending(pending, t0 + timeoutMs);
        const total = t.changes.reduce((sum, c) => addBalances(sum, c.delta), ZERO_BALANCE);
        expect(total.pendingDebitsMinor).toBe(-1_000n);
        expect(total.pendingCreditsMinor).toBe(-1_000n);
        expect(total.postedDebitsMinor).toBe(total.postedCreditsMinor);
        expect(total.postedDebitsMinor).toBe(action === 'post' ? postedDebitMinor : 0n);
      }),
    );
  });
});

describe('stateAt (issue 11 item 3)', () => {
  it('is expired from the timeout on, before the sweep writes it; a resolved entry keeps its state', () => {
    expect(stateAt(pending, pending.expiresAtMs - 1)).toBe('pending');
    expect(stateAt(pending, pending.expiresAtMs)).toBe('expired');
    expect(stateAt(voidPending(pending, t0 + 1).pending, pending.expiresAtMs + 1)).toBe('voided');
  });
});
