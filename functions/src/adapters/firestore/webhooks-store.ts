/**
 * Webhook endpoints and deliveries on Firestore (ADR 0034):
 *   tenants/{t}/webhookEndpoints/{we_...}: url, description, eventTypes, enabled, disabledReason,
 *     secrets [{ciphertext (bytes), createdAtMs, expiresAtMs}], failingSinceMs, createdAt, ...
 *   tenants/{t}/webhookDeliveries/{whd_...}: endpointId, eventId, eventType, body, status,
 *     attempts [{atMs, statusCode, latencyMs, error}], nextAttemptAtMs, deadlineAtMs, createdAt, ...
 * Claims and attempt records are updates with a `lastUpdateTime` precondition (the document's
 * version as the claimer saw or wrote it): no transaction round trip, and a worker whose lease
 * lapsed cannot overwrite the one that took over. The retrier's query (collection group,
 * status == pending, nextAttemptAtMs <= now, ordered by nextAttemptAtMs) and the per-endpoint
 * listing have composite indexes in firestore.indexes.json and terraform/. Deliveries expire 30 days
 * after creation (TTL on `expireAt`); `body` and `attempts` are exempt from single-field indexes
 * (nobody queries them; indexing a body costs index writes on every delivery).
 */
import { Timestamp, type DocumentData, type DocumentReference, type DocumentSnapshot, type Firestore } from '@google-cloud/firestore';
import type { DeliveryStatus, StoredSecret, WebhookDelivery, WebhookEndpoint } from '../../domain/webhooks/endpoint.js';
import type { ClaimedDelivery, WebhooksStore } from '../../ports/webhooks-store.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';
import { commitEachAlone, createGroupCommitter, type GroupCommitOptions } from './group-commit.js';
import { outboxDocumentFields } from './outbox-store.js';
import { runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';

const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const code = (error: unknown): unknown => (error as { code?: unknown }).code;
/** ALREADY_EXISTS, FAILED_PRECONDITION, NOT_FOUND: another writer got there first. */
const lostRace = (error: unknown) => [6, 9, 5].includes(code(error) as number);

function endpointToDoc(e: WebhookEndpoint): DocumentData {
  return {
    url: e.url, description: e.description, eventTypes: e.eventTypes, enabled: e.enabled, disabledReason: e.disabledReason,
    secrets: e.secrets.map((s) => ({ ciphertext: Buffer.from(s.ciphertext), createdAtMs: s.createdAtMs, expiresAtMs: s.expiresAtMs })),
    failingSinceMs: e.failingSinceMs, createdAt: Timestamp.fromMillis(e.createdAtMs), updatedAtMs: e.updatedAtMs, traceId: e.traceId, spanId: e.spanId,
  };
}

function endpointFromDoc(tenantId: string, id: string, d: DocumentData): WebhookEndpoint {
  return {
    id, tenantId, url: String(d.url), description: String(d.description ?? ''), eventTypes: (d.eventTypes as string[]) ?? [],
    enabled: d.enabled === true, disabledReason: (d.disabledReason ?? '') as WebhookEndpoint['disabledReason'],
    secrets: ((d.secrets ?? []) as DocumentData[]).map((s): StoredSecret => ({
      ciphertext: new Uint8Array(s.ciphertext as Buffer), createdAtMs: num(s.createdAtMs), expiresAtMs: numOrNull(s.expiresAtMs),
    })),
    failingSinceMs: numOrNull(d.failingSinceMs), createdAtMs: (d.createdAt as Timestamp).toMillis(), updatedAtMs: num(d.updatedAtMs),
    traceId: String(d.traceId ?? ''), spanId: String(d.spanId ?? ''),
  };
}

/** How long a delivery document is kept (Firestore TTL on `expireAt`): well past its 72 h of retries. */
export const deliveryRetentionMs = 30 * 86_400_000;

function deliveryToDoc(d: WebhookDelivery): DocumentData {
  return {
    // TTL field (firestore.indexes.json, terraform/webhooks.tf): deleted some time after this.
    expireAt: Timestamp.fromMillis(d.createdAtMs + deliveryRetentionMs),
    tenantId: d.tenantId, endpointId: d.endpointId, eventId: d.eventId, eventType: d.eventType, body: d.body, status: d.status,
    attempts: d.attempts, nextAttemptAtMs: d.nextAttemptAtMs, deadlineAtMs: d.deadlineAtMs, createdAt: Timestamp.fromMillis(d.createdAtMs),
    failureReason: d.failureReason,
  };
}

function deliveryFromDoc(id: string, d: DocumentData): WebhookDelivery {
  return {
    id, tenantId: String(d.tenantId), endpointId: String(d.endpointId), eventId: String(d.eventId), eventType: String(d.eventType),
    body: String(d.body), status: d.status as DeliveryStatus,
    attempts: ((d.attempts ?? []) as DocumentData[]).map((a) => ({ atMs: num(a.atMs), statusCode: num(a.statusCode), latencyMs: num(a.latencyMs), error: String(a.error ?? '') })),
    nextAttemptAtMs: numOrNull(d.nextAttemptAtMs), deadlineAtMs: num(d.deadlineAtMs), createdAtMs: (d.createdAt as Timestamp).toMillis(),
    failureReason: String(d.failureReason ?? ''),
  };
}

export interface WebhooksStoreOptions {
  transaction?: TransactionOptions;
  /** New deliveries' records leave in group commits (ADR 0016, 0034); absent: each commits alone. */
  recordGroupCommit?: GroupCommitOptions;
}

export function createFirestoreWebhooksStore(db: Firestore, options: WebhooksStoreOptions = {}): WebhooksStore {
  // A create per delivery; under load the dispatch of many events shares one commit RPC. A group
  // that meets a delivery already recorded (a redelivered event) is retried member by member, so
  // each learns its own answer (group-commit.ts).
  const deliveryRecords = createGroupCommitter(db, options.recordGroupCommit ?? commitEachAlone);
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const endpointRef = (t: string, id: string) => tenant(t).collection('webhookEndpoints').doc(id);
  const deliveryRef = (t: string, id: string) => tenant(t).collection('webhookDeliveries').doc(id);
  const tx = <T>(work: Parameters<typeof runTransactionWithRetry<T>>[1]) =>
    runTransactionWithRetry<T>(db, work, 'the webhook endpoint is busy; retry with the same idempotency key', options.transaction);

  const claimSnapshot = async (snap: DocumentSnapshot, leaseUntilMs: number): Promise<ClaimedDelivery | undefined> => {
    try {
      const result = await (snap.ref as DocumentReference).update({ nextAttemptAtMs: leaseUntilMs }, { lastUpdateTime: snap.updateTime! });
      const delivery = deliveryFromDoc(snap.id, snap.data()!);
      return { delivery: { ...delivery, nextAttemptAtMs: leaseUntilMs }, fence: result.writeTime };
    } catch (error) {
      if (lostRace(error)) return undefined;
      throw error;
    }
  };

  const conditionalUpdate = async (claim: ClaimedDelivery, fields: DocumentData): Promise<boolean> => {
    try {
      await deliveryRef(claim.delivery.tenantId, claim.delivery.id).update(fields, { lastUpdateTime: claim.fence as Timestamp });
      return true;
    } catch (error) {
      if (lostRace(error)) return false;
      throw error;
    }
  };

  return {
    async createEndpoint(endpoint) {
      await endpointRef(endpoint.tenantId, endpoint.id).create(endpointToDoc(endpoint));
    },

    async getEndpoint(tenantId, endpointId) {
      const snap = await endpointRef(tenantId, endpointId).get();
      return snap.exists ? endpointFromDoc(tenantId, snap.id, snap.data()!) : undefined;
    },

    async listEndpoints(tenantId, pageSize, cursor) {
      let query = tenant(tenantId).collection('webhookEndpoints').orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const [ms, id] = decodePageToken(cursor, ['int', 'id']) as [number, string];
        query = query.startAfter(Timestamp.fromMillis(ms), endpointRef(tenantId, id));
      }
      const snap = await query.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => endpointFromDoc(tenantId, d.id, d.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.docs.length > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },

    async enabledEndpoints(tenantId, limit) {
      const snap = await tenant(tenantId).collection('webhookEndpoints').where('enabled', '==', true).limit(limit).get();
      return snap.docs.map((d) => endpointFromDoc(tenantId, d.id, d.data()));
    },

    updateEndpoint(tenantId, endpointId, change) {
      return tx(async (t) => {
        const snap = await t.get(endpointRef(tenantId, endpointId));
        if (!snap.exists) return undefined;
        const current = endpointFromDoc(tenantId, snap.id, snap.data()!);
        const next = change(current);
        if (next === undefined) return current;
        t.set(endpointRef(tenantId, endpointId), endpointToDoc(next));
        return next;
      });
    },

    deleteEndpoint(tenantId, endpointId) {
      return tx(async (t) => {
        const snap = await t.get(endpointRef(tenantId, endpointId));
        if (!snap.exists) return undefined;
        t.delete(endpointRef(tenantId, endpointId));
        return endpointFromDoc(tenantId, snap.id, snap.data()!);
      });
    },

    async changeEndpointHealth(tenantId, endpointId, change, nowMs) {
      await tx(async (t) => {
        const ref = endpointRef(tenantId, endpointId);
        const snap = await t.get(ref);
        if (!snap.exists) return;
        const current = endpointFromDoc(tenantId, snap.id, snap.data()!);
        if (change.kind === 'recovered') {
          if (current.failingSinceMs !== null) t.update(ref, { failingSinceMs: null, updatedAtMs: nowMs });
        } else if (change.kind === 'failing') {
          if (current.failingSinceMs === null && current.enabled) t.update(ref, { failingSinceMs: change.sinceMs, updatedAtMs: nowMs });
        } else if (current.enabled && current.failingSinceMs !== null && current.failingSinceMs <= change.failingSinceAtMostMs) {
          // Disabled once: the event is written in the same transaction, only by the writer that disables.
          t.update(ref, { enabled: false, disabledReason: 'failing', updatedAtMs: nowMs });
          t.create(tenant(tenantId).collection('outbox').doc(change.event.id), outboxDocumentFields(tenantId, [change.event]));
        }
      });
    },

    async createClaimedDeliveries(deliveries, leaseUntilMs) {
      if (deliveries.length === 0) return [];
      const docOf = (d: WebhookDelivery) => deliveryToDoc({ ...d, nextAttemptAtMs: leaseUntilMs });
      const claimed = (d: WebhookDelivery, writeTime: Timestamp): ClaimedDelivery => ({ delivery: { ...d, nextAttemptAtMs: leaseUntilMs }, fence: writeTime });
      const batch = db.batch();
      for (const d of deliveries) batch.create(deliveryRef(d.tenantId, d.id), docOf(d));
      try {
        const results = await batch.commit();
        return deliveries.map((d, i) => claimed(d, results[i]!.writeTime));
      } catch (error) {
        if (code(error) !== 6) throw error;
      }
      // A redelivered event: some exist already. One by one, keeping only those this call made.
      const made: ClaimedDelivery[] = [];
      for (const d of deliveries) {
        try {
          made.push(claimed(d, (await deliveryRef(d.tenantId, d.id).create(docOf(d))).writeTime));
        } catch (error) {
          if (code(error) !== 6) throw error;
        }
      }
      return made;
    },

    async createDelivery(delivery) {
      const ref = deliveryRef(delivery.tenantId, delivery.id);
      const doc = deliveryToDoc(delivery);
      return (await deliveryRecords.commit(1, (batch) => batch.create(ref, doc))) === 'committed';
    },

    async getDelivery(tenantId, deliveryId) {
      const snap = await deliveryRef(tenantId, deliveryId).get();
      return snap.exists ? deliveryFromDoc(snap.id, snap.data()!) : undefined;
    },

    async listDeliveries(tenantId, endpointId, status, pageSize, cursor) {
      let query = tenant(tenantId).collection('webhookDeliveries').where('endpointId', '==', endpointId);
      if (status !== undefined) query = query.where('status', '==', status);
      query = query.orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const [ms, id] = decodePageToken(cursor, ['int', 'id']) as [number, string];
        query = query.startAfter(Timestamp.fromMillis(ms), deliveryRef(tenantId, id));
      }
      const snap = await query.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => deliveryFromDoc(d.id, d.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.docs.length > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },

    async claimDue(nowMs, leaseUntilMs, limit) {
      const snap = await db.collectionGroup('webhookDeliveries').where('status', '==', 'pending').where('nextAttemptAtMs', '<=', nowMs)
        .orderBy('nextAttemptAtMs').limit(limit).get();
      const claims = await Promise.all(snap.docs.map((d) => claimSnapshot(d, leaseUntilMs)));
      return claims.filter((c): c is ClaimedDelivery => c !== undefined);
    },

    recordAttempt(claim, record) {
      return conditionalUpdate(claim, {
        attempts: [...claim.delivery.attempts, record.attempt], status: record.status, nextAttemptAtMs: record.nextAttemptAtMs, failureReason: record.failureReason,
      });
    },

    release(claim, change) {
      return conditionalUpdate(claim, { status: change.status, nextAttemptAtMs: change.nextAttemptAtMs, failureReason: change.failureReason });
    },
  };
}
