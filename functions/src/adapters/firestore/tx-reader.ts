/**
 * Batched reads inside one Firestore transaction. Reads a use case issues together (e.g. with
 * `Promise.all`) leave as one `getAll` instead of one RPC each: every `get` made before the
 * current microtask queue drains joins the same batch. Each transaction has one reader, shared by
 * every store view of it (ledger, payments, idempotency), so their reads batch together too.
 */
import type { DocumentReference, DocumentSnapshot, Transaction } from '@google-cloud/firestore';

/** Firestore's cap on documents per batch read is far above this; it bounds one batch. */
const batchDocumentsMax = 100;

export interface TxReader {
  get(ref: DocumentReference): Promise<DocumentSnapshot>;
}

interface Waiting {
  ref: DocumentReference;
  resolve: (snap: DocumentSnapshot) => void;
  reject: (error: unknown) => void;
}

const readers = new WeakMap<Transaction, TxReader>();

/**
 * The reader of `tx`'s current attempt (created on first use). The client reruns a transaction
 * with the same `Transaction` object, so every attempt must begin with `beginAttempt` (as
 * `runTransactionWithRetry` does): a rerun must read afresh, never the snapshots of the attempt
 * that lost.
 */
export function readerOf(tx: Transaction): TxReader {
  let reader = readers.get(tx);
  if (!reader) {
    reader = createTxReader(tx);
    readers.set(tx, reader);
  }
  return reader;
}

/** Forgets what earlier attempts of `tx` read: call it first in every attempt. */
export function beginAttempt(tx: Transaction): void {
  readers.delete(tx);
}

function createTxReader(tx: Transaction): TxReader {
  const waiting: Waiting[] = [];
  // Each document is read once per transaction: its reads all come before its writes, so a second
  // read could only return the same snapshot. This also lets a caller read early (prefetch) what
  // a later step reads, in the same round trip as its own reads.
  const read = new Map<string, Promise<DocumentSnapshot>>();
  const flush = async (): Promise<void> => {
    const batch = waiting.splice(0, batchDocumentsMax);
    if (waiting.length > 0) queueMicrotask(() => void flush());
    // One read per distinct document; callers asking for the same one share its snapshot.
    const paths = [...new Set(batch.map((w) => w.ref.path))];
    try {
      const snaps = await tx.getAll(...paths.map((p) => batch.find((w) => w.ref.path === p)!.ref));
      const byPath = new Map(snaps.map((s) => [s.ref.path, s]));
      for (const w of batch) w.resolve(byPath.get(w.ref.path)!);
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  };
  return {
    get(ref) {
      const known = read.get(ref.path);
      if (known) return known;
      const snapshot = new Promise<DocumentSnapshot>((resolve, reject) => {
        if (waiting.length === 0) queueMicrotask(() => void flush());
        waiting.push({ ref, resolve, reject });
      });
      read.set(ref.path, snapshot);
      return snapshot;
    },
  };
}
