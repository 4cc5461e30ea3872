/**
 * The batched transaction reader against the real Firestore emulator: reads issued together leave
 * as one BatchGetDocuments, duplicates share a snapshot, a document read again is not fetched
 * again, new reads issued later form a new batch, a failing batch fails every read in it, and a
 * rerun of the transaction reads afresh.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { readerOf } from '../functions/src/adapters/firestore/tx-reader.js';
import { runTransactionWithRetry } from '../functions/src/adapters/firestore/run-transaction.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';

const db = createFirestore(`demo-txreader-${randomUUID().slice(0, 8)}`);
afterAll(async () => { await db.terminate(); });

describe('batched reads in a transaction', () => {
  it('reads issued together leave as one batch; a duplicate shares its snapshot; a later read of the same document is not fetched again, of another one is a new batch', async () => {
    const col = db.collection(`reader-${randomUUID()}`);
    await col.doc('a').set({ v: 1 });
    await col.doc('b').set({ v: 2 });
    // What the transaction saw is asserted after it: an assertion inside would only reject it.
    const identities: { readerAgain: boolean; readKept: boolean }[] = [];
    const { result, rpcs } = await countFirestoreRpcs(() => db.runTransaction(async (tx) => {
      const reader = readerOf(tx);
      const together = await Promise.all([reader.get(col.doc('a')), reader.get(col.doc('b')), reader.get(col.doc('missing')), reader.get(col.doc('a'))]);
      const again = reader.get(col.doc('b'));
      identities.push({ readerAgain: readerOf(tx) === reader, readKept: again === reader.get(col.doc('b')) });
      const later = await Promise.all([again, reader.get(col.doc('d'))]);
      // The client runs with useBigInt: integers come back as bigint.
      tx.set(col.doc('c'), { v: together.reduce((sum, s) => sum + ((s.get('v') as bigint | undefined) ?? 0n), 0n) });
      return { values: together.map((s) => (s.exists ? s.get('v') as bigint : null)), later: later.map((s) => (s.exists ? s.get('v') as bigint : null)) };
    }), db);
    expect(result).toEqual({ values: [1n, 2n, null, 1n], later: [2n, null] });
    // One attempt; one reader per transaction; a read is kept for the transaction.
    expect(identities).toEqual([{ readerAgain: true, readKept: true }]);
    expect(rpcs.batchGetDocuments).toBe(2); // the four together, then only the new one
    expect((await col.doc('c').get()).get('v')).toBe(4n);
  });

  it('a batch that fails fails every read in it, and the transaction', async () => {
    const col = db.collection(`reader-${randomUUID()}`);
    // Ids of the form __.*__ are reserved: Firestore (and its emulator) refuses the whole batch read.
    // (An over-long id, used here before, is accepted by the emulator: the batch never failed.)
    const bad = col.doc('__reserved__');
    // Assertions stay outside the transaction's function: one failing in there would only reject
    // the transaction, which this test expects to reject anyway.
    let settled: PromiseSettledResult<unknown>[] = [];
    const attempt = db.runTransaction(async (tx) => {
      const reader = readerOf(tx);
      settled = await Promise.allSettled([reader.get(col.doc('a')), reader.get(bad)]);
      const firstRejection = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (firstRejection) throw firstRejection.reason;
      return 'both reads succeeded';
    }, { maxAttempts: 1 });
    // The batch's own error (INVALID_ARGUMENT naming the reserved id), not any other failure.
    const invalidArgument = { code: 3, message: expect.stringContaining('"__reserved__" is invalid because it is reserved') as unknown };
    await expect(attempt).rejects.toMatchObject(invalidArgument);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(settled.map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.objectContaining(invalidArgument), expect.objectContaining(invalidArgument)]);
  });
});

describe('transaction reruns', () => {
  it('a rerun of the transaction (same Transaction object) gets a fresh reader: it never sees the snapshots of the attempt that lost', async () => {
    const doc = db.collection(`reader-${randomUUID()}`).doc('a');
    await doc.set({ v: 1 });
    const seen: { tx: unknown; reader: unknown; v: unknown }[] = [];
    const result = await runTransactionWithRetry(db, async (tx) => {
      const reader = readerOf(tx);
      seen.push({ tx, reader, v: (await reader.get(doc)).get('v') });
      // Contention (ABORTED) on the first attempt: the client reruns this function.
      if (seen.length === 1) throw Object.assign(new Error('injected contention'), { code: 10 });
      return 'done';
    }, 'busy');
    expect(result).toBe('done');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.tx).toBe(seen[0]!.tx); // why the reader must be reset per attempt
    expect(seen[1]!.reader).not.toBe(seen[0]!.reader);
  });
});
