/**
 * Billing on Firestore (ADR 0032), under `tenants/{t}/`: `products`, `prices`, `coupons`,
 * `billingCustomers/{customerId}`, `subscriptions`, `invoices`, `creditNotes`, `usageRecords` (and their
 * running aggregates `usageAggregates`, ADR 0035),
 * `testClocks`, `settings/billing`, and the gapless invoice counter `billingCounters/invoices`.
 * Aggregates are stored whole as JSON with exact bigints in `state` (as payments), with the fields
 * queries need copied beside it: `nextActionAt` + `testClockId` (billingRun's renewal queue),
 * `nextAttemptAt` + `testClockId` (its charge queue), `createdAt` + `subscriptionId` (listing).
 */
import { Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import type { Price, Product } from '../../domain/billing/catalog.js';
import { USAGE_AGGREGATE_SHARDS, addUsage, emptyUsageAggregate, mergeUsageAggregates, usageShardOf, type UsageAggregate } from '../../domain/billing/usage-aggregate.js';
import type {
  BillingCustomer, BillingSettings, BillingStore, BillingTx, Coupon, CreditNote, DueRef, Invoice, Subscription, TestClock,
} from '../../ports/billing-store.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';
import { createIdempotencyTx } from './idempotency-store.js';
import { fromJsonWithBigint, toJsonWithBigint } from './json-bigint.js';
import { createLedgerTx } from './ledger-store.js';
import { createOutboxWrites } from './outbox-store.js';
import { runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';
import { readerOf } from './tx-reader.js';

const ts = (ms: number | null) => (ms === null ? null : Timestamp.fromMillis(ms));

export function createFirestoreBillingStore(db: Firestore, options: { transaction?: TransactionOptions } = {}): BillingStore {
  const tenant = (t: string) => db.collection('tenants').doc(t);
  // Literal collection names (the rules test finds every collection the code uses by them).
  const collections = {
    products: (t: string) => tenant(t).collection('products'),
    prices: (t: string) => tenant(t).collection('prices'),
    coupons: (t: string) => tenant(t).collection('coupons'),
    billingCustomers: (t: string) => tenant(t).collection('billingCustomers'),
    subscriptions: (t: string) => tenant(t).collection('subscriptions'),
    invoices: (t: string) => tenant(t).collection('invoices'),
    creditNotes: (t: string) => tenant(t).collection('creditNotes'),
    usageRecords: (t: string) => tenant(t).collection('usageRecords'),
    usageAggregates: (t: string) => tenant(t).collection('usageAggregates'),
    testClocks: (t: string) => tenant(t).collection('testClocks'),
    settings: (t: string) => tenant(t).collection('settings'),
    billingCounters: (t: string) => tenant(t).collection('billingCounters'),
  } as const;
  const col = (t: string, name: keyof typeof collections) => collections[name](t);
  const counterRef = (t: string) => col(t, 'billingCounters').doc('invoices');
  /** One shard of a (subscription, price, period) usage aggregate (ADR 0035). */
  const aggregateRef = (t: string, subscriptionId: string, priceId: string, periodStartMs: number, shard: number) =>
    col(t, 'usageAggregates').doc(`${subscriptionId}_${priceId}_${periodStartMs}_${shard}`);
  const subDoc = (s: Subscription, trace: { traceId: string; spanId: string }): DocumentData => ({
    state: toJsonWithBigint(s), tenantId: s.tenantId, status: s.status, customerId: s.customerId, testClockId: s.testClockId,
    nextActionAt: ts(s.nextActionAtMs), createdAt: ts(s.createdAtMs), updatedAt: ts(s.updatedAtMs), traceId: trace.traceId, spanId: trace.spanId,
  });
  const invoiceDoc = (i: Invoice, trace: { traceId: string; spanId: string }): DocumentData => ({
    state: toJsonWithBigint(i), tenantId: i.tenantId, status: i.status, number: i.number, customerId: i.customerId, subscriptionId: i.subscriptionId,
    testClockId: i.testClockId, nextAttemptAt: i.status === 'open' ? ts(i.nextAttemptAtMs) : null,
    createdAt: ts(i.createdAtMs), traceId: trace.traceId, spanId: trace.spanId,
  });
  const parse = <T>(d: DocumentData | undefined): T | undefined => (d ? fromJsonWithBigint<T>(d.state as string) : undefined);
  /** A page of `q` newest first (createdAt, then id); the cursor holds `keysOf` of the page's last item. */
  const catalogPage = async <T>(
    q: FirebaseFirestore.Query, collection: FirebaseFirestore.CollectionReference, pageSize: number, cursor: string | undefined, keysOf: (item: T) => [number, string],
  ) => {
    let ordered = q.orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
    if (cursor !== undefined) {
      const parts = decodePageToken(cursor, ['int', 'id']);
      ordered = ordered.startAfter(Timestamp.fromMillis(parts[0] as number), collection.doc(parts[1] as string));
    }
    const snap = await ordered.limit(pageSize + 1).get();
    const items = snap.docs.slice(0, pageSize).map((d) => parse<T>(d.data())!);
    const last = items.at(-1);
    return { items, nextCursor: snap.size > pageSize && last !== undefined ? encodePageToken(keysOf(last)) : undefined };
  };
  /** One page of `q` newest first (createdAt, then id), with a cursor of the last item's sort keys. */
  const newestFirst = <T extends { id: string; createdAtMs: number }>(
    q: FirebaseFirestore.Query, collection: FirebaseFirestore.CollectionReference, pageSize: number, cursor: string | undefined,
  ) => catalogPage<T>(q, collection, pageSize, cursor, (item) => [item.createdAtMs, item.id]);
  const due = async (field: 'nextActionAt' | 'nextAttemptAt', collection: 'subscriptions' | 'invoices', nowMs: number, limit: number, clock?: { tenantId: string; testClockId: string }): Promise<DueRef[]> => {
    const base = clock ? col(clock.tenantId, collection) : db.collectionGroup(collection);
    const snap = await base.where('testClockId', '==', clock?.testClockId ?? '').where(field, '<=', Timestamp.fromMillis(nowMs))
      .orderBy(field).limit(limit).get();
    return snap.docs.map((d) => ({ tenantId: d.get('tenantId') as string, id: d.id, dueAtMs: (d.get(field) as Timestamp).toMillis(), state: parse(d.data()) }));
  };

  return {
    async transaction(tenantId, work) {
      return runTransactionWithRetry(db, async (tx) => {
        const outbox = createOutboxWrites(db, tenantId);
        const reader = readerOf(tx);
        const getMany = async <T>(name: 'subscriptions' | 'invoices', ids: readonly string[]) => {
          const docs = await Promise.all([...new Set(ids)].map((id) => reader.get(col(tenantId, name).doc(id))));
          const found = new Map<string, T>();
          for (const d of docs) if (d.exists) found.set(d.id, parse<T>(d.data())!);
          return found;
        };
        const view: BillingTx = {
          ledger: createLedgerTx(db, tenantId, tx, outbox),
          idempotency: createIdempotencyTx(db, tx),
          getSubscriptions: (ids) => getMany<Subscription>('subscriptions', ids),
          getInvoices: (ids) => getMany<Invoice>('invoices', ids),
          async getInvoiceCounter() {
            const last: unknown = (await reader.get(counterRef(tenantId))).get('last');
            return last === undefined ? 0 : Number(last);
          },
          async getCustomerCredit(customerId, currency) {
            // Beside the profile's `state` (which UpdateBillingCustomer rewrites by merge): only billing's transactions change it.
            const balances: unknown = (await reader.get(col(tenantId, 'billingCustomers').doc(customerId))).get('creditBalances');
            const found = (balances as Record<string, unknown> | undefined)?.[currency];
            return typeof found === 'string' ? BigInt(found) : 0n;
          },
          setCustomerCredit(customerId, currency, amountMinor) {
            tx.set(col(tenantId, 'billingCustomers').doc(customerId), { creditBalances: { [currency]: amountMinor.toString() } }, { merge: true });
          },
          async getCreditNote(id) { return parse<CreditNote>((await reader.get(col(tenantId, 'creditNotes').doc(id))).data()); },
          setSubscription(s, trace) { tx.set(col(tenantId, 'subscriptions').doc(s.id), subDoc(s, trace)); },
          setInvoice(i, trace) { tx.set(col(tenantId, 'invoices').doc(i.id), invoiceDoc(i, trace)); },
          setInvoiceCounter(last) { tx.set(counterRef(tenantId), { last, updatedAt: Timestamp.now() }); },
          createCreditNote(n, trace) {
            tx.create(col(tenantId, 'creditNotes').doc(n.id), { state: toJsonWithBigint(n), invoiceId: n.invoiceId, createdAt: ts(n.createdAtMs), ...trace });
          },
          createOutboxEvent(e) { outbox.add(e); },
        };
        const result = await work(view);
        outbox.writeTo(tx);
        return result;
      }, 'billing is busy on this tenant; retry with the same idempotency key', options.transaction);
    },

    async createProduct(t, product, createdAtMs) {
      await col(t, 'products').doc(product.id).create({ state: toJsonWithBigint({ product, createdAtMs }), createdAt: ts(createdAtMs) });
    },
    async createPrice(t, price, createdAtMs) {
      await col(t, 'prices').doc(price.id).create({ state: toJsonWithBigint({ price, createdAtMs }), productId: price.productId, createdAt: ts(createdAtMs) });
    },
    async createCoupon(t, coupon) { await col(t, 'coupons').doc(coupon.id).create({ state: toJsonWithBigint(coupon), createdAt: ts(coupon.createdAtMs) }); },
    async createTestClock(t, clock) { await col(t, 'testClocks').doc(clock.id).create({ state: toJsonWithBigint(clock), createdAt: ts(clock.createdAtMs) }); },
    async createUsageRecord(t, r) {
      const recordRef = col(t, 'usageRecords').doc(r.id);
      const shardRef = aggregateRef(t, r.subscriptionId, r.priceId, r.periodStartMs, usageShardOf(r.id));
      // The record and its aggregate together: a replayed report (same id) changes neither.
      return runTransactionWithRetry(db, async (tx) => {
        const [record, shard] = await tx.getAll(recordRef, shardRef);
        if (record!.exists) return false;
        const before = parse<UsageAggregate>(shard!.data()) ?? emptyUsageAggregate;
        tx.create(recordRef, { state: toJsonWithBigint(r), subscriptionId: r.subscriptionId, priceId: r.priceId, at: ts(r.atMs), createdAt: ts(r.createdAtMs) });
        tx.set(shardRef, { state: toJsonWithBigint(addUsage(before, r)), subscriptionId: r.subscriptionId, priceId: r.priceId, periodStart: ts(r.periodStartMs) });
        return true;
      }, 'usage of this subscription is busy; retry with the same idempotency key', options.transaction);
    },
    async getUsageAggregate(t, subscriptionId, priceId, periodStartMs) {
      const refs = Array.from({ length: USAGE_AGGREGATE_SHARDS }, (_, shard) => aggregateRef(t, subscriptionId, priceId, periodStartMs, shard));
      const docs = await db.getAll(...refs);
      return mergeUsageAggregates(docs.map((d) => parse<UsageAggregate>(d.data()) ?? emptyUsageAggregate));
    },
    async getProduct(t, id) { return parse((await col(t, 'products').doc(id).get()).data()); },
    async getPrice(t, id) { return parse((await col(t, 'prices').doc(id).get()).data()); },
    async getCoupon(t, id) { return parse((await col(t, 'coupons').doc(id).get()).data()); },
    async getBillingCustomer(t, id) { return parse<BillingCustomer>((await col(t, 'billingCustomers').doc(id).get()).data()); },
    async setBillingCustomer(t, c) {
      // Merge: the credit balance billing keeps beside `state` (creditBalances) survives a profile update.
      await col(t, 'billingCustomers').doc(c.customerId).set({ state: toJsonWithBigint(c), testClockId: c.testClockId, updatedAt: ts(c.updatedAtMs) }, { merge: true });
    },
    async getSettings(t) { return parse<BillingSettings>((await col(t, 'settings').doc('billing').get()).data()); },
    async setSettings(t, s) { await col(t, 'settings').doc('billing').set({ state: toJsonWithBigint(s), updatedAt: Timestamp.now() }); },
    async getTestClock(t, id) { return parse<TestClock>((await col(t, 'testClocks').doc(id).get()).data()); },
    async setTestClockTime(t, id, frozenTimeMs) {
      const ref = col(t, 'testClocks').doc(id);
      await runTransactionWithRetry(db, async (tx) => {
        const clock = parse<TestClock>((await tx.get(ref)).data());
        if (!clock) throw new Error(`assertion failed: test clock ${id} vanished`);
        // Never backwards (two advances racing): the later time wins.
        if (frozenTimeMs > clock.frozenTimeMs) tx.set(ref, { state: toJsonWithBigint({ ...clock, frozenTimeMs }), createdAt: ts(clock.createdAtMs) });
      }, 'the test clock is busy; retry', options.transaction);
    },
    async getSubscription(t, id) { return parse<Subscription>((await col(t, 'subscriptions').doc(id).get()).data()); },
    async getInvoice(t, id) { return parse<Invoice>((await col(t, 'invoices').doc(id).get()).data()); },
    async listInvoices(t, filter, pageSize, cursor) {
      let q: FirebaseFirestore.Query = col(t, 'invoices');
      if (filter.subscriptionId) q = q.where('subscriptionId', '==', filter.subscriptionId);
      if (filter.customerId) q = q.where('customerId', '==', filter.customerId);
      return newestFirst<Invoice>(q, col(t, 'invoices'), pageSize, cursor);
    },
    async listSubscriptions(t, customerId, pageSize, cursor) {
      const q = customerId === '' ? col(t, 'subscriptions') : col(t, 'subscriptions').where('customerId', '==', customerId);
      return newestFirst<Subscription>(q, col(t, 'subscriptions'), pageSize, cursor);
    },
    dueSubscriptions: (nowMs, limit, clock) => due('nextActionAt', 'subscriptions', nowMs, limit, clock),
    dueInvoices: (nowMs, limit, clock) => due('nextAttemptAt', 'invoices', nowMs, limit, clock),
    listProducts: (t, pageSize, cursor) =>
      catalogPage<{ product: Product; createdAtMs: number }>(col(t, 'products'), col(t, 'products'), pageSize, cursor, (s) => [s.createdAtMs, s.product.id]),
    listPrices: (t, productId, pageSize, cursor) =>
      catalogPage<{ price: Price; createdAtMs: number }>(productId === '' ? col(t, 'prices') : col(t, 'prices').where('productId', '==', productId), col(t, 'prices'),
        pageSize, cursor, (s) => [s.createdAtMs, s.price.id]),
    listCoupons: (t, pageSize, cursor) => catalogPage<Coupon>(col(t, 'coupons'), col(t, 'coupons'), pageSize, cursor, (c) => [c.createdAtMs, c.id]),
    async getCustomerCreditBalances(t, customerId) {
      const doc = await col(t, 'billingCustomers').doc(customerId).get();
      if (!doc.exists || doc.get('state') === undefined) return undefined;
      const stored = (doc.get('creditBalances') ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(stored).filter(([, v]) => typeof v === 'string').map(([c, v]) => [c, BigInt(v as string)]));
    },
  };
}

export type { Product, Price, Coupon, TestClock };
