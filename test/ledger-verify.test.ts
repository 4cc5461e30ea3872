/**
 * Issue 12 item 2 (ADR 0026): VerifyChain verifies from a signed watermark in bounded chunks, and a
 * full verification from genesis runs as a resumable job. Against the Firestore emulator, through
 * the real API and the use case (with a store that counts the journal documents it reads).
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointTenant, verifyChainChunk, type LedgerDeps } from '../functions/src/app/ledger/ledger-use-cases.js';
import type { LedgerStore } from '../functions/src/ports/ledger-store.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

/** `count` entries between two accounts, 20 at a time; their ids in creation order. */
async function writeEntries(owner: TallyClient, a: string, b: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 20) {
    const batch = Array.from({ length: Math.min(20, count - start) }, (_, i) => transfer(a, b, BigInt(start + i + 1)));
    // CONTENTION (Aborted) says "retry with the same entry id": 20 writers on two accounts can get it
    // on a loaded machine, and a client retries, as the error contract says (bounded).
    await Promise.all(batch.map(async (e) => {
      for (let attempt = 1; ; attempt++) {
        try { return await owner.ledger.createEntry(e); } catch (error) {
          if (!(error instanceof ConnectError && error.code === Code.Aborted) || attempt >= 5) throw error;
        }
      }
    }));
    ids.push(...batch.map((e) => e.entryId));
  }
  return ids;
}

async function newLedger(entries: number) {
  const { tenantId, owner } = await stack.newTenant(`Verify ${randomUUID().slice(0, 6)}`);
  const a = await openAccount(owner);
  const b = await openAccount(owner);
  const ids = await writeEntries(owner, a, b, entries);
  return { tenantId, owner, a, b, ids };
}

/** The use case's deps with a store that counts the journal records it returns. */
function countingDeps(): { deps: LedgerDeps; recordsRead: () => number } {
  let read = 0;
  const base = stack.services.ledger;
  const store: LedgerStore = Object.create(base.store) as LedgerStore;
  store.readStripe = async (...args) => {
    const page = await base.store.readStripe(...args);
    read += page.length;
    return page;
  };
  return { deps: { ...base, store }, recordsRead: () => read };
}

/** Runs VerifyChain until complete (or a failure), at most `chunksMax` requests. */
async function verifyAll(owner: TallyClient, request: { full?: boolean; recordsMax?: number }, chunksMax = 100) {
  const responses = [];
  for (let i = 0; i < chunksMax; i++) {
    const res = await owner.ledger.verifyChain(request);
    responses.push(res);
    if (!res.ok || res.complete) return responses;
  }
  throw new Error(`not complete after ${chunksMax} chunks`);
}

const tamper = (tenantId: string, entryId: string) =>
  stack.services.db.doc(`tenants/${tenantId}/journal/${entryId}`).update({ description: 'edited behind the ledger' });

describe('incremental verification from a signed watermark', () => {
  it('answers in bounded chunks with progress, then reads only the records written after the watermark', { timeout: 60_000 }, async () => {
    const { tenantId, owner, a, b } = await newLedger(100);
    // The stack's own maintenance pass may have signed a checkpoint of this tenant already (it runs
    // on writes), so this one is the first or a later one: what matters is that one now exists.
    expect(await checkpointTenant(stack.services.ledger, tenantId)).toBeGreaterThanOrEqual(1);

    const chunks = await verifyAll(owner, { recordsMax: 30 });
    // 100 records + the checkpoint signature(s) (maintenance of other files may sign more) at most
    // 30 a request: at least 4 requests, each bounded and using its bound until the last, complete.
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    for (const res of chunks.slice(0, -1)) expect(res).toMatchObject({ ok: true, complete: false });
    for (const res of chunks.slice(0, -1)) expect(Number(res.entriesChecked + res.checkpointsVerified)).toBe(30);
    expect(Number(chunks.at(-1)!.entriesChecked + chunks.at(-1)!.checkpointsVerified)).toBeLessThanOrEqual(30);
    expect(chunks.at(-1)).toMatchObject({ ok: true, complete: true, entriesVerified: 100n, entriesTotal: 100n, watermarkRejected: false });
    expect(chunks.at(-1)!.checkpointSequence).toBeGreaterThanOrEqual(1n);
    let verifiedBefore = 0n;
    for (const res of chunks) {
      expect(res.entriesVerified).toBe(verifiedBefore + res.entriesChecked);
      verifiedBefore = res.entriesVerified;
    }

    // Nothing new: nothing read.
    const idle = countingDeps();
    expect(await verifyChainChunk(idle.deps, tenantId, { mode: 'incremental' })).toMatchObject({ ok: true, complete: true, entriesChecked: 0, entriesVerified: 100 });
    expect(idle.recordsRead()).toBe(0);

    // 30 more: exactly those 30 are read.
    await writeEntries(owner, a, b, 30);
    const after = countingDeps();
    expect(await verifyChainChunk(after.deps, tenantId, { mode: 'incremental' })).toMatchObject({ ok: true, complete: true, entriesChecked: 30, entriesVerified: 130, entriesTotal: 130 });
    expect(after.recordsRead()).toBe(30);
  });

  it('finds a record tampered after the watermark, names it, and does not advance the watermark', async () => {
    const { tenantId, owner, a, b } = await newLedger(20);
    expect((await verifyAll(owner, {})).at(-1)).toMatchObject({ ok: true, complete: true, entriesVerified: 20n });
    const later = await writeEntries(owner, a, b, 10);
    await tamper(tenantId, later[4]!);
    const broken = await owner.ledger.verifyChain({});
    expect(broken).toMatchObject({ ok: false, firstBadEntryId: later[4] });
    expect(broken.failureReason).toMatch(/^hash_mismatch/);
    // The watermark stayed at 20: asking again reports the same record.
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: false, firstBadEntryId: later[4] });
    expect((await stack.services.db.doc(`tenants/${tenantId}/chainVerifications/incremental`).get()).get('stripeHeads')
      .reduce((n: number, h: { entryCount: bigint }) => n + Number(h.entryCount), 0)).toBe(20);
  });

  it('does not re-read a record tampered before the watermark; the full verification finds it', async () => {
    const { tenantId, owner, ids } = await newLedger(40);
    await checkpointTenant(stack.services.ledger, tenantId);
    expect((await verifyAll(owner, {})).at(-1)).toMatchObject({ ok: true, complete: true, entriesVerified: 40n });
    await tamper(tenantId, ids[7]!);
    // Incremental checks only what came after the watermark (ADR 0026: that is its point).
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: true, entriesChecked: 0n });
    const full = await verifyAll(owner, { full: true, recordsMax: 15 });
    expect(full.at(-1)).toMatchObject({ ok: false, firstBadEntryId: ids[7] });
    expect(new Set(full.map((r) => r.jobId)).size).toBe(1);
    expect(full[0]!.jobId).toMatch(/^vjob_/);
  });

  it('ignores and reports a watermark not signed by the signer (written directly to the database)', async () => {
    const { tenantId, owner, a, b, ids } = await newLedger(30);
    expect((await verifyAll(owner, {})).at(-1)).toMatchObject({ ok: true, entriesVerified: 30n });
    await writeEntries(owner, a, b, 10);
    await tamper(tenantId, ids[3]!);
    // A database writer moves the watermark to the current heads to hide the edit, keeping the
    // old (valid, but for other content) signature.
    const ref = stack.services.db.doc(`tenants/${tenantId}/chainVerifications/incremental`);
    const heads = await stack.services.ledger.store.readStripeHeads(tenantId);
    await ref.update({ stripeHeads: heads.map((h) => ({ ...h })) });
    const res = await owner.ledger.verifyChain({});
    expect(res).toMatchObject({ ok: false, watermarkRejected: true, firstBadEntryId: ids[3] });

    // A watermark with no signature at all is ignored the same way.
    await ref.set({ tenantId, mode: 'incremental', stripeHeads: 'everything', keyId: 'k', signatureBase64: '' });
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: false, watermarkRejected: true, firstBadEntryId: ids[3] });
  });
});

describe('full verification job', () => {
  it('resumes an unfinished job where its last chunk stopped, then a finished job starts over', async () => {
    const { tenantId, owner } = await newLedger(90);
    const first = await owner.ledger.verifyChain({ full: true, recordsMax: 40 });
    expect(first).toMatchObject({ ok: true, complete: false, entriesTotal: 90n });
    // Checkpoints signed by other files' maintenance, if any, share the bound.
    expect(first.entriesChecked + first.checkpointsVerified).toBe(40n);
    expect(first.entriesVerified).toBe(first.entriesChecked);
    // "Interrupted" here; the next request resumes the same job where the first stopped.
    const counted = countingDeps();
    const second = await verifyChainChunk(counted.deps, tenantId, { mode: 'full', recordsMax: 1_000 });
    const rest = 90 - Number(first.entriesChecked);
    expect(second).toMatchObject({ ok: true, complete: true, jobId: first.jobId, entriesChecked: rest, entriesVerified: 90 });
    expect(counted.recordsRead()).toBe(rest);
    // Finished: the next full request is a new job from genesis.
    const again = await owner.ledger.verifyChain({ full: true });
    expect(again).toMatchObject({ ok: true, complete: true, entriesChecked: 90n });
    expect(again.jobId).not.toBe(first.jobId);
  });
});
