/**
 * `countFirestoreRpcs` counts billed documents, not RPCs, against the real Firestore emulator: the
 * figures `bench:payments` prices (ADR 0027) come from it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';

const db = createFirestore(`demo-docs-${randomUUID().slice(0, 8)}`);
afterAll(async () => { await db.terminate(); });

describe('documents counted at the client', () => {
  it('a batch get of 3 documents is 3 reads (one missing); a commit of 4 writes is 4 writes; a delete is counted apart', async () => {
    const col = db.collection(`docs-${randomUUID()}`);
    const written = await countFirestoreRpcs(async () => {
      const batch = db.batch();
      for (const id of ['a', 'b', 'c']) batch.set(col.doc(id), { v: 1 });
      batch.update(col.doc('a'), { v: 2 });
      batch.delete(col.doc('gone'));
      await batch.commit();
    }, db);
    expect(written.rpcs).toEqual({ commit: 1 });
    expect(written.written.map((name) => name.split('/').slice(-2).join('/'))).toEqual([`${col.id}/a`, `${col.id}/b`, `${col.id}/c`, `${col.id}/a`, `${col.id}/gone`]);
    expect(written.documents).toEqual({ reads: 0, writes: 4, deletes: 1, writesByCollection: { [col.id]: 5 } });
    const read = await countFirestoreRpcs(() => db.getAll(col.doc('a'), col.doc('b'), col.doc('missing')), db);
    expect(read.rpcs).toEqual({ batchGetDocuments: 1 });
    expect(read.documents).toEqual({ reads: 3, writes: 0, deletes: 0, writesByCollection: {} });
  });

  it('a query is a read per document returned and at least one; a count is one read per up to 1,000 entries', async () => {
    const col = db.collection(`docs-${randomUUID()}`);
    const batch = db.batch();
    for (const id of ['a', 'b', 'c']) batch.set(col.doc(id), { v: id === 'a' ? 1 : 2 });
    await batch.commit();
    const found = await countFirestoreRpcs(() => col.where('v', '==', 2).get(), db);
    expect(found.result.size).toBe(2);
    expect(found.documents.reads).toBe(2);
    const none = await countFirestoreRpcs(() => col.where('v', '==', 3).get(), db);
    expect(none.result.size).toBe(0);
    expect(none.documents.reads).toBe(1);
    const counted = await countFirestoreRpcs(() => col.count().get(), db);
    expect(counted.result.data().count).toBe(3n);
    expect(counted.documents.reads).toBe(1);
  });
});
