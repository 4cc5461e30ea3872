import { randomUUID, createHash } from 'node:crypto';
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import type { IdempotencyStore, Reservation, ReserveInput } from '../../ports/idempotency-store.js';

/**
 * Idempotency records at `tenants/{scope}/idempotency/{sha256(method, key)}` (platform calls use
 * `platform/_platform/idempotency`). `expireAt` is the TTL field declared in firestore.indexes.json.
 */
export function createFirestoreIdempotencyStore(db: Firestore): IdempotencyStore {
  const ref = (scope: string, method: string, key: string) => {
    const id = createHash('sha256').update(`${method}\n${key}`).digest('hex');
    const parent = scope === '_platform' ? db.collection('platform').doc('_platform') : db.collection('tenants').doc(scope);
    return parent.collection('idempotency').doc(id);
  };

  return {
    async reserve(input: ReserveInput): Promise<Reservation> {
      const doc = ref(input.scope, input.method, input.key);
      return db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        const data = snap.data();
        if (data && data.requestHash !== input.requestHash) return { kind: 'mismatch' } as const;
        if (data && data.state === 'completed') {
          return { kind: 'replay', response: new Uint8Array(data.response as Buffer) } as const;
        }
        if (data && (data.leaseUntil as Timestamp).toMillis() > input.nowMs) return { kind: 'in_progress' } as const;
        const leaseToken = randomUUID();
        // New key, or the holder's lease ran out (it crashed): take it over.
        tx.set(doc, {
          method: input.method,
          requestHash: input.requestHash,
          state: 'in_progress',
          leaseToken,
          leaseUntil: Timestamp.fromMillis(input.nowMs + input.leaseMs),
          createdAt: data?.createdAt ?? Timestamp.fromMillis(input.nowMs),
          expireAt: Timestamp.fromMillis(input.nowMs + input.retentionMs),
        });
        return { kind: 'execute', leaseToken } as const;
      });
    },

    async complete({ scope, method, key, leaseToken, response, nowMs }) {
      const doc = ref(scope, method, key);
      await db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        // Only the lease holder writes the response; a stale holder must not overwrite a newer one.
        if (snap.get('leaseToken') !== leaseToken) return;
        tx.update(doc, { state: 'completed', response: Buffer.from(response), completedAt: Timestamp.fromMillis(nowMs) });
      });
    },

    async release({ scope, method, key, leaseToken }) {
      const doc = ref(scope, method, key);
      await db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        if (snap.get('leaseToken') === leaseToken && snap.get('state') === 'in_progress') tx.delete(doc);
      });
    },
  };
}
