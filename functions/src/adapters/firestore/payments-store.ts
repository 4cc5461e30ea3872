/**
 * Payments on Firestore, under `tenants/{t}/`: `payments/{id}` (the intent as JSON in `state`, with
 * `status`, `customerId`, `unknownSince`, `createdAt` copied out for queries), `customers`, `paymentMethods`,
 * `settings/routing`, `inbox/{psp}:{eventId}`. `paymentIndex/{paymentId} -> tenantId` lets a
 * webhook, which names only our payment id, find its tenant; `pspReferences/{psp}:{pspReference}
 * -> {tenantId, paymentId}` lets one that names only the PSP's payment (a dispute) find both.
 */
import { Timestamp, type Firestore, type Query } from '@google-cloud/firestore';
import { type PaymentIntent, isCaptureDue } from '../../domain/payments/index.js';
import type { RoutingRule } from '../../domain/payments/routing.js';
import type { PaymentsStore, PaymentsTx, Customer, InboxFailure, PaymentMethod } from '../../ports/payments-store.js';
import type { PspWebhookEvent } from '../../ports/psp-gateway.js';
import { createLedgerTx } from './ledger-store.js';
import { createOutboxWrites } from './outbox-store.js';
import { createCompletedIn, createIdempotencyTx, createLeaseIn } from './idempotency-store.js';
import { createGroupCommitter, type GroupCommitOptions } from './group-commit.js';
import { fromJsonWithBigint, toJsonWithBigint } from './json-bigint.js';
import { isAlreadyExists, runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';
import { readerOf } from './tx-reader.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';

/** A new payment's first write (ADR 0015) leaves in groups (ADR 0016); bounds from the config. */
export type PaymentsStoreOptions = { groupCommit: GroupCommitOptions; transaction?: TransactionOptions };

export function createFirestorePaymentsStore(db: Firestore, options: PaymentsStoreOptions): PaymentsStore {
  const firstWrites = createGroupCommitter(db, options.groupCommit);
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const paymentRef = (t: string, id: string) => tenant(t).collection('payments').doc(id);
  const inboxRef = (t: string, id: string) => tenant(t).collection('inbox').doc(id);
  // PSP references are the PSP's strings: encoded so a `/` cannot make a path of the id.
  const pspReferenceRef = (psp: string, pspReference: string) => db.collection('pspReferences').doc(`${psp}:${encodeURIComponent(pspReference)}`);
  const paymentDoc = (intent: PaymentIntent, trace: { traceId: string; spanId: string }) => ({
    state: toJsonWithBigint(intent),
    status: intent.status,
    version: intent.version,
    psp: intent.psp,
    pspReference: intent.pspReference,
    unknownSince: intent.unknownSinceMs === null ? null : Timestamp.fromMillis(intent.unknownSinceMs),
    // An automatic-capture payment left authorized (its capture call certainly failed): the
    // janitor captures it.
    captureDueSince: isCaptureDue(intent) ? Timestamp.fromMillis(intent.updatedAtMs) : null,
    // The janitor's queue order (issue 11 item 12): when the attempt became unknown; a try that
    // cannot settle it moves it to the back (`requeueUnresolved`), so stuck ones never block the head.
    settleQueuedAt: intent.unknownSinceMs === null ? null : Timestamp.fromMillis(intent.unknownSinceMs),
    createdAt: Timestamp.fromMillis(intent.createdAtMs),
    updatedAt: Timestamp.fromMillis(intent.updatedAtMs),
    tenantId: intent.tenantId,
    // Top level for ListPayments' customer filter (payments saved before issue 17 lack it until their next save).
    customerId: intent.customerId,
    traceId: trace.traceId,
    spanId: trace.spanId,
  });
  // Payments saved before a field existed read with its neutral value (no dispute, no capture
  // reversal, the first chargeback), so the domain's invariants hold for old documents too.
  const parse = (state: unknown): PaymentIntent => {
    const stored = fromJsonWithBigint<PaymentIntent>(state as string);
    return {
      ...stored,
      // Payments stored before metadata, the creation trace and the return URL were kept have none.
      metadata: stored.metadata ?? {},
      traceId: stored.traceId ?? '',
      returnUrl: stored.returnUrl ?? null,
      dispute: stored.dispute ?? null,
      captureReversals: stored.captureReversals ?? 0,
      attempts: stored.attempts.map((a) => (a.modificationReference === undefined ? { ...a, modificationReference: null } : a)),
      refunds: stored.refunds.map((r) => ({ ...r, reversals: r.reversals ?? 0, feeCarriedMinor: r.feeCarriedMinor ?? 0n, pspEventAtMs: r.pspEventAtMs ?? null })),
      chargeback: stored.chargeback === null ? null : { ...stored.chargeback, number: stored.chargeback.number ?? 1 },
    };
  };

  const paymentIndexRef = (id: string) => db.collection('paymentIndex').doc(id);

  return {
    async createPaymentAtOnce({ intent, outbox, trace, key }) {
      // A new payment has no PSP reference yet: nothing for pspReferences.
      if (intent.pspReference !== null) throw new Error('assertion failed: createPaymentAtOnce of a payment with a PSP reference');
      // ALREADY_EXISTS: none of it was written, and the transactional path decides.
      // Its events are one outbox document (ADR 0027), as in a transaction.
      return (await firstWrites.commit(3 + Math.min(1, outbox.length), (batch) => {
        batch.create(paymentRef(intent.tenantId, intent.id), paymentDoc(intent, trace));
        batch.create(paymentIndexRef(intent.id), { tenantId: intent.tenantId });
        const outboxWrites = createOutboxWrites(db, intent.tenantId);
        for (const e of outbox) outboxWrites.add(e);
        outboxWrites.writeTo(batch);
        if ('lease' in key) createLeaseIn(db, batch, key.ref, key.lease);
        else createCompletedIn(db, batch, key.ref, key.completed);
      })) === 'committed';
    },

    async transaction(tenantId, work) {
      return runTransactionWithRetry(db, async (tx) => {
          // The commit's events, ledger's and payment's alike, become one outbox document (ADR 0027).
          const outbox = createOutboxWrites(db, tenantId);
          // The PSP reference each payment had when this transaction read it: its index is
          // written only when that changes (no extra read: the payment is always read first).
          const referenceRead = new Map<string, string | null>();
          const referenceOf = (intent: PaymentIntent) => (intent.psp !== null && intent.pspReference !== null ? `${intent.psp}:${intent.pspReference}` : null);
          const view: PaymentsTx = {
            async getPayment(id) {
              const d = (await readerOf(tx).get(paymentRef(tenantId, id))).data();
              const intent = d ? parse(d.state) : undefined;
              referenceRead.set(id, intent ? referenceOf(intent) : null);
              return intent;
            },
            async isEventProcessed(inboxId) {
              const processedAt: unknown = (await readerOf(tx).get(inboxRef(tenantId, inboxId))).get('processedAt');
              return processedAt !== null && processedAt !== undefined;
            },
            ledger: createLedgerTx(db, tenantId, tx, outbox),
            idempotency: createIdempotencyTx(db, tx),
            savePayment(intent, trace, created) {
              tx.set(paymentRef(tenantId, intent.id), paymentDoc(intent, trace));
              if (created) tx.set(paymentIndexRef(intent.id), { tenantId });
              // Indexed in the same transaction as the state that records the reference, so an
              // event naming only the PSP's payment can never arrive to find it missing.
              if (intent.psp !== null && intent.pspReference !== null && referenceRead.get(intent.id) !== referenceOf(intent)) {
                tx.set(pspReferenceRef(intent.psp, intent.pspReference), {
                  tenantId, paymentId: intent.id, psp: intent.psp, pspReference: intent.pspReference,
                  updatedAt: Timestamp.fromMillis(intent.updatedAtMs), traceId: trace.traceId, spanId: trace.spanId,
                });
              }
            },
            markEventProcessed(inboxId, nowMs) {
              tx.set(inboxRef(tenantId, inboxId), { processedAt: Timestamp.fromMillis(nowMs) }, { merge: true });
            },
            createOutboxEvent(e) { outbox.add(e); },
          };
          const result = await work(view);
          outbox.writeTo(tx);
          return result;
      }, 'this payment is busy; retry with the same idempotency key', options.transaction);
    },

    async getPayment(tenantId, paymentId) {
      const d = (await paymentRef(tenantId, paymentId).get()).data();
      return d ? parse(d.state) : undefined;
    },

    async listPayments(tenantId, pageSize, cursor, filter = {}) {
      // Equality/`in` filters on top-level fields then the time range, all on the one order
      // (createdAt, __name__ desc): composite indexes status/customerId + createdAt in
      // firestore.indexes.json and terraform/payments-console.tf.
      let q: Query = tenant(tenantId).collection('payments');
      if (filter.customerId !== undefined) q = q.where('customerId', '==', filter.customerId);
      if (filter.statuses !== undefined && filter.statuses.length > 0) {
        q = filter.statuses.length === 1 ? q.where('status', '==', filter.statuses[0]) : q.where('status', 'in', [...filter.statuses]);
      }
      if (filter.createdFromMs !== undefined) q = q.where('createdAt', '>=', Timestamp.fromMillis(filter.createdFromMs));
      if (filter.createdBeforeMs !== undefined) q = q.where('createdAt', '<', Timestamp.fromMillis(filter.createdBeforeMs));
      q = q.orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const parts = decodePageToken(cursor, ['int', 'id']);
        q = q.startAfter(Timestamp.fromMillis(parts[0] as number), paymentRef(tenantId, parts[1] as string));
      }
      const snap = await q.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => parse(d.get('state')));
      const last = items.at(-1);
      return { items, nextCursor: snap.size > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },

    async tenantOfPayment(paymentId) {
      return (await db.collection('paymentIndex').doc(paymentId).get()).get('tenantId') as string | undefined;
    },

    async parkUnmatchedEvent(event, receivedAtMs, expireAtMs) {
      try {
        await db.collection('parkedPspEvents').doc(`${event.psp}:${event.pspEventId}`).create({
          event: toJsonWithBigint(event), psp: event.psp, pspReference: event.pspReference,
          receivedAt: Timestamp.fromMillis(receivedAtMs), expireAt: Timestamp.fromMillis(expireAtMs),
          // Queue order: arrival, then the last try that matched nothing (see requeueParkedEvent).
          queuedAt: Timestamp.fromMillis(receivedAtMs),
        });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error; // parked before
      }
    },
    async listParkedEvents(limit) {
      const snap = await db.collection('parkedPspEvents').orderBy('queuedAt').limit(limit).get();
      return snap.docs.map((d) => ({ parkedId: d.id, event: fromJsonWithBigint<PspWebhookEvent>(d.get('event') as string) }));
    },
    async requeueParkedEvent(parkedId, nowMs) {
      try {
        await db.collection('parkedPspEvents').doc(parkedId).update({ queuedAt: Timestamp.fromMillis(nowMs) });
      } catch (error) {
        if ((error as { code?: unknown }).code !== 5) throw error; // NOT_FOUND: matched or expired meanwhile
      }
    },
    async dropParkedEvent(parkedId) {
      await db.collection('parkedPspEvents').doc(parkedId).delete();
    },
    async paymentOfPspReference(psp, pspReference) {
      const d = (await pspReferenceRef(psp, pspReference).get()).data();
      return d ? { tenantId: d.tenantId as string, paymentId: d.paymentId as string } : undefined;
    },

    async findUnresolved(olderThanMs, limit, after) {
      // `__name__` is the order Firestore appends anyway (no extra index); named, it lets the
      // cursor carry a document path for ties on `settleQueuedAt`.
      let q = db.collectionGroup('payments').where('settleQueuedAt', '<=', Timestamp.fromMillis(olderThanMs))
        .orderBy('settleQueuedAt').orderBy('__name__');
      if (after) q = q.startAfter(Timestamp.fromMillis(after.queuedAtMs), paymentRef(after.tenantId, after.paymentId));
      const snap = await q.limit(limit).get();
      return snap.docs.map((d) => {
        const entry = { tenantId: d.get('tenantId') as string, paymentId: d.id, queuedAtMs: (d.get('settleQueuedAt') as Timestamp).toMillis() };
        // The query read the whole document: the janitor need not read it again before its
        // transaction. One that does not parse is still listed (its settling reports why).
        try {
          return { ...entry, intent: parse(d.get('state')) };
        } catch {
          return entry;
        }
      });
    },
    async countUnresolved(olderThanMs) {
      const snap = await db.collectionGroup('payments').where('settleQueuedAt', '<=', Timestamp.fromMillis(olderThanMs)).count().get();
      return Number(snap.data().count); // a bigint when the client reads integers as bigint
    },
    async requeueUnresolved(tenantId, paymentId, nowMs) {
      const ref = paymentRef(tenantId, paymentId);
      await runTransactionWithRetry(db, async (tx) => {
        // Only while still unresolved: a payment settled meanwhile must not re-enter the queue.
        const queuedAt: unknown = (await tx.get(ref)).get('settleQueuedAt');
        if (queuedAt === null || queuedAt === undefined) return;
        tx.update(ref, { settleQueuedAt: Timestamp.fromMillis(nowMs) });
      }, 'the payment is busy; the janitor tries it again next run', options.transaction);
    },

    async findCaptureDue(olderThanMs, limit) {
      const snap = await db.collectionGroup('payments').where('captureDueSince', '<=', Timestamp.fromMillis(olderThanMs))
        .orderBy('captureDueSince').limit(limit).get();
      return snap.docs.map((d) => ({ tenantId: d.get('tenantId') as string, paymentId: d.id }));
    },

    async createCustomer(c: Customer) {
      await tenant(c.tenantId).collection('customers').doc(c.id).create({ ...c, createdAt: Timestamp.fromMillis(c.createdAtMs) });
    },
    async getCustomer(tenantId, id) {
      const d = (await tenant(tenantId).collection('customers').doc(id).get()).data();
      return d ? { id, tenantId, email: d.email as string, name: d.name as string, createdAtMs: (d.createdAt as Timestamp).toMillis() } : undefined;
    },
    async listCustomers(tenantId, email, pageSize, cursor) {
      const customers = tenant(tenantId).collection('customers');
      let q = (email === '' ? customers : customers.where('email', '==', email)).orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const parts = decodePageToken(cursor, ['int', 'id']);
        q = q.startAfter(Timestamp.fromMillis(parts[0] as number), customers.doc(parts[1] as string));
      }
      const snap = await q.limit(pageSize + 1).get();
      const items: Customer[] = snap.docs.slice(0, pageSize).map((d) => ({
        id: d.id, tenantId, email: d.get('email') as string, name: d.get('name') as string, createdAtMs: (d.get('createdAt') as Timestamp).toMillis(),
      }));
      const last = items.at(-1);
      return { items, nextCursor: snap.size > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },
    async createPaymentMethod(m: PaymentMethod) {
      await tenant(m.tenantId).collection('paymentMethods').doc(m.id).create({ ...m, createdAt: Timestamp.fromMillis(m.createdAtMs) });
    },
    async getPaymentMethod(tenantId, id) {
      const d = (await tenant(tenantId).collection('paymentMethods').doc(id).get()).data();
      return d ? {
        id, tenantId, customerId: d.customerId as string, pspTokens: d.pspTokens as PaymentMethod['pspTokens'],
        brand: d.brand as string, country: d.country as string, last4: d.last4 as string, createdAtMs: (d.createdAt as Timestamp).toMillis(),
      } : undefined;
    },
    async getRoutingRules(tenantId) {
      const d = (await tenant(tenantId).collection('settings').doc('routing').get()).data();
      return d ? fromJsonWithBigint<RoutingRule[]>(d.rules as string) : undefined;
    },
    async setRoutingRules(tenantId, rules) {
      await tenant(tenantId).collection('settings').doc('routing').set({ rules: toJsonWithBigint(rules), updatedAt: Timestamp.now() });
    },
    async storeInboxEvent(tenantId, inboxId, event: PspWebhookEvent, receivedAtMs) {
      try {
        await inboxRef(tenantId, inboxId).create({ event: toJsonWithBigint(event), receivedAt: Timestamp.fromMillis(receivedAtMs), processedAt: null, psp: event.psp });
        return true;
      } catch (error) {
        if (isAlreadyExists(error)) return false;
        throw error;
      }
    },
    async getInboxEvent(tenantId, inboxId) {
      const d = (await inboxRef(tenantId, inboxId).get()).data();
      if (!d) return undefined;
      const failure = (d.failure as InboxFailure | undefined) ?? null;
      return { event: fromJsonWithBigint<PspWebhookEvent>(d.event as string), processed: d.processedAt !== null && d.processedAt !== undefined, failure };
    },
    async markEventFailed(tenantId, inboxId, failure, nowMs) {
      await inboxRef(tenantId, inboxId).set({ processedAt: Timestamp.fromMillis(nowMs), failedAt: Timestamp.fromMillis(nowMs), failure }, { merge: true });
    },
  };
}
