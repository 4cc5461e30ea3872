/**
 * Property tests of the ledger's invariants on the real emulator, with operations run
 * concurrently: random sequences of entries (posted and pending), posts (full and partial) and
 * voids over a small chart of accounts, including a limited wallet and a sharded hot account.
 * After each run: debits equal credits per currency; every balance equals the replay of its
 * records; the limit was never exceeded; replaying every request changes nothing; the chain verifies.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayBalances } from '../functions/src/domain/ledger/index.js';
import type { ChainedRecord } from '../functions/src/domain/ledger/hash-chain.js';
import { recordFromDoc } from '../functions/src/adapters/firestore/ledger-store.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { Code, rpcErrorOf } from './support/connect-error.js';
import { AccountType, openAccount, transfer } from './support/ledger-helpers.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

type Op =
  | { kind: 'entry'; from: number; to: number; amount: number; pending: boolean }
  | { kind: 'post'; target: number; partial: boolean }
  | { kind: 'void'; target: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('entry' as const), from: fc.nat(4), to: fc.nat(4), amount: fc.integer({ min: 1, max: 400 }), pending: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('post' as const), target: fc.nat(30), partial: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('void' as const), target: fc.nat(30) }) },
);

async function runScenario(ops: Op[], batchSize: number): Promise<void> {
  const { tenantId, owner } = await stack.newTenant('Props');
  // 0: funding (asset), 1: wallet (limited: debits <= credits), 2: hot payable (8 shards), 3: fees, 4: cash.
  const accounts = [
    await openAccount(owner, { code: 'funding' }),
    await openAccount(owner, { code: 'wallet', type: AccountType.LIABILITY, debitsLimited: true }),
    await openAccount(owner, { code: 'payable', type: AccountType.LIABILITY, shardCount: 8 }),
    await openAccount(owner, { code: 'fees', type: AccountType.REVENUE }),
    await openAccount(owner, { code: 'cash' }),
  ];
  const requests: ReturnType<typeof transfer>[] = [];
  const pendingIds: string[] = [];
  const apply = async (client: TallyClient, op: Op): Promise<void> => {
    if (op.kind === 'entry') {
      if (op.from === op.to) return;
      const request = transfer(accounts[op.from]!, accounts[op.to]!, BigInt(op.amount), { pendingTimeoutMs: op.pending ? 600_000n : 0n });
      try {
        await client.ledger.createEntry(request);
        // Only accepted requests are replayed later: a refused one wrote nothing, so sending it
        // again is a new attempt that may rightly succeed once balances have moved.
        requests.push(request);
        if (op.pending) pendingIds.push(request.entryId);
      } catch (error) {
        // Only the wallet's limit may refuse a well-formed entry.
        expect(rpcErrorOf(error)).toMatchObject({ code: Code.FailedPrecondition, reason: 'LIMIT_EXCEEDED' });
      }
      return;
    }
    const entryId = pendingIds[op.target % Math.max(1, pendingIds.length)];
    if (!entryId) return;
    try {
      if (op.kind === 'post') {
        const entry = (await client.ledger.getEntry({ entryId })).entry!;
        const amount = op.partial ? (entry.postings[0]!.amountMinor + 1n) / 2n : entry.postings[0]!.amountMinor;
        await client.ledger.postPendingEntry({ entryId, amountsMinor: [amount, amount], idempotencyKey: randomUUID() });
      } else {
        await client.ledger.voidPendingEntry({ entryId, idempotencyKey: randomUUID() });
      }
    } catch (error) {
      // Racing resolutions: exactly one wins, the others see the state moved on.
      expect(rpcErrorOf(error)).toMatchObject({ code: Code.FailedPrecondition, reason: 'INVALID_STATE_TRANSITION' });
    }
  };
  for (let i = 0; i < ops.length; i += batchSize) {
    await Promise.all(ops.slice(i, i + batchSize).map((op) => apply(owner, op)));
  }

  const balances = await Promise.all(accounts.map(async (id) => (await owner.ledger.getBalance({ accountId: id })).balance!));
  // Debits equal credits (one currency here), posted and pending alike.
  const sum = (f: (b: (typeof balances)[number]) => bigint) => balances.reduce((acc, b) => acc + f(b), 0n);
  expect(sum((b) => b.postedDebitsMinor)).toBe(sum((b) => b.postedCreditsMinor));
  expect(sum((b) => b.pendingDebitsMinor)).toBe(sum((b) => b.pendingCreditsMinor));
  // The limit: posted + pending debits never exceed posted credits.
  const wallet = balances[1]!;
  expect(wallet.postedDebitsMinor + wallet.pendingDebitsMinor).toBeLessThanOrEqual(wallet.postedCreditsMinor);
  // Every balance equals the replay of the stored records.
  const snap = await stack.services.db.collection(`tenants/${tenantId}/journal`).get();
  const records: ChainedRecord[] = snap.docs.map((d) => recordFromDoc(d.data()));
  const replayed = replayBalances(records);
  accounts.forEach((id, i) => {
    const r = replayed.get(id);
    const b = balances[i]!;
    expect({ pd: b.postedDebitsMinor, pc: b.postedCreditsMinor, hd: b.pendingDebitsMinor, hc: b.pendingCreditsMinor })
      .toEqual({ pd: r?.postedDebitsMinor ?? 0n, pc: r?.postedCreditsMinor ?? 0n, hd: r?.pendingDebitsMinor ?? 0n, hc: r?.pendingCreditsMinor ?? 0n });
  });
  // Replaying every accepted request (concurrently) changes nothing and returns the stored entry.
  const before = snap.size;
  await Promise.all(requests.map(async (r) => expect((await owner.ledger.createEntry(r)).entry?.id).toBe(r.entryId)));
  const after = await Promise.all(accounts.map(async (id) => (await owner.ledger.getBalance({ accountId: id })).balance!));
  expect(after.map((b) => [b.postedDebitsMinor, b.postedCreditsMinor, b.pendingDebitsMinor, b.pendingCreditsMinor]))
    .toEqual(balances.map((b) => [b.postedDebitsMinor, b.postedCreditsMinor, b.pendingDebitsMinor, b.pendingCreditsMinor]));
  expect((await stack.services.db.collection(`tenants/${tenantId}/journal`).get()).size).toBe(before);
  // And the chain still verifies.
  const verified = await owner.ledger.verifyChain({});
  expect(verified, `${verified.failureReason} at ${verified.firstBadEntryId}`).toMatchObject({ ok: true });
}

describe('ledger invariants under concurrent random operations', () => {
  it('hold for random sequences', async () => {
    // Funding first so that the wallet has credit to spend; then the random operations.
    const funded = (ops: Op[]): Op[] => [{ kind: 'entry', from: 0, to: 1, amount: 1_000, pending: false }, ...ops];
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), async (ops, batchSize) => {
        await runScenario(funded(ops), batchSize);
      }),
      { numRuns: 6, endOnFailure: true },
    );
  }, 240_000);
});
