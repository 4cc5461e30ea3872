/** Billed document reads counted at the client, for tests and benches. */
import { DocumentReference, Query, type Firestore } from '@google-cloud/firestore';

/**
 * Documents read while `work` runs, as billed: one per
 * document a query returns (one for an empty result), one per get, one per 1,000 index entries an
 * aggregation counts.
 */
export async function countDocumentReads<T>(db: Firestore, work: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const queryGet = Query.prototype.get;
  const docGet = DocumentReference.prototype.get;
  // The aggregation class is not exported: its prototype from an instance.
  const aggregate = Object.getPrototypeOf(db.collection('x').count()) as { get: (this: unknown) => Promise<{ data(): { count: unknown } }> };
  const aggregateGet = aggregate.get;
  let reads = 0;
  aggregate.get = async function (this: unknown) {
    const snap = await aggregateGet.call(this);
    reads += Math.max(1, Math.ceil(Number(snap.data().count) / 1_000));
    return snap;
  };
  Query.prototype.get = async function (this: Query) {
    const snap = await queryGet.call(this);
    reads += Math.max(1, snap.size);
    return snap;
  } as typeof queryGet;
  DocumentReference.prototype.get = async function (this: DocumentReference) {
    const snap = await docGet.call(this);
    reads += 1;
    return snap;
  } as typeof docGet;
  try {
    return { result: await work(), reads };
  } finally {
    Query.prototype.get = queryGet;
    DocumentReference.prototype.get = docGet;
    aggregate.get = aggregateGet;
  }
}
