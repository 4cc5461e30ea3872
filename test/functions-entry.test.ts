/**
 * The deployable entry (functions/src/index.ts) behind the real Functions Framework: the framework
 * parses bodies before the handler, so these requests prove that `replayRawBody` hands ConnectRPC
 * the original bytes, JSON and binary protobuf alike, with the real services behind it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateTenantRequestSchema,
  CreateTenantResponseSchema,
  GetTenantRequestSchema,
  GetTenantResponseSchema,
} from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';

const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
const tenancyPath = '/tally.tenancy.v1.TenancyService';

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  // Read lazily at the first request, but set before the import so that nothing can see it unset.
  process.env.TALLY_PLATFORM_ADMIN_KEY_SHA256 = createHash('sha256').update(adminKey).digest('hex');
  await import('../functions/src/index.js');
  server = getTestServer('api');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

function post(method: string, key: string, contentType: string, body: string | Uint8Array): Promise<Response> {
  return fetch(`${baseUrl}${tenancyPath}/${method}`, {
    method: 'POST',
    headers: { 'content-type': contentType, authorization: `Bearer ${key}` },
    body: body as BodyInit,
  });
}

interface CreateTenantJson { tenant: { id: string; name: string }; ownerApiKey: { secret?: string } }

async function createTenant(name: string, idempotencyKey = `ff-${randomUUID()}`): Promise<CreateTenantJson> {
  const res = await post('CreateTenant', adminKey, 'application/json', JSON.stringify({ name, idempotencyKey }));
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as CreateTenantJson;
}

describe('functions entry `api` behind the Functions Framework', () => {
  it('serves CreateTenant (JSON, admin key) and GetTenant (JSON, owner key)', async () => {
    const created = await createTenant('FF');
    expect(created.tenant.id).toMatch(/^ten_/);
    expect(created.tenant.name).toBe('FF');
    expect(created.ownerApiKey.secret).toMatch(/^sk_/);

    const res = await post('GetTenant', created.ownerApiKey.secret!, 'application/json', '{}');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ tenant: { id: created.tenant.id, name: 'FF' } });
  });

  it('replays a CreateTenant with the same idempotency key instead of creating a second tenant', async () => {
    const idempotencyKey = `ff-${randomUUID()}`;
    const first = await createTenant('FF Replay', idempotencyKey);
    const second = await createTenant('FF Replay', idempotencyKey);
    expect(second.tenant.id).toBe(first.tenant.id);
    // The owner secret is shown once only.
    expect(second.ownerApiKey?.secret ?? '').toBe('');
  });

  it('serves GetTenant with a binary protobuf body (application/proto)', async () => {
    const created = await createTenant('FF Binary');
    const body = toBinary(GetTenantRequestSchema, create(GetTenantRequestSchema, {}));
    const res = await post('GetTenant', created.ownerApiKey.secret!, 'application/proto', body);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/proto');
    const decoded = fromBinary(GetTenantResponseSchema, new Uint8Array(await res.arrayBuffer()));
    expect(decoded.tenant?.id).toBe(created.tenant.id);
    expect(decoded.tenant?.name).toBe('FF Binary');
  });

  it('serves CreateTenant with a non-empty binary body, so the replayed bytes are decoded', async () => {
    // An empty GetTenantRequest encodes to zero bytes and would pass even if the body were lost.
    const body = toBinary(CreateTenantRequestSchema,
      create(CreateTenantRequestSchema, { name: 'FF Proto Create', idempotencyKey: `ff-${randomUUID()}` }));
    expect(body.byteLength).toBeGreaterThan(0);
    const res = await post('CreateTenant', adminKey, 'application/proto', body);
    expect(res.status).toBe(200);
    const decoded = fromBinary(CreateTenantResponseSchema, new Uint8Array(await res.arrayBuffer()));
    expect(decoded.tenant?.id).toMatch(/^ten_/);
    expect(decoded.tenant?.name).toBe('FF Proto Create');
    expect(decoded.ownerApiKey?.secret).toMatch(/^sk_/);
  });

  it('passes the JSON body through unchanged: an unknown field is invalid_argument', async () => {
    // The framework has parsed the JSON into req.body already; Connect must still see these bytes.
    const res = await post('CreateTenant', adminKey, 'application/json',
      JSON.stringify({ name: 'FF', idempotencyKey: `ff-${randomUUID()}`, bogusField: 1 }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('invalid_argument');
    // Naming the field proves Connect decoded our bytes (an empty body would fail differently).
    expect(body.message).toContain('bogusField');
  });

  it('answers a non-RPC content type with the Connect error contract, not the framework', async () => {
    const res = await post('GetTenant', adminKey, 'text/plain', 'hello');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; details?: unknown[] };
    expect(body.code).toBe('invalid_argument');
    expect(body.details?.length).toBeGreaterThan(0);
  });

  it('refuses a request without credentials with unauthenticated', async () => {
    const res = await fetch(`${baseUrl}${tenancyPath}/GetTenant`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'unauthenticated' });
  });
});

describe('ledgerMaintenance (Pub/Sub tick as a CloudEvent)', () => {
  it('runs a maintenance pass on a messagePublished CloudEvent and answers 2xx', async () => {
    const tick = getTestServer('ledgerMaintenance');
    await new Promise<void>((resolve) => tick.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(tick.address() as AddressInfo).port}/`;
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-id': randomUUID(),
          'ce-specversion': '1.0',
          'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
          'ce-source': '//pubsub.googleapis.com/projects/demo-tally/topics/ticks-ledger',
        },
        body: JSON.stringify({ message: { data: Buffer.from('tick').toString('base64'), messageId: '1' }, subscription: 'projects/demo-tally/subscriptions/ledger' }),
      });
      expect(res.status).toBeLessThan(300);
    } finally {
      await new Promise<void>((resolve) => tick.close(() => resolve()));
    }
  });
});

describe('outboxRelay (Firestore document-created CloudEvent)', () => {
  it('reads the document the CloudEvent subject names when the protobuf data does not decode, and answers 2xx when there is nothing to relay', async () => {
    const relay = getTestServer('outboxRelay');
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/`;
      const send = (subject: string) => fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/protobuf',
          'ce-id': randomUUID(),
          'ce-specversion': '1.0',
          'ce-type': 'google.cloud.firestore.document.v1.created',
          'ce-source': '//firestore.googleapis.com/projects/demo-tally/databases/(default)',
          'ce-subject': subject,
        },
        // Bytes that are no valid DocumentEventData: the relay falls back to reading the document.
        body: new Uint8Array([0xff, 0x00, 0x13]),
      });
      // A document that does not exist (deleted, or another environment's): nothing to publish.
      expect((await send(`documents/tenants/ten_missing/outbox/evt_${randomUUID().replaceAll('-', '')}`)).status).toBeLessThan(300);
      // Not an outbox document: can never succeed, so it is acknowledged (and logged), not retried.
      expect((await send('documents/tenants/ten_x/journal/je_1')).status).toBeLessThan(300);
    } finally {
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });
});

describe('the callable entry points (ADR 0037)', () => {
  /** POSTs `{data}` to a callable function registered in index.ts, behind the Functions Framework. */
  async function call(name: string, rpcPath: string, data: unknown, headers: Record<string, string> = {}) {
    const fn = getTestServer(name);
    await new Promise<void>((resolve) => fn.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(fn.address() as AddressInfo).port}/callables/${rpcPath}`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ data }),
      });
      return { status: res.status, body: (await res.json()) as { result?: Record<string, unknown>; error?: { status: string; details?: { reason: string } } } };
    } finally {
      await new Promise<void>((resolve) => fn.close(() => resolve()));
    }
  }

  it('consoleCallables runs console RPCs and leaves authentication to Tally (no token: CREDENTIALS_MISSING)', async () => {
    const res = await call('consoleCallables', 'tally.tenancy.v1.TenancyService/GetTenant', {});
    expect(res).toMatchObject({ status: 401, body: { error: { status: 'UNAUTHENTICATED', details: { reason: 'CREDENTIALS_MISSING' } } } });
  });

  it('each callable exposes only its allowlist', async () => {
    // The hosted checkout function has no console RPC, and the console one no platform-admin RPC.
    expect(await call('checkoutCallables', 'tally.tenancy.v1.TenancyService/GetTenant', {})).toMatchObject({ status: 501, body: { error: { details: { reason: 'UNSUPPORTED_PROTOCOL' } } } });
    expect(await call('consoleCallables', 'tally.tenancy.v1.TenancyService/CreateTenant', { name: 'x' }))
      .toMatchObject({ status: 501, body: { error: { details: { reason: 'UNSUPPORTED_PROTOCOL' } } } });
    // API keys are for servers: as a callable's bearer token one is no Firebase ID token, refused before any RPC.
    expect(await call('consoleCallables', 'tally.tenancy.v1.TenancyService/GetTenant', {}, { authorization: `Bearer ${adminKey}` }))
      .toMatchObject({ status: 401, body: { error: { status: 'UNAUTHENTICATED' } } });
    expect(await call('checkoutCallables', 'tally.checkout.v1.HostedCheckoutService/GetHostedSession', { clientSecret: 'cs_forged_secret_x' }))
      .toMatchObject({ status: 404, body: { error: { status: 'NOT_FOUND' } } });
  });
});
