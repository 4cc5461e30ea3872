/**
 * Counts the Firestore client's RPCs by method (batchGetDocuments, commit, ...) while `work` runs,
 * by wrapping the client's two internal request entry points (`request`, `requestStream`). A
 * diagnostic for tests and benches: `client` limits the count to one Firestore instance.
 */
import { Firestore } from '@google-cloud/firestore';

export async function countFirestoreRpcs<T>(work: () => Promise<T>, client?: Firestore): Promise<{
  result: T; rpcs: Record<string, number>;
  /** The same RPCs split by whether they belong to a transaction (`commit in a transaction`, `batchGetDocuments outside`, ...). */
  byTransaction: Record<string, number>;
}> {
  const proto = Firestore.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = { request: proto.request, requestStream: proto.requestStream };
  const rpcs: Record<string, number> = {};
  const byTransaction: Record<string, number> = {};
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
      }
      return original.call(this, method, ...rest);
    };
  }
  try {
    return { result: await work(), rpcs, byTransaction };
  } finally {
    Object.assign(proto, originals);
  }
}
