/**
 * TenancyService end to end over real HTTP against the emulators: tenants, API keys (hashed,
 * shown once, revocable, role-scoped), Firebase Auth ID tokens, and tenant isolation.
 */
import { randomUUID } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTallyClient } from '../functions/src/cli/client.js';
import { hashApiKeySecret } from '../functions/src/domain/tenancy/api-key-secret.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { expectConnectError, rpcError } from './support/connect-error.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

/** Signs a user in on the Auth emulator and returns a real ID token carrying `claims`. */
async function idTokenWithClaims(claims: Record<string, unknown> | null): Promise<string> {
  const app = getApps()[0] ?? initializeApp({ projectId: process.env.GCLOUD_PROJECT });
  const auth = getAuth(app);
  const email = `${randomUUID()}@example.com`;
  const user = await auth.createUser({ email, password: 'secret-password' });
  if (claims) await auth.setCustomUserClaims(user.uid, claims);
  const res = await fetch(`http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'secret-password', returnSecureToken: true }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { idToken: string }).idToken;
}

describe('tenants', () => {
  it('creates a tenant with an owner key that works at once, and stores only the key hash', async () => {
    const res = await stack.admin.tenancy.createTenant({ name: 'Acme', idempotencyKey: randomUUID() });
    const tenant = res.tenant!;
    const key = res.ownerApiKey!;
    expect(tenant.id).toMatch(/^ten_/);
    expect(key.secret).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(key.role).toBe(Role.OWNER);
    expect(key.secretLast4).toBe(key.secret.slice(-4));

    const owner = createTallyClient(stack.url, key.secret);
    expect((await owner.tenancy.getTenant({})).tenant?.name).toBe('Acme');

    // At rest: the key document and its index hold the hash, never the secret.
    const db = stack.services.db;
    const keyDoc = (await db.doc(`tenants/${tenant.id}/apiKeys/${key.id}`).get()).data()!;
    expect(keyDoc.secretHash).toBe(hashApiKeySecret(key.secret));
    expect(JSON.stringify(keyDoc)).not.toContain(key.secret);
    const index = await db.doc(`apiKeyHashes/${hashApiKeySecret(key.secret)}`).get();
    expect(index.data()).toMatchObject({ tenantId: tenant.id, keyId: key.id, role: 'owner', revoked: false });
    // Every written entity carries the trace of the request that made it.
    expect(keyDoc.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect((await db.doc(`tenants/${tenant.id}`).get()).get('traceId')).toBe(keyDoc.traceId);
  });

  it('lets only the platform admin create tenants', async () => {
    const { owner } = await stack.newTenant();
    const err = await rpcError(owner.tenancy.createTenant({ name: 'Sneaky', idempotencyKey: randomUUID() }));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.reason).toBe('PERMISSION_DENIED');
  });

  it('answers NOT_FOUND for another tenant, exactly as for an unknown one', async () => {
    const a = await stack.newTenant('A');
    const b = await stack.newTenant('B');
    const cross = await expectConnectError(a.owner.tenancy.getTenant({ tenantId: b.tenantId }), Code.NotFound, 'NOT_FOUND');
    const unknown = await expectConnectError(a.owner.tenancy.getTenant({ tenantId: 'ten_doesnotexist' }), Code.NotFound, 'NOT_FOUND');
    expect(cross.metadata).toEqual(unknown.metadata); // nothing tells the two apart
    expect((await a.owner.tenancy.getTenant({ tenantId: a.tenantId })).tenant?.id).toBe(a.tenantId);
  });
});

describe('authentication', () => {
  it('rejects missing, malformed, unknown and revoked credentials with typed reasons', async () => {
    expect((await rpcError(createTallyClient(stack.url, undefined).tenancy.getTenant({}))).reason).toBe('CREDENTIALS_MISSING');
    const malformed = await rpcError(createTallyClient(stack.url, 'sk_short').tenancy.getTenant({}));
    expect(malformed).toMatchObject({ code: Code.Unauthenticated, reason: 'CREDENTIALS_INVALID' });
    const unknown = await rpcError(createTallyClient(stack.url, `sk_${'A'.repeat(43)}`).tenancy.getTenant({}));
    expect(unknown).toMatchObject({ code: Code.Unauthenticated, reason: 'CREDENTIALS_INVALID' });
    const notAToken = await rpcError(createTallyClient(stack.url, 'eyJhbGciOiJub25lIn0.e30.').tenancy.getTenant({}));
    expect(notAToken).toMatchObject({ code: Code.Unauthenticated, reason: 'CREDENTIALS_INVALID' });
  });

  it('revocation takes effect at once and is idempotent', async () => {
    const { owner } = await stack.newTenant();
    const { apiKey } = await owner.tenancy.createApiKey({ name: 'temp', role: Role.DEVELOPER, idempotencyKey: randomUUID() });
    const dev = createTallyClient(stack.url, apiKey!.secret);
    await dev.tenancy.getTenant({});
    const first = await owner.tenancy.revokeApiKey({ apiKeyId: apiKey!.id, idempotencyKey: randomUUID() });
    expect(first.apiKey?.revokeTime).toBeDefined();
    expect((await rpcError(dev.tenancy.getTenant({}))).reason).toBe('CREDENTIALS_INVALID');
    const again = await owner.tenancy.revokeApiKey({ apiKeyId: apiKey!.id, idempotencyKey: randomUUID() });
    expect(again.apiKey?.revokeTime).toEqual(first.apiKey?.revokeTime);
  });

  it('enforces roles: viewer reads, developer lists keys, only owner manages keys', async () => {
    const { owner } = await stack.newTenant();
    const mk = async (role: Role) =>
      createTallyClient(stack.url, (await owner.tenancy.createApiKey({ name: `k${role}`, role, idempotencyKey: randomUUID() })).apiKey!.secret);
    const viewer = await mk(Role.VIEWER);
    const developer = await mk(Role.DEVELOPER);
    await viewer.tenancy.getTenant({});
    await expectConnectError(viewer.tenancy.listApiKeys({}), Code.PermissionDenied, 'PERMISSION_DENIED');
    expect((await developer.tenancy.listApiKeys({})).apiKeys.length).toBe(3);
    const denied = await rpcError(developer.tenancy.createApiKey({ name: 'x', role: Role.OWNER, idempotencyKey: randomUUID() }));
    expect(denied).toMatchObject({ code: Code.PermissionDenied, reason: 'PERMISSION_DENIED' });
  });

  it('cannot revoke another tenant’s key', async () => {
    const a = await stack.newTenant('A');
    const b = await stack.newTenant('B');
    const bKeys = await b.owner.tenancy.listApiKeys({});
    await expectConnectError(a.owner.tenancy.revokeApiKey({ apiKeyId: bKeys.apiKeys[0]!.id, idempotencyKey: randomUUID() }), Code.NotFound, 'NOT_FOUND');
    await b.owner.tenancy.getTenant({});
  });

  it('accepts Firebase Auth ID tokens whose custom claims name tenant and role', async () => {
    const { tenantId } = await stack.newTenant('Token Shop');
    const member = createTallyClient(stack.url, await idTokenWithClaims({ tenantId, role: 'viewer' }));
    expect((await member.tenancy.getTenant({})).tenant?.id).toBe(tenantId);
    // Role from the claim is enforced like a key's.
    await expectConnectError(member.tenancy.listApiKeys({}), Code.PermissionDenied, 'PERMISSION_DENIED');
    const noClaims = createTallyClient(stack.url, await idTokenWithClaims(null));
    await expectConnectError(noClaims.tenancy.getTenant({}), Code.PermissionDenied, 'PERMISSION_DENIED');
    const badRole = createTallyClient(stack.url, await idTokenWithClaims({ tenantId, role: 'superuser' }));
    await expectConnectError(badRole.tenancy.getTenant({}), Code.PermissionDenied, 'PERMISSION_DENIED');
  });
});

describe('ListApiKeys', () => {
  it('pages newest first with a bounded page size and never returns secrets', async () => {
    const { owner } = await stack.newTenant();
    for (let i = 0; i < 4; i++) await owner.tenancy.createApiKey({ name: `key ${i}`, role: Role.VIEWER, idempotencyKey: randomUUID() });
    const seen: string[] = [];
    let pageToken = '';
    for (let page = 0; page < 10; page++) {
      const res = await owner.tenancy.listApiKeys({ pageSize: 2, pageToken });
      expect(res.apiKeys.length).toBeLessThanOrEqual(2);
      for (const k of res.apiKeys) expect(k.secret).toBe('');
      seen.push(...res.apiKeys.map((k) => k.name));
      pageToken = res.nextPageToken;
      if (!pageToken) break;
    }
    expect(seen).toEqual(['key 3', 'key 2', 'key 1', 'key 0', 'owner (created with tenant)']);
    const tooBig = await rpcError(owner.tenancy.listApiKeys({ pageSize: 101 }));
    expect(tooBig).toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', metadata: { field: 'page_size' } });
    const badToken = await rpcError(owner.tenancy.listApiKeys({ pageToken: 'garbage!' }));
    expect(badToken.metadata.field).toBe('page_token');
  });
});
