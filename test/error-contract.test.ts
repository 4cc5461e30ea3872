/**
 * The one error contract at the HTTP edge: bad input of every kind gets INVALID_ARGUMENT with an
 * ErrorInfo naming the field, over the wire a real client sees, and writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyRequestSchema, Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { createTallyClient } from '../functions/src/cli/client.js';
import { ErrorInfoSchema, startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
let tenant: Awaited<ReturnType<TestStack['newTenant']>>;
beforeAll(async () => {
  stack = await startTestStack({ TALLY_REQUEST_BODY_BYTES_MAX: '4096' });
  tenant = await stack.newTenant('Errors');
});
afterAll(async () => { await stack.close(); });

const createKeyPath = '/tally.tenancy.v1.TenancyService/CreateApiKey';

async function post(path: string, body: string | Uint8Array, contentType: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType, authorization: `Bearer ${tenant.ownerKey}`, ...headers },
    body: body as BodyInit,
  });
  const json = (await res.json()) as { code: string; message: string; details?: { type: string; debug?: { reason: string; metadata?: Record<string, string> } }[] };
  const info = json.details?.find((d) => d.type === 'tally.errors.v1.ErrorInfo')?.debug;
  return { status: res.status, code: json.code, message: json.message, reason: info?.reason, field: info?.metadata?.field };
}

/** Number of documents under the tenant that a failed call could have written. */
async function writtenDocs(): Promise<number> {
  const db = stack.services.db;
  const [keys, idem] = await Promise.all([
    db.collection(`tenants/${tenant.tenantId}/apiKeys`).count().get(),
    db.collection(`tenants/${tenant.tenantId}/idempotency`).count().get(),
  ]);
  return Number(keys.data().count) + Number(idem.data().count);
}

describe('bad input', () => {
  it.each([
    ['missing name', { role: 'ROLE_VIEWER', idempotencyKey: 'k' }, 'FIELD_REQUIRED', 'name'],
    ['blank name', { name: '   ', role: 'ROLE_VIEWER', idempotencyKey: 'k' }, 'FIELD_REQUIRED', 'name'],
    ['name too long', { name: 'x'.repeat(101), role: 'ROLE_VIEWER', idempotencyKey: 'k' }, 'FIELD_INVALID', 'name'],
    ['missing role', { name: 'n', idempotencyKey: 'k' }, 'FIELD_REQUIRED', 'role'],
    ['unknown role number', { name: 'n', role: 42, idempotencyKey: 'k' }, 'FIELD_INVALID', 'role'],
    ['missing idempotency key', { name: 'n', role: 'ROLE_VIEWER' }, 'FIELD_REQUIRED', 'idempotency_key'],
    ['idempotency key with spaces', { name: 'n', role: 'ROLE_VIEWER', idempotencyKey: 'a b' }, 'FIELD_INVALID', 'idempotency_key'],
  ])('%s -> INVALID_ARGUMENT naming the field, nothing written', async (_label, body, reason, field) => {
    const before = await writtenDocs();
    const res = await post(createKeyPath, JSON.stringify(body), 'application/json');
    expect(res).toMatchObject({ status: 400, code: 'invalid_argument', reason, field });
    expect(await writtenDocs()).toBe(before);
  });

  it('an unknown enum name in JSON is INVALID_ARGUMENT naming the enum and the bad value', async () => {
    const before = await writtenDocs();
    const res = await post(createKeyPath, JSON.stringify({ name: 'n', role: 'ROLE_ADMIN', idempotencyKey: 'k' }), 'application/json');
    expect(res.code).toBe('invalid_argument');
    // protobuf-es reports the enum type, not the field, for unknown enum names.
    expect(res.message).toContain('tally.tenancy.v1.Role');
    expect(res.message).toContain('ROLE_ADMIN');
    expect(res.reason).toBe('FIELD_INVALID');
    expect(await writtenDocs()).toBe(before);
  });

  it('an unknown enum number in binary protobuf is refused too', async () => {
    const bytes = toBinary(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { name: 'n', role: 7 as Role, idempotencyKey: randomUUID() }));
    const res = await fetch(`${stack.url}${createKeyPath}`, {
      method: 'POST', headers: { 'content-type': 'application/proto', authorization: `Bearer ${tenant.ownerKey}` }, body: bytes,
    });
    expect(res.status).toBe(400);
  });

  it('unknown JSON fields are refused, not silently dropped', async () => {
    const res = await post(createKeyPath, JSON.stringify({ name: 'n', role: 'ROLE_VIEWER', idempotencyKey: 'k', rol: 1 }), 'application/json');
    expect(res).toMatchObject({ code: 'invalid_argument', reason: 'FIELD_INVALID', field: 'rol' });
  });

  it('a wrong content type is INVALID_ARGUMENT naming content-type', async () => {
    const before = await writtenDocs();
    const res = await post(createKeyPath, 'name=n', 'application/x-www-form-urlencoded');
    expect(res).toMatchObject({ status: 400, code: 'invalid_argument', reason: 'UNSUPPORTED_CONTENT_TYPE', field: 'content-type' });
    expect(await writtenDocs()).toBe(before);
  });

  it('an oversized body is INVALID_ARGUMENT before it is read', async () => {
    const before = await writtenDocs();
    const res = await post(createKeyPath, JSON.stringify({ name: 'x'.repeat(5000), role: 'ROLE_VIEWER', idempotencyKey: 'k' }), 'application/json');
    expect(res).toMatchObject({ status: 400, code: 'invalid_argument', reason: 'BODY_TOO_LARGE', field: 'content-length' });
    expect(await writtenDocs()).toBe(before);
  });

  it('an oversized chunked body (no Content-Length) is INVALID_ARGUMENT BODY_TOO_LARGE too', async () => {
    const { request } = await import('node:http');
    const before = await writtenDocs();
    const url = new URL(`${stack.url}${createKeyPath}`);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant.ownerKey}`, 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(`{"name":"${'x'.repeat(3000)}`);
      req.end(`${'y'.repeat(3000)}","role":"ROLE_VIEWER","idempotencyKey":"k"}`);
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'invalid_argument', details: [{ debug: { reason: 'BODY_TOO_LARGE' } }] });
    expect(await writtenDocs()).toBe(before);
  });

  it('errors reach typed clients with the ErrorInfo detail and a trace id', async () => {
    const client = createTallyClient(stack.url, tenant.ownerKey);
    try {
      await client.tenancy.createApiKey({ name: '', role: Role.VIEWER, idempotencyKey: randomUUID() });
      expect.unreachable();
    } catch (error) {
      const e = ConnectError.from(error);
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: 'FIELD_REQUIRED', domain: 'tally', metadata: { field: 'name' } });
      expect(e.metadata.get('x-tally-trace-id')).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});
