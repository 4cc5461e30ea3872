import { Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import { isRole } from '../../domain/tenancy/role.js';
import type { ApiKeyRecord, Tenant } from '../../domain/tenancy/tenant.js';
import type { TenantPricing } from '../../domain/payments/ledger-postings.js';
import type { Page, TenancyRepository } from '../../ports/tenancy-repository.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';

/**
 * Layout: `tenants/{tenantId}`, `tenants/{tenantId}/apiKeys/{keyId}`, and the lookup index
 * `apiKeyHashes/{secretHash} -> {tenantId, keyId}` so that authenticating is one direct read instead
 * of a collection-group query. Key and index are always written in one transaction.
 */
export function createFirestoreTenancyRepository(db: Firestore): TenancyRepository {
  const tenantDoc = (tenantId: string) => db.collection('tenants').doc(tenantId);
  const keyDoc = (tenantId: string, keyId: string) => tenantDoc(tenantId).collection('apiKeys').doc(keyId);
  const hashDoc = (hash: string) => db.collection('apiKeyHashes').doc(hash);

  const tenantToDoc = (t: Tenant): DocumentData => ({
    name: t.name,
    testMode: t.testMode === true,
    createdAt: Timestamp.fromMillis(t.createdAtMs),
    traceId: t.traceId,
    spanId: t.spanId,
  });
  // Pricing amounts as decimal strings (exact; Firestore integers are 64-bit but JS numbers are not).
  const pricingToDoc = (p: TenantPricing): DocumentData => ({
    rateBps: p.rateBps, fixedMinorByCurrency: Object.fromEntries(Object.entries(p.fixedMinorByCurrency).map(([c, v]) => [c, v.toString()])),
  });
  const pricingFromDoc = (d: unknown): TenantPricing | null => {
    if (d === null || d === undefined) return null;
    // The client may read integers back as bigint (useBigInt): the rate is a small integer either way.
    const p = d as { rateBps: number | bigint; fixedMinorByCurrency: Record<string, string> };
    return { rateBps: Number(p.rateBps), fixedMinorByCurrency: Object.fromEntries(Object.entries(p.fixedMinorByCurrency).map(([c, v]) => [c, BigInt(v)])) };
  };
  const tenantFromDoc = (tenantId: string, d: DocumentData): Tenant => ({
    id: tenantId,
    name: d.name as string,
    createdAtMs: (d.createdAt as Timestamp).toMillis(),
    traceId: (d.traceId as string) ?? '',
    spanId: (d.spanId as string) ?? '',
    pricing: pricingFromDoc(d.pricing),
    testMode: d.testMode === true,
  });
  const keyToDoc = (k: ApiKeyRecord): DocumentData => ({
    tenantId: k.tenantId,
    name: k.name,
    role: k.role,
    secretHash: k.secretHash,
    secretLast4: k.secretLast4,
    createdAt: Timestamp.fromMillis(k.createdAtMs),
    revokedAt: k.revokedAtMs === null ? null : Timestamp.fromMillis(k.revokedAtMs),
    traceId: k.traceId,
    spanId: k.spanId,
  });
  // The index denormalizes role and revocation so that authentication is one read; both are
  // written in the same transaction as the key itself.
  const indexToDoc = (k: ApiKeyRecord): DocumentData => ({ tenantId: k.tenantId, keyId: k.id, role: k.role, revoked: k.revokedAtMs !== null });
  const keyFromDoc = (id: string, d: DocumentData): ApiKeyRecord => {
    const role = d.role as unknown;
    if (!isRole(role)) throw new Error(`assertion failed: stored key ${id} has role ${String(role)}`);
    return {
      id,
      tenantId: d.tenantId as string,
      name: d.name as string,
      role,
      secretHash: d.secretHash as string,
      secretLast4: d.secretLast4 as string,
      createdAtMs: (d.createdAt as Timestamp).toMillis(),
      revokedAtMs: d.revokedAt ? (d.revokedAt as Timestamp).toMillis() : null,
      traceId: (d.traceId as string) ?? '',
      spanId: (d.spanId as string) ?? '',
    };
  };

  return {
    async createTenant(tenant, ownerKey) {
      const batch = db.batch();
      batch.create(tenantDoc(tenant.id), tenantToDoc(tenant));
      batch.create(keyDoc(tenant.id, ownerKey.id), keyToDoc(ownerKey));
      batch.create(hashDoc(ownerKey.secretHash), indexToDoc(ownerKey));
      await batch.commit();
    },

    async getTenant(tenantId) {
      const snap = await tenantDoc(tenantId).get();
      const d = snap.data();
      if (!d) return undefined;
      return tenantFromDoc(tenantId, d);
    },

    async setTenantPricing(tenantId, pricing) {
      const ref = tenantDoc(tenantId);
      return db.runTransaction(async (tx) => {
        const d = (await tx.get(ref)).data();
        if (!d) return undefined;
        tx.update(ref, { pricing: pricingToDoc(pricing) });
        return tenantFromDoc(tenantId, { ...d, pricing: pricingToDoc(pricing) });
      }, { maxAttempts: 5 });
    },

    async createApiKey(key) {
      const batch = db.batch();
      batch.create(keyDoc(key.tenantId, key.id), keyToDoc(key));
      batch.create(hashDoc(key.secretHash), indexToDoc(key));
      await batch.commit();
    },

    async revokeApiKey(tenantId, keyId, revokedAtMs) {
      const doc = keyDoc(tenantId, keyId);
      return db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        const d = snap.data();
        if (!d) return undefined;
        const key = keyFromDoc(keyId, d);
        if (key.revokedAtMs !== null) return key;
        tx.update(doc, { revokedAt: Timestamp.fromMillis(revokedAtMs) });
        tx.update(hashDoc(key.secretHash), { revoked: true });
        return { ...key, revokedAtMs };
      });
    },

    async listApiKeys(tenantId, pageSize, cursor): Promise<Page<ApiKeyRecord>> {
      let query = tenantDoc(tenantId).collection('apiKeys').orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor !== undefined) {
        const parsed = decodeCursor(cursor);
        query = query.startAfter(Timestamp.fromMillis(parsed.createdAtMs), keyDoc(tenantId, parsed.id));
      }
      // One extra document tells whether another page exists without a second query.
      const snap = await query.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((doc) => keyFromDoc(doc.id, doc.data()));
      const last = items.at(-1);
      const nextCursor = snap.docs.length > pageSize && last ? encodeCursor({ createdAtMs: last.createdAtMs, id: last.id }) : undefined;
      return { items, nextCursor };
    },

    async findApiKeyByHash(secretHash) {
      const d = (await hashDoc(secretHash).get()).data();
      if (!d) return undefined;
      const role = d.role as unknown;
      if (!isRole(role)) throw new Error(`assertion failed: key index ${secretHash.slice(0, 8)} has role ${String(role)}`);
      return { tenantId: d.tenantId as string, keyId: d.keyId as string, role, revoked: d.revoked === true };
    },
  };
}

function encodeCursor(cursor: { createdAtMs: number; id: string }): string {
  return encodePageToken([cursor.createdAtMs, cursor.id]);
}

function decodeCursor(token: string): { createdAtMs: number; id: string } {
  const [createdAtMs, id] = decodePageToken(token, ['int', 'id']) as [number, string];
  return { createdAtMs, id };
}
