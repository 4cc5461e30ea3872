import { randomUUID, createHash } from 'node:crypto';
import { Timestamp, type DocumentData, type DocumentReference, type Firestore, type Precondition, type Transaction, type WriteBatch } from '@google-cloud/firestore';
import type { IdempotencyRef, IdempotencyStore, IdempotencyTx, Reservation, ReserveInput, StoredIdempotency } from '../../ports/idempotency-store.js';
import { decideReservation } from '../../platform/idempotency/idempotency.js';
import { isAlreadyExists } from './run-transaction.js';
import { readerOf } from './tx-reader.js';

/** gRPC codes the single-write fast paths fall back on. */
const failedPrecondition = 9;
const notFound = 5;
const codeOf = (error: unknown) => (error as { code?: number }).code;

/**
 * Idempotency records at `tenants/{scope}/idempotency/{sha256(method, key)}` (platform calls use
 * `platform/_platform/idempotency`). `expireAt` is the TTL field declared in firestore.indexes.json.
 *
 * Fast paths (ADR 0011): a new key is reserved by one `create` (fails if the document exists), and
 * the holder completes or releases it by one write preconditioned on the update time its `create`
 * returned; any other state (an existing key, a lease taken over) goes through a transaction. The
 * lease token carries that update time (`uuid@seconds.nanos`), so the store stays stateless.
 */
function recordRef(db: Firestore, scope: string, method: string, key: string): DocumentReference {
  const id = createHash('sha256').update(`${method}\n${key}`).digest('hex');
  const parent = scope === '_platform' ? db.collection('platform').doc('_platform') : db.collection('tenants').doc(scope);
  return parent.collection('idempotency').doc(id);
}

function storedOf(data: DocumentData | undefined): StoredIdempotency | undefined {
  if (!data) return undefined;
  return {
    requestHash: data.requestHash as string,
    state: data.state as StoredIdempotency['state'],
    leaseToken: (data.leaseToken as string | undefined) ?? '',
    leaseUntilMs: (data.leaseUntil as Timestamp).toMillis(),
    response: data.response ? new Uint8Array(data.response as Buffer) : null,
    error: (data.error as StoredIdempotency['error'] | undefined) ?? null,
  };
}

function leaseDoc(input: Pick<ReserveInput, 'method' | 'requestHash' | 'nowMs' | 'leaseMs' | 'retentionMs'>, leaseToken: string, createdAt: Timestamp) {
  return {
    method: input.method,
    requestHash: input.requestHash,
    state: 'in_progress',
    leaseToken,
    leaseUntil: Timestamp.fromMillis(input.nowMs + input.leaseMs),
    createdAt,
    expireAt: Timestamp.fromMillis(input.nowMs + input.retentionMs),
  };
}

/**
 * A new key's lease as a create in another store's batch (a one-call checkout's first write, ADR
 * 0015): the batch fails with ALREADY_EXISTS if the key has any record.
 */
export function createLeaseIn(db: Firestore, batch: WriteBatch, r: IdempotencyRef, input: Parameters<IdempotencyTx['writeLease']>[1]): void {
  batch.create(recordRef(db, r.scope, r.method, r.key), leaseDoc({ method: r.method, ...input }, input.leaseToken, Timestamp.fromMillis(input.nowMs)));
}

/** A completed record: the response (and the error) a replay answers. */
function completedDoc(r: IdempotencyRef, input: Parameters<IdempotencyTx['writeCompleted']>[1]) {
  const at = Timestamp.fromMillis(input.nowMs);
  return {
    method: r.method, requestHash: input.requestHash, state: 'completed', leaseToken: '', leaseUntil: at,
    response: Buffer.from(input.response), createdAt: at, completedAt: at, expireAt: Timestamp.fromMillis(input.nowMs + input.retentionMs),
    ...(input.error ? { error: { reason: input.error.reason, message: input.error.message, metadata: { ...input.error.metadata } } } : {}),
  };
}

/**
 * A new key's completed record as a create in another store's batch (a payment only created, ADR
 * 0016): the batch fails with ALREADY_EXISTS if the key has any record.
 */
export function createCompletedIn(db: Firestore, batch: WriteBatch, r: IdempotencyRef, input: Parameters<IdempotencyTx['writeCompleted']>[1]): void {
  batch.create(recordRef(db, r.scope, r.method, r.key), completedDoc(r, input));
}

/** The same records inside a transaction another store runs (payments, ADR 0011). */
export function createIdempotencyTx(db: Firestore, tx: Transaction): IdempotencyTx {
  const ref = (r: IdempotencyRef) => recordRef(db, r.scope, r.method, r.key);
  return {
    async read(r) {
      return storedOf((await readerOf(tx).get(ref(r))).data());
    },
    writeLease(r, input) {
      tx.set(ref(r), leaseDoc({ method: r.method, ...input }, input.leaseToken, Timestamp.fromMillis(input.nowMs)));
    },
    writeCompleted(r, input) {
      tx.set(ref(r), completedDoc(r, input));
    },
    remove(r) {
      tx.delete(ref(r));
    },
  };
}

export function createFirestoreIdempotencyStore(db: Firestore): IdempotencyStore {
  const ref = (scope: string, method: string, key: string) => recordRef(db, scope, method, key);
  /** The precondition a fast-path lease token names, if it names one. */
  const preconditionOf = (leaseToken: string): Precondition | undefined => {
    const at = /@(\d+)\.(\d+)$/.exec(leaseToken);
    return at ? { lastUpdateTime: new Timestamp(Number(at[1]), Number(at[2])) } : undefined;
  };
  /** Writes under the holder's lease: one preconditioned write, else a transaction checking the token. */
  const asHolder = async (doc: DocumentReference, leaseToken: string, fast: (p: Precondition) => Promise<unknown>, slow: (tx: Transaction) => void) => {
    const precondition = preconditionOf(leaseToken);
    if (precondition) {
      try {
        await fast(precondition);
        return;
      } catch (error) {
        // Changed since we created it (the lease was taken over): decide by the token.
        if (codeOf(error) !== failedPrecondition && codeOf(error) !== notFound) throw error;
      }
    }
    await db.runTransaction(async (tx) => {
      const snap = await tx.get(doc);
      // Only the lease holder writes; a stale holder must not overwrite a newer one.
      if (snap.get('leaseToken') === leaseToken.split('@')[0] && snap.get('state') === 'in_progress') slow(tx);
    });
  };

  return {
    async reserve(input: ReserveInput): Promise<Reservation> {
      const doc = ref(input.scope, input.method, input.key);
      const uuid = randomUUID();
      try {
        // The token must be in the document before we know the write time, so the document holds
        // the uuid part; the holder's token adds the time for its preconditioned writes.
        const written = await doc.create(leaseDoc(input, uuid, Timestamp.fromMillis(input.nowMs)));
        return { kind: 'execute', leaseToken: `${uuid}@${written.writeTime.seconds}.${written.writeTime.nanoseconds}` };
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
      return db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        const data = snap.data();
        switch (decideReservation(storedOf(data), input.requestHash, input.nowMs)) {
          case 'mismatch': return { kind: 'mismatch' } as const;
          case 'replay': return { kind: 'replay', response: new Uint8Array(data!.response as Buffer) } as const;
          case 'in_progress': return { kind: 'in_progress' } as const;
          case 'execute': {
            // Released meanwhile, or the holder's lease ran out (it crashed): take it over.
            const leaseToken = randomUUID();
            tx.set(doc, leaseDoc(input, leaseToken, (data?.createdAt as Timestamp | undefined) ?? Timestamp.fromMillis(input.nowMs)));
            return { kind: 'execute', leaseToken } as const;
          }
        }
      });
    },

    async complete({ scope, method, key, leaseToken, response, nowMs }) {
      const doc = ref(scope, method, key);
      const fields = { state: 'completed', response: Buffer.from(response), completedAt: Timestamp.fromMillis(nowMs) };
      await asHolder(doc, leaseToken, (precondition) => doc.update(fields, precondition), (tx) => tx.update(doc, fields));
    },

    async release({ scope, method, key, leaseToken }) {
      const doc = ref(scope, method, key);
      await asHolder(doc, leaseToken, (precondition) => doc.delete(precondition), (tx) => tx.delete(doc));
    },
  };
}
