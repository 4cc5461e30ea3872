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

/** A raw HTTP/1.1 exchange (what fetch cannot send: other methods, huge headers, gzip by hand). */
async function raw(options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string }) {
  const { request } = await import('node:http');
  const url = new URL(`${stack.url}${options.path ?? getPaymentPath}`);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: options.method ?? 'POST',
      headers: { authorization: `Bearer ${tenant.ownerKey}`, ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function infoOf(body: Buffer): { code: string; reason?: string; field?: string } {
  const json = JSON.parse(body.toString('utf8')) as { code: string; details?: { type: string; debug?: { reason: string; metadata?: Record<string, string> } }[] };
  const info = json.details?.find((d) => d.type === 'tally.errors.v1.ErrorInfo')?.debug;
  return { code: json.code, reason: info?.reason, field: info?.metadata?.field };
}

const getPaymentPath = '/tally.payments.v1.PaymentsService/GetPayment';
const listPaymentsPath = '/tally.payments.v1.PaymentsService/ListPayments';

describe('issue 11 item 11: no internal for bad input', () => {
  it.each([
    ['PaymentsService/CapturePayment', 'payment_id'],
    ['PaymentsService/ConfirmPayment', 'payment_id'],
    ['PaymentsService/CancelPayment', 'payment_id'],
    ['PaymentsService/RefundPayment', 'payment_id'],
    ['PaymentsService/UpdatePayment', 'payment_id'],
    ['LedgerService/PostPendingEntry', 'entry_id'],
    ['LedgerService/VoidPendingEntry', 'entry_id'],
    ['LedgerService/CloseAccount', 'account_id'],
  ])('%s without its id is FIELD_REQUIRED naming %s, at once (was INTERNAL, some after 6-8 s)', async (method, field) => {
    const service = method.startsWith('Ledger') ? 'tally.ledger.v1' : 'tally.payments.v1';
    const startedMs = performance.now();
    const res = await post(`/${service}.${method}`, JSON.stringify({ idempotencyKey: randomUUID() }), 'application/json');
    expect(res).toMatchObject({ code: 'invalid_argument', reason: 'FIELD_REQUIRED', field });
    expect(performance.now() - startedMs).toBeLessThan(2_000);
  });

  it.each([['..'], ['a/b'], ['__x__'], ['a//b']])('a payment id %j is INVALID_ARGUMENT or NOT_FOUND, never INTERNAL', async (paymentId) => {
    const res = await post(getPaymentPath, JSON.stringify({ paymentId }), 'application/json');
    expect(['invalid_argument', 'not_found']).toContain(res.code);
    expect(res.reason).toBeDefined();
  });

  it('a forged page token (an id that cannot name a document) is FIELD_INVALID page_token', async () => {
    const pageToken = Buffer.from(JSON.stringify([1, 'a/b'])).toString('base64url');
    const res = await post(listPaymentsPath, JSON.stringify({ pageToken }), 'application/json');
    expect(res).toMatchObject({ code: 'invalid_argument', reason: 'FIELD_INVALID', field: 'page_token' });
  });

  it('invalid binary protobuf is INVALID_ARGUMENT/MALFORMED_REQUEST (was INTERNAL "parse binary")', async () => {
    const res = await post(getPaymentPath, new Uint8Array([0xff, 0xff, 0xff]), 'application/proto');
    expect(res).toMatchObject({ status: 400, code: 'invalid_argument', reason: 'MALFORMED_REQUEST' });
  });

  it('JSON that is not JSON is INVALID_ARGUMENT/MALFORMED_REQUEST', async () => {
    const res = await post(getPaymentPath, '{"paymentId": ', 'application/json');
    expect(res).toMatchObject({ status: 400, code: 'invalid_argument', reason: 'MALFORMED_REQUEST' });
  });

  it('a gzip body that does not inflate is INVALID_ARGUMENT/MALFORMED_REQUEST', async () => {
    const res = await raw({ headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: Buffer.from('not gzip at all') });
    expect(res.status).toBe(400);
    expect(infoOf(res.body)).toMatchObject({ code: 'invalid_argument', reason: 'MALFORMED_REQUEST' });
  });
});

describe('issue 11 item 11: transport refusals carry ErrorInfo', () => {
  it('405: a method other than POST/GET', async () => {
    const res = await raw({ method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(infoOf(res.body)).toMatchObject({ code: 'unimplemented', reason: 'UNSUPPORTED_PROTOCOL', field: 'method' });
  });

  it('405: a Connect GET of an RPC with side effects', async () => {
    const res = await raw({ method: 'GET', path: `${listPaymentsPath}?connect=v1&encoding=json&message=%7B%7D` });
    expect(res.status).toBe(405);
    expect(infoOf(res.body)).toMatchObject({ code: 'unimplemented', reason: 'UNSUPPORTED_PROTOCOL', field: 'method' });
  });

  it('415: a streaming content type on a unary RPC', async () => {
    const res = await raw({ headers: { 'content-type': 'application/connect+json' }, body: '{}' });
    expect(res.status).toBe(415);
    expect(infoOf(res.body)).toMatchObject({ reason: 'UNSUPPORTED_CONTENT_TYPE', field: 'content-type' });
  });

  it('431: request headers over the limit', async () => {
    const res = await raw({ headers: { 'content-type': 'application/json', 'x-big': 'x'.repeat(20_000) }, body: '{}' });
    expect(res.status).toBe(431);
    expect(infoOf(res.body)).toMatchObject({ code: 'invalid_argument', reason: 'HEADERS_TOO_LARGE', field: 'headers' });
  });

  it('501: a content encoding the API does not speak', async () => {
    const res = await raw({ headers: { 'content-type': 'application/json', 'content-encoding': 'xz' }, body: '{}' });
    expect(res.status).toBe(501);
    expect(infoOf(res.body)).toMatchObject({ code: 'unimplemented', reason: 'UNSUPPORTED_PROTOCOL', field: 'content-encoding' });
  });

  it('404: an unknown RPC path', async () => {
    const res = await raw({ path: '/tally.payments.v1.PaymentsService/Nope', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(404);
    expect(infoOf(res.body)).toMatchObject({ reason: 'UNSUPPORTED_PROTOCOL', field: 'path' });
  });
});

describe('issue 11 item 11: error bodies of 1 KiB or more to a gzip client', () => {
  it.each([
    ['with ErrorInfo from the RPC (NOT_FOUND naming a long id)', JSON.stringify({ paymentId: `pay_${'x'.repeat(1_500)}` }), ['not_found', 'invalid_argument']],
    ['rewritten by the edge (an unknown 1.5 KB field name)', JSON.stringify({ [`f${'x'.repeat(1_500)}`]: 1 }), ['invalid_argument']],
  ])('%s arrive compressed and whole', async (_label, body, codes) => {
    const { gunzipSync } = await import('node:zlib');
    const res = await raw({ headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, body });
    const plain = res.headers['content-encoding'] === 'gzip' ? gunzipSync(res.body) : res.body;
    const info = infoOf(plain);
    expect(codes).toContain(info.code);
    expect(info.reason).toBeDefined();
    // fetch (undici) is a real client that asks for gzip itself and inflates what it gets.
    const viaFetch = await post(getPaymentPath, body, 'application/json');
    expect(codes).toContain(viaFetch.code);
  });
});

