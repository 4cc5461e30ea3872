import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZERO_BALANCE } from './balance.js';
import type { EntryBody, ResolutionBody } from './journal-record.js';
import { replayBalances } from './replay.js';
import { advanceSnapshot, balanceAsOf, emptySnapshot, nextSnapshotEnd, type BalanceSnapshot } from './snapshot.js';

type Rec = EntryBody | ResolutionBody;
const accounts = ['acc_a', 'acc_b', 'acc_c'];

const opArb = fc.record({
  stepMs: fc.constantFrom(0, 0, 1, 7, 500, 40_000),
  kind: fc.constantFrom('posted', 'pending', 'resolve'),
  from: fc.nat({ max: 2 }),
  to: fc.nat({ max: 2 }),
  amountMinor: fc.bigInt({ min: 1n, max: 10_000n }),
  timeoutMs: fc.constantFrom(1, 1_000, 60_000),
  pick: fc.nat(),
  outcome: fc.constantFrom('posted', 'voided', 'expired'),
  percent: fc.integer({ min: 0, max: 100 }),
});

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

/** A journal in time order: entries, holds, and resolutions that respect the hold's timeout. */
function journalOf(ops: Op[]): Rec[] {
  const records: Rec[] = [];
  const open: EntryBody[] = [];
  let nowMs = 1_000;
  for (const [i, op] of ops.entries()) {
    nowMs += op.stepMs;
    if (op.kind === 'resolve') {
      if (open.length === 0) continue;
      const entry = open.splice(op.pick % open.length, 1)[0]!;
      const expiresAtMs = entry.pending!.expiresAtMs;
      // Post/void before the timeout; from the timeout on only the sweep's expiry.
      const outcome = nowMs >= expiresAtMs ? 'expired' : op.outcome === 'expired' ? 'voided' : op.outcome;
      records.push({
        kind: 'resolution', id: `${entry.id}.resolution`, pendingEntryId: entry.id, outcome: outcome as 'posted' | 'voided' | 'expired', createdAtMs: nowMs,
        postings: entry.postings.map((p) => ({
          accountId: p.accountId, direction: p.direction, currency: p.currency, pendingAmountMinor: p.amountMinor,
          postedAmountMinor: outcome === 'posted' ? (p.amountMinor * BigInt(op.percent)) / 100n : 0n,
        })),
      });
      continue;
    }
    const entry: EntryBody = {
      kind: 'entry', id: `je_${i}`, description: '', metadata: {}, reversesEntryId: null, createdAtMs: nowMs,
      postings: [
        { accountId: accounts[op.from]!, direction: 'debit', amountMinor: op.amountMinor, currency: 'USD' },
        { accountId: accounts[op.to]!, direction: 'credit', amountMinor: op.amountMinor, currency: 'USD' },
      ],
      pending: op.kind === 'pending' ? { timeoutMs: op.timeoutMs, expiresAtMs: nowMs + op.timeoutMs } : null,
    };
    records.push(entry);
    if (entry.pending) open.push(entry);
  }
  return records;
}

const touches = (r: Rec, accountId: string) => r.postings.some((p) => p.accountId === accountId);

/** Snapshots every `everyRecords` records, as maintenance takes them (settled: the whole journal). */
function snapshotsOf(records: readonly Rec[], accountId: string, everyRecords: number): BalanceSnapshot[] {
  const mine = records.filter((r) => touches(r, accountId));
  const out: BalanceSnapshot[] = [];
  let last = emptySnapshot(accountId);
  for (let i = 0; i < 1_000; i++) {
    const after = mine.filter((r) => r.createdAtMs > last.throughMs).slice(0, everyRecords + 1);
    const end = nextSnapshotEnd(after.map((r) => r.createdAtMs), last.throughMs, everyRecords);
    if (end === null) return out;
    const window = after.filter((r) => r.createdAtMs <= end.throughMs);
    expect(window).toHaveLength(end.recordCount);
    last = advanceSnapshot(last, window, end.throughMs);
    out.push(last);
  }
  throw new Error('snapshotsOf: no end');
}

describe('balance snapshots', () => {
  it('nearest snapshot + the records after it = the full replay, as of any time (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 6 }), fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (ops, everyRecords, picks) => {
        const records = journalOf(ops);
        const endMs = records.at(-1)?.createdAtMs ?? 1_000;
        for (const accountId of accounts) {
          const snapshots = snapshotsOf(records, accountId, everyRecords);
          for (const pick of picks) {
            const asOfMs = 900 + (pick % (endMs - 900 + 70_000));
            const base = snapshots.filter((s) => s.throughMs <= asOfMs).at(-1) ?? emptySnapshot(accountId);
            const after = records.filter((r) => touches(r, accountId) && r.createdAtMs > base.throughMs && r.createdAtMs <= asOfMs);
            const expected = replayBalances(records, { asOfMs }).get(accountId) ?? ZERO_BALANCE;
            expect(balanceAsOf(base, after, asOfMs)).toEqual(expected);
          }
          // The snapshot itself is the replay of its records: verifiable from the journal alone.
          for (const s of snapshots) {
            const through = records.filter((r) => touches(r, accountId) && r.createdAtMs <= s.throughMs);
            expect(s.recordCount).toBe(through.length);
            expect(advanceSnapshot(emptySnapshot(accountId), through, s.throughMs)).toEqual(s);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an open hold past its timeout counts as released as of then, and the later sweep record releases it once', () => {
    const hold: EntryBody = {
      kind: 'entry', id: 'je_h', description: '', metadata: {}, reversesEntryId: null, createdAtMs: 10,
      postings: [{ accountId: 'acc_a', direction: 'debit', amountMinor: 5n, currency: 'USD' }, { accountId: 'acc_b', direction: 'credit', amountMinor: 5n, currency: 'USD' }],
      pending: { timeoutMs: 100, expiresAtMs: 110 },
    };
    const expiry: ResolutionBody = {
      kind: 'resolution', id: 'je_h.resolution', pendingEntryId: 'je_h', outcome: 'expired', createdAtMs: 500,
      postings: [{ accountId: 'acc_a', direction: 'debit', currency: 'USD', pendingAmountMinor: 5n, postedAmountMinor: 0n }],
    };
    const early = advanceSnapshot(emptySnapshot('acc_a'), [hold], 100);
    expect(balanceAsOf(early, [], 109).pendingDebitsMinor).toBe(5n);
    const snap = advanceSnapshot(early, [], 200);
    expect(snap.openHolds.has('je_h')).toBe(true);
    expect(balanceAsOf(snap, [], 200).pendingDebitsMinor).toBe(0n);
    expect(balanceAsOf(snap, [expiry], 600)).toEqual(ZERO_BALANCE);
  });

  it('never splits one millisecond between two snapshots, and says when it cannot advance', () => {
    expect(nextSnapshotEnd([1, 2], -1, 3)).toBeNull();
    expect(nextSnapshotEnd([1, 2, 3], -1, 3)).toEqual({ throughMs: 3, recordCount: 3 });
    expect(nextSnapshotEnd([1, 2, 3, 3], -1, 3)).toEqual({ throughMs: 2, recordCount: 2 });
    expect(nextSnapshotEnd([5, 5, 5, 5], 4, 3)).toBeNull();
  });
});
