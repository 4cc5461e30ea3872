/**
 * The batched transaction reader against the real Firestore emulator: reads issued together leave
 * as one BatchGetDocuments, duplicates share a snapshot, reads issued later form a new batch, and
 * a failing batch fails every read in it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { readerOf } from '../functions/src/adapters/firestore/tx-reader.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';

const db = createFirestore(`demo-txreader-${randomUUID().slice(0, 8)}`);
afterAll(async () => { await db.terminate(); });

describe('batched reads in a transaction', () => {
  it('reads issued together leave as one batch; a duplicate shares its snapshot; a later read is a new batch', async () => {
    const col = db.collection(`reader-${randomUUID()}`);
    await col.doc('a').set({ v: 1 });
    await col.doc('b').set({ v: 2 });
    const { result, rpcs } = await countFirestoreRpcs(() => db.runTransaction(async (tx) => {
      const reader = readerOf(tx);
      expect(readerOf(tx)).toBe(reader); // one reader per transaction
      const together = await Promise.all([reader.get(col.doc('a')), reader.get(col.doc('b')), reader.get(col.doc('missing')), reader.get(col.doc('a'))]);
      const later = await reader.get(col.doc('b'));
      // The client runs with useBigInt: integers come back as bigint.
      tx.set(col.doc('c'), { v: together.reduce((sum, s) => sum + ((s.get('v') as bigint | undefined) ?? 0n), 0n) });
      return { values: together.map((s) => (s.exists ? s.get('v') as bigint : null)), later: later.get('v') as bigint };
    }), db);
    expect(result).toEqual({ values: [1n, 2n, null, 1n], later: 2n });
    expect(rpcs.batchGetDocuments).toBe(2); // the four together, then the later one
    expect((await col.doc('c').get()).get('v')).toBe(4n);
  });

  it('a batch that fails fails every read in it, and the transaction', async () => {
    const col = db.collection(`reader-${randomUUID()}`);
    const bad = db.doc(`${col.path}/x/${'y'.repeat(2_000)}/z`); // an id over Firestore's length limit
    const attempt = db.runTransaction(async (tx) => {
      const reader = readerOf(tx);
      const results = await Promise.allSettled([reader.get(col.doc('a')), reader.get(bad)]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      throw (results[0] as PromiseRejectedResult).reason;
    }, { maxAttempts: 1 });
    await expect(attempt).rejects.toBeDefined();
  });
});
