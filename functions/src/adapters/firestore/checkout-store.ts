/**
 * Checkout sessions on Firestore (issue 17, ADR 0036):
 *   tenants/{t}/checkoutSessions/{cs_...}: the session (amounts as decimal strings), `clientSecretSha256`,
 *     `attempt` (the running payment attempt's lease), `createdAt` (listing order), `expireAt`;
 *   checkoutSecrets/{sha256 of the client secret}: {tenantId, sessionId, expireAt}: the buyer's
 *     requests carry only the secret. Keyed by the hash, so the index holds no secret either.
 * A session's change and its outbox events commit in one transaction (createOutboxWrites). Both
 * documents carry `expireAt` (TTL, firestore.indexes.json): removed 90 days after the session expires.
 */
import { Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import type { CheckoutLine, CheckoutSession, CheckoutTaxLine } from '../../domain/checkout/session.js';
import type { CheckoutStore } from '../../ports/checkout-store.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';
import { createOutboxWrites } from './outbox-store.js';
import { runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';

/** How long a session (and its secret's index entry) is kept after it expires (TTL on `expireAt`). */
export const checkoutRetentionMs = 90 * 86_400_000;

const big = (v: unknown): bigint => BigInt(String(v ?? '0'));

function lineToDoc(l: CheckoutLine): DocumentData {
  return {
    name: l.name, priceId: l.priceId, quantity: l.quantity.toString(), unitAmountMinor: l.unitAmountMinor.toString(), amountMinor: l.amountMinor.toString(),
    taxBehavior: l.taxBehavior, taxCategory: l.taxCategory, recurring: l.recurring === null ? null : { unit: l.recurring.unit, count: l.recurring.count },
    subtotalMinor: l.subtotalMinor.toString(), taxMinor: l.taxMinor.toString(), totalMinor: l.totalMinor.toString(), taxRatePpm: l.taxRatePpm,
  };
}

function lineFromDoc(d: DocumentData): CheckoutLine {
  return {
    name: String(d.name), priceId: String(d.priceId ?? ''), quantity: big(d.quantity), unitAmountMinor: big(d.unitAmountMinor), amountMinor: big(d.amountMinor),
    taxBehavior: d.taxBehavior, taxCategory: d.taxCategory,
    recurring: d.recurring ? { unit: d.recurring.unit, count: Number(d.recurring.count) } : null,
    subtotalMinor: big(d.subtotalMinor), taxMinor: big(d.taxMinor), totalMinor: big(d.totalMinor), taxRatePpm: Number(d.taxRatePpm ?? 0),
  };
}

const taxLineToDoc = (t: CheckoutTaxLine): DocumentData => ({
  ratePpm: t.ratePpm, country: t.country, treatment: t.treatment, taxableMinor: t.taxableMinor.toString(), taxMinor: t.taxMinor.toString(), reason: t.reason,
});
const taxLineFromDoc = (d: DocumentData): CheckoutTaxLine => ({
  ratePpm: Number(d.ratePpm), country: String(d.country), treatment: d.treatment, taxableMinor: big(d.taxableMinor), taxMinor: big(d.taxMinor), reason: String(d.reason ?? ''),
});

function sessionToDoc(s: CheckoutSession): DocumentData {
  return {
    mode: s.mode, status: s.status, currency: s.currency, lines: s.lines.map(lineToDoc),
    subtotalMinor: s.subtotalMinor.toString(), taxMinor: s.taxMinor.toString(), totalMinor: s.totalMinor.toString(), taxLines: s.taxLines.map(taxLineToDoc),
    automaticTax: s.automaticTax, customerEmail: s.customerEmail, customerCountry: s.customerCountry, customerPostcode: s.customerPostcode,
    customerId: s.customerId, paymentId: s.paymentId, subscriptionId: s.subscriptionId, successUrl: s.successUrl, cancelUrl: s.cancelUrl,
    metadata: { ...s.metadata }, clientSecretSha256: s.clientSecretSha256, expiresAtMs: s.expiresAtMs,
    createdAt: Timestamp.fromMillis(s.createdAtMs), completedAtMs: s.completedAtMs, updatedAtMs: s.updatedAtMs,
    attempt: s.attempt === null ? null : { key: s.attempt.key, leaseUntilMs: s.attempt.leaseUntilMs },
    declineCode: s.declineCode, declineMessage: s.declineMessage, traceId: s.traceId,
    expireAt: Timestamp.fromMillis(s.expiresAtMs + checkoutRetentionMs),
  };
}

function sessionFromDoc(tenantId: string, id: string, d: DocumentData): CheckoutSession {
  return {
    id, tenantId, mode: d.mode, status: d.status, currency: String(d.currency), lines: ((d.lines ?? []) as DocumentData[]).map(lineFromDoc),
    subtotalMinor: big(d.subtotalMinor), taxMinor: big(d.taxMinor), totalMinor: big(d.totalMinor), taxLines: ((d.taxLines ?? []) as DocumentData[]).map(taxLineFromDoc),
    automaticTax: d.automaticTax === true, customerEmail: String(d.customerEmail ?? ''), customerCountry: String(d.customerCountry ?? ''),
    customerPostcode: String(d.customerPostcode ?? ''), customerId: String(d.customerId ?? ''), paymentId: String(d.paymentId ?? ''),
    subscriptionId: String(d.subscriptionId ?? ''), successUrl: String(d.successUrl ?? ''), cancelUrl: String(d.cancelUrl ?? ''),
    metadata: (d.metadata ?? {}) as Record<string, string>, clientSecretSha256: String(d.clientSecretSha256), expiresAtMs: Number(d.expiresAtMs),
    createdAtMs: (d.createdAt as Timestamp).toMillis(), completedAtMs: d.completedAtMs === null || d.completedAtMs === undefined ? null : Number(d.completedAtMs),
    updatedAtMs: Number(d.updatedAtMs), attempt: d.attempt ? { key: String(d.attempt.key), leaseUntilMs: Number(d.attempt.leaseUntilMs) } : null,
    declineCode: String(d.declineCode ?? ''), declineMessage: String(d.declineMessage ?? ''), traceId: String(d.traceId ?? ''),
  };
}

export function createFirestoreCheckoutStore(db: Firestore, options: { transaction?: TransactionOptions } = {}): CheckoutStore {
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const sessionRef = (t: string, id: string) => tenant(t).collection('checkoutSessions').doc(id);
  const secretRef = (sha256: string) => db.collection('checkoutSecrets').doc(sha256);

  return {
    async createSession(session) {
      const batch = db.batch();
      batch.create(sessionRef(session.tenantId, session.id), sessionToDoc(session));
      batch.create(secretRef(session.clientSecretSha256), {
        tenantId: session.tenantId, sessionId: session.id, expireAt: Timestamp.fromMillis(session.expiresAtMs + checkoutRetentionMs),
      });
      await batch.commit();
    },

    async getSession(tenantId, sessionId) {
      const snap = await sessionRef(tenantId, sessionId).get();
      return snap.exists ? sessionFromDoc(tenantId, snap.id, snap.data()!) : undefined;
    },

    async listSessions(tenantId, pageSize, cursor) {
      let query = tenant(tenantId).collection('checkoutSessions').orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const [ms, id] = decodePageToken(cursor, ['int', 'id']) as [number, string];
        query = query.startAfter(Timestamp.fromMillis(ms), sessionRef(tenantId, id));
      }
      const snap = await query.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => sessionFromDoc(tenantId, d.id, d.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.docs.length > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },

    async findBySecretSha256(secretSha256) {
      if (!/^[0-9a-f]{64}$/.test(secretSha256)) return undefined;
      const snap = await secretRef(secretSha256).get();
      if (!snap.exists) return undefined;
      return { tenantId: String(snap.get('tenantId')), sessionId: String(snap.get('sessionId')) };
    },

    updateSession(tenantId, sessionId, change) {
      return runTransactionWithRetry(db, async (tx) => {
        const ref = sessionRef(tenantId, sessionId);
        const snap = await tx.get(ref);
        if (!snap.exists) return undefined;
        const current = sessionFromDoc(tenantId, snap.id, snap.data()!);
        const next = change(current);
        if (next === null) return current;
        tx.set(ref, sessionToDoc(next.session));
        if (next.events.length > 0) {
          const outbox = createOutboxWrites(db, tenantId);
          for (const event of next.events) outbox.add(event);
          outbox.writeTo(tx);
        }
        return next.session;
      }, 'the checkout session is busy; retry', options.transaction);
    },
  };
}
