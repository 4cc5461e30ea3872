/**
 * The outbox on Firestore (ADR 0010, 0027): ONE document per commit,
 * `tenants/{tenantId}/outbox/{docId}` with `docId` = its first event's id, written by the ledger
 * and payments stores in the transaction (or group-commit member) of the change:
 *   { tenantId, createdAt (the earliest event's), publishedAt: null,
 *     aggregateIds: [distinct aggregateId of its events],
 *     events: [{ id, type, aggregateId, payload, createdAt, traceId, spanId }, ...] }
 * The relay adds `publishedAt` and `pubsubMessageIds` (one per event). Unsent documents are found
 * with `publishedAt == null` ordered by `createdAt`: composite indexes (COLLECTION_GROUP for the
 * sweeper, COLLECTION for one tenant) in firestore.indexes.json and terraform/. `aggregateIds` (the
 * commit's distinct aggregates) finds one aggregate's events, e.g. a payment's timeline. `events` is exempt
 * from indexing (nobody queries inside it; an indexed array of maps costs index writes per field).
 * Documents of the earlier shape (one event per document, its fields at the top level) are still
 * read, as a document of one event.
 */
import { Timestamp, type DocumentData, type DocumentSnapshot, type Firestore, type Query, type Transaction, type WriteBatch } from '@google-cloud/firestore';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import type { OutboxStore, StoredOutboxDocument, StoredOutboxEvent } from '../../ports/outbox-store.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';
import { decodeDocumentEventData } from './document-event-data.js';
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

/** Milliseconds of a stored time (a Timestamp, or a number where a reader decoded it already). */
function millisOf(value: unknown): number {
  if (value instanceof Timestamp) return value.toMillis();
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
  throw new Error('assertion failed: outbox createdAt is not a timestamp');
}

function eventOf(tenantId: string, fallbackId: string, d: DocumentData, publishedAtMs: number | null): StoredOutboxEvent {
  return {
    id: typeof d.id === 'string' ? d.id : fallbackId,
    tenantId,
    type: String(d.type ?? ''),
    aggregateId: String(d.aggregateId ?? ''),
    payload: (plain(d.payload ?? {}) ?? {}) as Record<string, unknown>,
    createdAtMs: millisOf(d.createdAt),
    traceId: String(d.traceId ?? ''),
    spanId: String(d.spanId ?? ''),
    publishedAtMs,
  };
}

/**
 * An outbox document's fields as stored (either shape) -> the document and its events. Exported
 * for the relay's trigger, whose CloudEvent carries the fields (decoded by the caller).
 */
export function outboxDocumentFromFields(tenantId: string, documentId: string, d: DocumentData, version?: string): StoredOutboxDocument {
  // The tenant is the grandparent of the document (tenants/{t}/outbox/{e}), whatever the fields say.
  const publishedAt: unknown = d.publishedAt;
  const publishedAtMs = publishedAt === null || publishedAt === undefined ? null : millisOf(publishedAt);
  const stored = Array.isArray(d.events) ? (d.events as DocumentData[]) : [d];
  const events = stored.map((e, i) => eventOf(tenantId, i === 0 ? documentId : `${documentId}_${i}`, e, publishedAtMs));
  if (events.length === 0) throw new Error(`assertion failed: outbox document ${tenantId}/${documentId} holds no event`);
  return {
    tenantId, id: documentId, publishedAtMs, events,
    createdAtMs: d.createdAt === undefined ? Math.min(...events.map((e) => e.createdAtMs)) : millisOf(d.createdAt),
    ...(version === undefined ? {} : { version }),
  };
}

function documentFromSnapshot(snap: DocumentSnapshot): StoredOutboxDocument {
  return outboxDocumentFromFields(snap.ref.parent.parent!.id, snap.id, snap.data()!, snap.updateTime ? versionOf(snap.updateTime) : undefined);
}

/** A version is the update time as `seconds.nanos` (exact, unlike an ISO string's milliseconds). */
function versionOf(time: Timestamp): string {
  return `${time.seconds}.${String(time.nanoseconds).padStart(9, '0')}`;
}

function timestampOfVersion(version: string): Timestamp | undefined {
  const m = /^(\d{1,12})\.(\d{9})$/.exec(version);
  return m ? new Timestamp(Number(m[1]), Number(m[2])) : undefined;
}

/**
 * The outbox writes of one commit: events are collected while the use case runs and written as
 * one document when the commit is assembled (`writeTo`, just before it is sent). Make one per
 * transaction attempt (a retried attempt starts empty).
 */
export interface OutboxWrites {
  add(event: OutboxEvent): void;
  /** Writes the collected events (if any) as one document; the number of writes it added (0 or 1). */
  writeTo(writer: Pick<Transaction | WriteBatch, 'create'>): number;
}

export function createOutboxWrites(db: Firestore, tenantId: string): OutboxWrites {
  const events: OutboxEvent[] = [];
  return {
    add(event) { events.push(event); },
    writeTo(writer) {
      if (events.length === 0) return 0;
      const ref = db.collection('tenants').doc(tenantId).collection('outbox').doc(events[0]!.id);
      const doc = outboxDocumentFields(tenantId, events);
      (writer as Pick<WriteBatch, 'create'>).create(ref, doc);
      events.length = 0;
      return 1;
    },
  };
}

/** The stored fields of one commit's events (at least one). */
export function outboxDocumentFields(tenantId: string, events: readonly OutboxEvent[]): DocumentData {
  if (events.length === 0) throw new Error('assertion failed: an outbox document of no event');
  return {
    tenantId,
    createdAt: Timestamp.fromMillis(Math.min(...events.map((e) => e.createdAtMs))),
    publishedAt: null,
    // The distinct aggregates of the commit (a few: a payment and its ledger entries), so that one
    // aggregate's events are one indexed query (`listEventsOfAggregate`, a payment's timeline).
    aggregateIds: [...new Set(events.map((e) => e.aggregateId))],
    events: events.map((e) => ({
      id: e.id, type: e.type, aggregateId: e.aggregateId, payload: e.payload,
      createdAt: Timestamp.fromMillis(e.createdAtMs), traceId: e.traceId, spanId: e.spanId,
    })),
  };
}

const isFailedPrecondition = (error: unknown) => (error as { code?: unknown }).code === 9;
const isNotFound = (error: unknown) => (error as { code?: unknown }).code === 5;

export function createFirestoreOutboxStore(db: Firestore, options: { transaction?: TransactionOptions } = {}): OutboxStore {
  const ref = (tenantId: string, documentId: string) => db.collection('tenants').doc(tenantId).collection('outbox').doc(documentId);
  const scope = (tenantId: string | undefined): Query => (tenantId === undefined ? db.collectionGroup('outbox') : db.collection('tenants').doc(tenantId).collection('outbox'));
  const marked = (publishedAtMs: number, messageIds: readonly string[]) => ({ publishedAt: Timestamp.fromMillis(publishedAtMs), pubsubMessageIds: [...messageIds] });
  return {
    async get(tenantId, documentId) {
      const snap = await ref(tenantId, documentId).get();
      return snap.exists ? documentFromSnapshot(snap) : undefined;
    },

    async markPublished(document, publishedAtMs, messageIds) {
      const at = document.version === undefined ? undefined : timestampOfVersion(document.version);
      if (at !== undefined) {
        // One write, no read: it lands only if the document is as the caller read it (unsent).
        // Anything else (another relay marked it first) fails the precondition: already marked.
        try {
          await ref(document.tenantId, document.id).update(marked(publishedAtMs, messageIds), { lastUpdateTime: at });
          return 'marked';
        } catch (error) {
          if (isFailedPrecondition(error)) return 'already';
          if (isNotFound(error)) return 'missing';
          throw error;
        }
      }
      return runTransactionWithRetry(db, async (tx) => {
        const snap = await tx.get(ref(document.tenantId, document.id));
        if (!snap.exists) return 'missing' as const;
        const publishedAt: unknown = snap.get('publishedAt');
        if (publishedAt !== null && publishedAt !== undefined) return 'already' as const;
        tx.update(ref(document.tenantId, document.id), marked(publishedAtMs, messageIds));
        return 'marked' as const;
      }, 'the outbox document is busy; the next relay or sweep marks it', options.transaction);
    },

    carried(data, tenantId, documentId) {
      // The deployed trigger's data: a protobuf DocumentEventData (terraform/). Anything else, or
      // another document than the subject names, is not trusted: the caller reads instead.
      if (!(data instanceof Uint8Array) || data.length === 0) return undefined;
      let value;
      try {
        value = decodeDocumentEventData(data).value;
      } catch {
        return undefined;
      }
      if (!value?.updateTime || !value.name.endsWith(`/documents/tenants/${tenantId}/outbox/${documentId}`)) return undefined;
      try {
        return outboxDocumentFromFields(tenantId, documentId, value.fields, versionOf(value.updateTime));
      } catch {
        return undefined; // fields that are not an outbox document's: read it instead
      }
    },

    async findUnpublished({ createdBeforeMs, tenantId, limit }) {
      const snap = await scope(tenantId)
        .where('publishedAt', '==', null)
        .where('createdAt', '<', Timestamp.fromMillis(createdBeforeMs))
        .orderBy('createdAt', 'asc')
        .limit(limit)
        .get();
      return snap.docs.map(documentFromSnapshot);
    },

    async listEventsOfAggregate({ tenantId, aggregateId, cursor, limit }) {
      if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new Error('assertion failed: listEventsOfAggregate limit must be a positive integer');
      // The cursor names the document to resume at (createdAt, id) and how many of its events of
      // this aggregate were returned already. Composite index: aggregateIds CONTAINS, createdAt, __name__.
      const at = cursor === undefined ? undefined : decodePageToken(cursor, ['int', 'id', 'int']) as [number, string, number];
      let query = scope(tenantId)
        .where('aggregateIds', 'array-contains', aggregateId)
        .orderBy('createdAt', 'asc')
        .orderBy('__name__', 'asc');
      if (at) query = query.startAt(Timestamp.fromMillis(at[0]), ref(tenantId, at[1]));
      // Every document found holds at least one event of the aggregate: `limit` documents fill the page.
      const snap = await query.limit(limit + 1).get();
      const events: StoredOutboxEvent[] = [];
      for (const [i, doc] of snap.docs.entries()) {
        const document = documentFromSnapshot(doc);
        const own = document.events.filter((e) => e.aggregateId === aggregateId);
        const skip = i === 0 && at && at[1] === document.id ? at[2] : 0;
        for (let k = skip; k < own.length; k++) {
          if (events.length === limit) return { events, nextCursor: encodePageToken([document.createdAtMs, document.id, k]) };
          events.push(own[k]!);
        }
      }
      return { events, nextCursor: undefined };
    },

    async listEventsBetween({ tenantId, fromMs, toMs, cursor, limit }) {
      if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new Error('assertion failed: listEventsBetween limit must be a positive integer');
      // The cursor names the document to resume at (createdAt, its path) and how many of its
      // events were returned already.
      const at = cursor === undefined ? undefined : decodePageToken(cursor, ['int', 'id', 'id', 'int']) as [number, string, string, number];
      let query = scope(tenantId)
        .where('createdAt', '>=', Timestamp.fromMillis(fromMs))
        .where('createdAt', '<', Timestamp.fromMillis(toMs))
        .orderBy('createdAt', 'asc')
        .orderBy('__name__', 'asc');
      if (at) query = query.startAt(Timestamp.fromMillis(at[0]), ref(at[1], at[2]));
      // A document holds at least one event: `limit` documents always fill the page or end the range.
      const snap = await query.limit(limit + 1).get();
      const events: StoredOutboxEvent[] = [];
      for (const [i, doc] of snap.docs.entries()) {
        const document = documentFromSnapshot(doc);
        const skip = i === 0 && at && at[1] === document.tenantId && at[2] === document.id ? at[3] : 0;
        for (let k = skip; k < document.events.length; k++) {
          if (events.length === limit) return { events, nextCursor: encodePageToken([document.createdAtMs, document.tenantId, document.id, k]) };
          events.push(document.events[k]!);
        }
      }
      return { events, nextCursor: undefined };
    },
  };
}
