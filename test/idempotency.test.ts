/**
 * Idempotency as a platform piece, through the real API and the real Firestore store: replay,
 * mismatch, header keys, concurrent duplicates, retention (TTL field), release on failure, and
 * lease takeover after a crash.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFirestoreIdempotencyStore } from '../functions/src/adapters/firestore/idempotency-store.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { runIdempotently } from '../functions/src/platform/idempotency/idempotency.js';
import { Code, expectConnectError } from './support/connect-error.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

const keyCount = async (tenantId: string) => Number((await stack.services.db.collection(`tenants/${tenantId}/apiKeys`).count().get()).data().count);

describe('idempotent RPCs', () => {
  it('same key + same request returns the stored first response, secret withheld, nothing created twice', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const idempotencyKey = randomUUID();
    const first = await owner.tenancy.createApiKey({ name: 'ci', role: Role.DEVELOPER, idempotencyKey });
    const second = await owner.tenancy.createApiKey({ name: 'ci', role: Role.DEVELOPER, idempotencyKey });
    expect(first.apiKey?.secret).toMatch(/^sk_/);
    expect(second.apiKey?.id).toBe(first.apiKey?.id);
    expect(second.apiKey?.createTime).toEqual(first.apiKey?.createTime);
    // Secrets are shown once: the stored response never held it.
    expect(second.apiKey?.secret).toBe('');
    expect(await keyCount(tenantId)).toBe(2);
  });

  it('same key + different request fails with IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const idempotencyKey = randomUUID();
    await owner.tenancy.createApiKey({ name: 'one', role: Role.VIEWER, idempotencyKey });
    await expectConnectError(owner.tenancy.createApiKey({ name: 'two', role: Role.VIEWER, idempotencyKey }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    expect(await keyCount(tenantId)).toBe(2);
  });

  it('takes the key from the Idempotency-Key header, and refuses a header that contradicts the field', async () => {
    const { tenantId, ownerKey } = await stack.newTenant();
    const call = (headers: Record<string, string>, body: object) =>
      fetch(`${stack.url}/tally.tenancy.v1.TenancyService/CreateApiKey`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ownerKey}`, ...headers },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { apiKey?: { id: string }; code?: string } }));
    const key = randomUUID();
    const a = await call({ 'idempotency-key': key }, { name: 'h', role: 'ROLE_VIEWER' });
    const b = await call({ 'idempotency-key': key }, { name: 'h', role: 'ROLE_VIEWER' });
    expect(a.status).toBe(200);
    expect(b.body.apiKey?.id).toBe(a.body.apiKey?.id);
    // The field and the header name the same key: a request using the field replays it too.
    const c = await call({}, { name: 'h', role: 'ROLE_VIEWER', idempotencyKey: key });
    expect(c.body.apiKey?.id).toBe(a.body.apiKey?.id);
    const d = await call({ 'idempotency-key': 'other' }, { name: 'h', role: 'ROLE_VIEWER', idempotencyKey: key });
    expect(d.status).toBe(400);
    expect(await keyCount(tenantId)).toBe(2);
  });

  it('concurrent duplicates do the work once and all get the same answer', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const idempotencyKey = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => owner.tenancy.createApiKey({ name: 'race', role: Role.VIEWER, idempotencyKey })),
    );
    expect(new Set(results.map((r) => r.apiKey?.id)).size).toBe(1);
    expect(results.filter((r) => r.apiKey?.secret !== '').length).toBe(1);
    expect(await keyCount(tenantId)).toBe(2);
  });

  it('keeps records at least 24 h through the TTL field', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const before = Date.now();
    await owner.tenancy.createApiKey({ name: 'ttl', role: Role.VIEWER, idempotencyKey: randomUUID() });
    const docs = await stack.services.db.collection(`tenants/${tenantId}/idempotency`).get();
    expect(docs.size).toBe(1);
    const expireAt = docs.docs[0]!.get('expireAt').toMillis() as number;
    expect(expireAt - before).toBeGreaterThanOrEqual(24 * 3_600_000);
  });
});

describe('idempotency store semantics', () => {
  const store = () => createFirestoreIdempotencyStore(stack.services.db);
  const options = (nowMs: () => number) => ({ store: store(), clock: { nowMs }, leaseMs: 1_000, retentionMs: 86_400_000, waitMs: 0 });
  const call = (key: string, execute: () => Promise<string>) => ({
    scope: `ten_store_${key}`, method: 'test/Method', key, requestBytes: new TextEncoder().encode('req'),
    execute, encodeForStorage: (s: string) => new TextEncoder().encode(s), decode: (b: Uint8Array) => new TextDecoder().decode(b),
  });

  it('a failed execution releases the key so that a retry runs again', async () => {
    const key = randomUUID();
    await expect(runIdempotently(options(Date.now), call(key, async () => { throw new Error('boom'); }))).rejects.toThrow('boom');
    expect(await runIdempotently(options(Date.now), call(key, async () => 'second'))).toBe('second');
  });

  it('a holder that crashed (lease expired) is taken over; a live lease answers IN_PROGRESS', async () => {
    const key = randomUUID();
    let nowMs = Date.now();
    const reservation = await store().reserve({ scope: `ten_store_${key}`, method: 'test/Method', key, requestHash: 'x', nowMs, leaseMs: 1_000, retentionMs: 86_400_000 });
    expect(reservation.kind).toBe('execute');
    // Same request (hash of 'req') must match for takeover: re-reserve with the real hash path.
    const live = runIdempotently(options(() => nowMs), { ...call(key, async () => 'never'), requestBytes: new Uint8Array() });
    await expect(live).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' }); // different request hash than 'x'
    nowMs += 5_000;
    const crashedKey = randomUUID();
    const first = await store().reserve({ scope: `ten_store_${crashedKey}`, method: 'test/Method', key: crashedKey,
      requestHash: (await import('../functions/src/platform/idempotency/idempotency.js')).hashRequest(new TextEncoder().encode('req')),
      nowMs: Date.now(), leaseMs: 1_000, retentionMs: 86_400_000 });
    expect(first.kind).toBe('execute');
    const inProgress = runIdempotently(options(Date.now), call(crashedKey, async () => 'dup'));
    await expect(inProgress).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_IN_PROGRESS' });
    const later = Date.now() + 2_000;
    expect(await runIdempotently(options(() => later), call(crashedKey, async () => 'taken over'))).toBe('taken over');
    // The crashed holder wakes up: neither its completion nor its release touches the new answer
    // (its single-write fast path fails its precondition and the token check refuses it).
    if (first.kind !== 'execute') throw new Error('unreachable');
    const ref = { scope: `ten_store_${crashedKey}`, method: 'test/Method', key: crashedKey, leaseToken: first.leaseToken };
    await store().complete({ ...ref, response: new TextEncoder().encode('stale'), nowMs: Date.now() });
    await store().release(ref);
    expect(await runIdempotently(options(() => later), call(crashedKey, async () => 'ran again'))).toBe('taken over');
  });
});
