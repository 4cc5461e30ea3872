/**
 * The outbox on Firestore: `tenants/{tenantId}/outbox/{eventId}`, written by the ledger and payments
 * stores in the transaction of the change (fields id, type, aggregateId, payload, tenantId,
 * createdAt, traceId, spanId, publishedAt: null). The relay adds `publishedAt` and
 * `pubsubMessageId`. Unsent events are found with `publishedAt == null` ordered by `createdAt`:
 * composite indexes (COLLECTION_GROUP for the sweeper, COLLECTION for one tenant) in
 * firestore.indexes.json and terraform/.
 */
import { Timestamp, type DocumentData, type Firestore, type Query } from '@google-cloud/firestore';
import type { OutboxStore, StoredOutboxEvent } from '../../ports/outbox-store.js';
import { runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';

/**
 * Firestore values back to plain JSON values: the client reads every integer as bigint
 * (`useBigInt`), so safe integers become numbers again and larger ones decimal strings (the
 * payload's writers put amounts in strings already); timestamps become ISO strings.
 */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? Number(value) : value.toString();
  if (value instanceof Timestamp) return value.toDate().toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function eventFromDoc(tenantId: string, eventId: string, d: DocumentData): StoredOutboxEvent {
  const publishedAt = d.publishedAt as Timestamp | null | undefined;
  return {
    id: typeof d.id === 'string' ? d.id : eventId,
    tenantId: typeof d.tenantId === 'string' ? d.tenantId : tenantId,
    type: String(d.type ?? ''),
    aggregateId: String(d.aggregateId ?? ''),
    payload: (plain(d.payload ?? {}) ?? {}) as Record<string, unknown>,
    createdAtMs: (d.createdAt as Timestamp).toMillis(),
    traceId: String(d.traceId ?? ''),
    spanId: String(d.spanId ?? ''),
    publishedAtMs: publishedAt ? publishedAt.toMillis() : null,
  };
}

export function createFirestoreOutboxStore(db: Firestore, options: { transaction?: TransactionOptions } = {}): OutboxStore {
  const ref = (tenantId: string, eventId: string) => db.collection('tenants').doc(tenantId).collection('outbox').doc(eventId);
  return {
    async get(tenantId, eventId) {
      const snap = await ref(tenantId, eventId).get();
      return snap.exists ? eventFromDoc(tenantId, eventId, snap.data()!) : undefined;
    },

    markPublished(tenantId, eventId, publishedAtMs, messageId) {
      return runTransactionWithRetry(db, async (tx) => {
        const snap = await tx.get(ref(tenantId, eventId));
        if (!snap.exists) return 'missing' as const;
        const publishedAt: unknown = snap.get('publishedAt');
        if (publishedAt !== null && publishedAt !== undefined) return 'already' as const;
        tx.update(ref(tenantId, eventId), { publishedAt: Timestamp.fromMillis(publishedAtMs), pubsubMessageId: messageId });
        return 'marked' as const;
      }, 'the outbox event is busy; the next relay or sweep marks it', options.transaction);
    },

    async findUnpublished({ createdBeforeMs, tenantId, limit }) {
      const base: Query = tenantId === undefined ? db.collectionGroup('outbox') : db.collection('tenants').doc(tenantId).collection('outbox');
      const snap = await base
        .where('publishedAt', '==', null)
        .where('createdAt', '<', Timestamp.fromMillis(createdBeforeMs))
        .orderBy('createdAt', 'asc')
        .limit(limit)
        .get();
      // The tenant is the grandparent of the document (tenants/{t}/outbox/{e}), whatever the fields say.
      return snap.docs.map((doc) => eventFromDoc(doc.ref.parent.parent!.id, doc.id, doc.data()));
    },
  };
}
