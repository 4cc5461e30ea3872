/**
 * Counts the Firestore client's RPCs by method (batchGetDocuments, commit, ...) while `work` runs,
 * by wrapping the client's two internal request entry points (`request`, `requestStream`). A
 * diagnostic for tests and benches: `client` limits the count to one Firestore instance.
 *
 * `documents` is what Firestore bills, counted at the client from the RPCs and their responses:
 * a read per document a batchGetDocuments asks for (found or not), per document a query returns
 * (at least one per query), and per up to 1,000 entries an aggregation counts (at least one; the
 * index entries it scans are estimated by the count it answers); a write per write in a commit or
 * batchWrite, except deletes, counted apart. Retried or aborted RPCs count each time they are sent
 * (an overestimate when the server refused before reading).
 */
import { Firestore } from '@google-cloud/firestore';

export async function countFirestoreRpcs<T>(work: () => Promise<T>, client?: Firestore): Promise<{
  result: T; rpcs: Record<string, number>;
  /** The same RPCs split by whether they belong to a transaction (`commit in a transaction`, `batchGetDocuments outside`, ...). */
  byTransaction: Record<string, number>;
  documents: DocumentCounts;
  /** The full names of the documents written or deleted, in commit order. */
  written: string[];
}> {
  const proto = Firestore.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = { request: proto.request, requestStream: proto.requestStream };
  const rpcs: Record<string, number> = {};
  const byTransaction: Record<string, number> = {};
  const documents: DocumentCounts = { reads: 0, writes: 0, deletes: 0, writesByCollection: {} };
  const written: string[] = [];
  for (const name of ['request', 'requestStream'] as const) {
    const original = originals[name];
    if (typeof original !== 'function') throw new Error(`Firestore.prototype.${name} is gone: update countFirestoreRpcs`);
    proto[name] = function (this: unknown, method: unknown, ...rest: unknown[]) {
      if (client === undefined || this === client) {
        rpcs[String(method)] = (rpcs[String(method)] ?? 0) + 1;
        // request(method, request, ...) and requestStream(method, bidirectional, request, ...).
        const request = rest.find((a) => typeof a === 'object' && a !== null) as { transaction?: unknown; newTransaction?: unknown } | undefined;
        const label = `${String(method)} ${request?.transaction || request?.newTransaction ? 'in a transaction' : 'outside'}`;
        byTransaction[label] = (byTransaction[label] ?? 0) + 1;
        countRequestDocuments(String(method), request, documents, written);
        const response = original.call(this, method, ...rest);
        if (name === 'requestStream') return (response as Promise<NodeJS.ReadableStream>).then((stream) => countStreamDocuments(String(method), stream, documents));
        return response;
      }
      return original.call(this, method, ...rest);
    };
  }
  try {
    return { result: await work(), rpcs, byTransaction, documents, written };
  } finally {
    Object.assign(proto, originals);
  }
}

/** Billed document operations (see `countFirestoreRpcs`). */
export interface DocumentCounts {
  reads: number; writes: number; deletes: number;
  /** Writes and deletes by the collection id of the document written (`payments`, `outbox`, ...): which writes a change costs. */
  writesByCollection: Record<string, number>;
}

/** Entries an aggregation query is billed one read for, per started block. */
const aggregationEntriesPerRead = 1_000;

function countRequestDocuments(method: string, request: unknown, documents: DocumentCounts, written: string[]): void {
  const r = request as { documents?: unknown[]; writes?: { delete?: string; update?: { name?: string }; transform?: { document?: string } }[] } | undefined;
  if (method === 'batchGetDocuments') documents.reads += r?.documents?.length ?? 0;
  if (method === 'commit' || method === 'batchWrite') {
    for (const write of r?.writes ?? []) {
      if (write.delete) documents.deletes++;
      else documents.writes++;
      // .../documents/{collection}/{id}/{collection}/{id}: the collection id is the last but one segment.
      const name = write.delete ?? write.update?.name ?? write.transform?.document ?? '';
      written.push(name);
      const collection = name.split('/').at(-2) ?? '?';
      documents.writesByCollection[collection] = (documents.writesByCollection[collection] ?? 0) + 1;
    }
  }
}

/**
 * Counts the documents a query stream hands to its consumer, by watching the stream's 'data' events
 * (a listener would switch the paused stream to flowing before the consumer attaches).
 */
function countStreamDocuments(method: string, stream: NodeJS.ReadableStream, documents: DocumentCounts): NodeJS.ReadableStream {
  if (method !== 'runQuery' && method !== 'runAggregationQuery') return stream;
  let returned = 0;
  let billed = false;
  const emit = stream.emit.bind(stream);
  stream.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'data') {
      const chunk = args[0] as { document?: unknown; result?: { aggregateFields?: Record<string, { integerValue?: string | number }> } } | undefined;
      if (method === 'runQuery' && chunk?.document) returned++;
      if (method === 'runAggregationQuery' && chunk?.result?.aggregateFields) {
        const counted = Math.max(0, ...Object.values(chunk.result.aggregateFields).map((v) => Number(v.integerValue ?? 0)));
        returned += Math.ceil(counted / aggregationEntriesPerRead);
      }
    }
    if ((event === 'end' || event === 'close') && !billed) {
      billed = true;
      // A query is billed at least one read, even when it returns nothing.
      documents.reads += Math.max(1, returned);
    }
    return emit(event, ...args);
  }) as typeof stream.emit;
  return stream;
}
