/**
 * Every protocol the README promises works with real clients (issue 11 item 14): Connect, gRPC
 * (HTTP/2, h2c on the local port) and gRPC-Web, each with `buf curl` as an independent client,
 * and gRPC with @grpc/grpc-js, errors included: the ErrorInfo detail reaches a gRPC client in
 * `grpc-status-details-bin`.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorInfoSchema, startTestStack, type TestStack } from './support/test-stack.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const buf = path.join(root, 'node_modules', '.bin', 'buf');

let stack: TestStack;
let tenant: Awaited<ReturnType<TestStack['newTenant']>>;
beforeAll(async () => {
  stack = await startTestStack();
  tenant = await stack.newTenant('Protocols');
});
afterAll(async () => { await stack.close(); });

const protocols = ['connect', 'grpc', 'grpcweb'] as const;

async function bufCurl(protocol: (typeof protocols)[number], method: string, body: unknown): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const args = ['curl', '--protocol', protocol, '--schema', 'proto', '-H', `authorization: Bearer ${tenant.ownerKey}`, '-d', JSON.stringify(body),
    ...(protocol === 'grpc' ? ['--http2-prior-knowledge'] : []), `${stack.url}/${method}`];
  try {
    const { stdout, stderr } = await run(buf, args, { cwd: root, timeout: 30_000 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('buf curl over every protocol', () => {
  it.each(protocols)('%s: a call succeeds', async (protocol) => {
    const res = await bufCurl(protocol, 'tally.tenancy.v1.TenancyService/GetTenant', { tenantId: tenant.tenantId });
    expect(res.stderr).toBe('');
    expect(res.ok).toBe(true);
    expect(JSON.parse(res.stdout)).toMatchObject({ tenant: { id: tenant.tenantId } });
  });

  it.each(protocols)('%s: an error arrives typed, with its ErrorInfo', async (protocol) => {
    const res = await bufCurl(protocol, 'tally.payments.v1.PaymentsService/GetPayment', { paymentId: `pay_${randomUUID().replaceAll('-', '')}` });
    expect(res.ok).toBe(false);
    const error = JSON.parse(res.stderr) as { code: string; details?: { type: string; value: string }[] };
    expect(error.code).toBe('not_found');
    // The detail's bytes, as every protocol carries them (Connect adds a `debug` copy only).
    const value = error.details?.find((d) => d.type === 'tally.errors.v1.ErrorInfo')?.value ?? '';
    expect(fromBinary(ErrorInfoSchema, Buffer.from(value, 'base64'))).toMatchObject({ reason: 'NOT_FOUND', domain: 'tally', metadata: { field: 'payment_id' } });
  });
});

describe('@grpc/grpc-js', () => {
  const definition = protoLoader.loadSync(['tally/tenancy/v1/tenancy.proto', 'tally/payments/v1/payments.proto'], {
    includeDirs: [path.join(root, 'proto')], keepCase: false, longs: String, enums: String, defaults: false,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    tally: { tenancy: { v1: { TenancyService: grpc.ServiceClientConstructor } }; payments: { v1: { PaymentsService: grpc.ServiceClientConstructor } } };
  };
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${tenant.ownerKey}`);
    return m;
  };
  type Unary = (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;
  function call(client: grpc.Client, method: string, req: unknown): Promise<{ error: grpc.ServiceError | null; res?: unknown }> {
    return new Promise((resolve) => {
      (client as unknown as Record<string, Unary>)[method]!.call(client, req, metadata(), (error, res) => resolve({ error, res }));
    });
  }
  function errorInfoOf(error: grpc.ServiceError) {
    const trailer = new Headers({ 'grpc-status': String(error.code), 'grpc-message': encodeURIComponent(error.details) });
    const details = error.metadata.get('grpc-status-details-bin')[0];
    if (details !== undefined) trailer.set('grpc-status-details-bin', Buffer.from(details as Buffer).toString('base64'));
    return findTrailerError(trailer)?.findDetails(ErrorInfoSchema)[0];
  }

  it('a call succeeds over HTTP/2', async () => {
    const client = new loaded.tally.tenancy.v1.TenancyService(stack.url.replace('http://', ''), grpc.credentials.createInsecure());
    try {
      const { error, res } = await call(client, 'getTenant', { tenantId: tenant.tenantId });
      expect(error).toBeNull();
      expect(res).toMatchObject({ tenant: { id: tenant.tenantId } });
    } finally {
      client.close();
    }
  });

  it('an error carries code and ErrorInfo in grpc-status-details-bin', async () => {
    const client = new loaded.tally.payments.v1.PaymentsService(stack.url.replace('http://', ''), grpc.credentials.createInsecure());
    try {
      const { error } = await call(client, 'getPayment', { paymentId: `pay_${randomUUID().replaceAll('-', '')}` });
      expect(error?.code).toBe(grpc.status.NOT_FOUND);
      expect(errorInfoOf(error!)).toMatchObject({ reason: 'NOT_FOUND', domain: 'tally' });
    } finally {
      client.close();
    }
  });

  it('a body that is not protobuf is INVALID_ARGUMENT with ErrorInfo MALFORMED_REQUEST (Connect raised it detail-less)', async () => {
    const Garbage = grpc.makeGenericClientConstructor({
      getPayment: {
        path: '/tally.payments.v1.PaymentsService/GetPayment', requestStream: false, responseStream: false,
        requestSerialize: () => Buffer.from([0xff, 0xff, 0xff]), requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
      },
    }, 'Garbage');
    const client = new Garbage(stack.url.replace('http://', ''), grpc.credentials.createInsecure());
    try {
      const { error } = await call(client, 'getPayment', {});
      expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(errorInfoOf(error!)).toMatchObject({ reason: 'MALFORMED_REQUEST' });
    } finally {
      client.close();
    }
  });
});

describe('gRPC-Web', () => {
  it("a body that is not protobuf is INVALID_ARGUMENT with ErrorInfo MALFORMED_REQUEST in the trailer frame", async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff]);
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.byteLength]), garbage]);
    const res = await fetch(`${stack.url}/tally.payments.v1.PaymentsService/GetPayment`, {
      method: 'POST', headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', authorization: `Bearer ${tenant.ownerKey}` }, body: envelope,
    });
    const body = Buffer.from(await res.arrayBuffer());
    // The last envelope (flag 0x80) carries the status as HTTP/1-style header lines.
    let offset = 0;
    let trailer = '';
    while (offset + 5 <= body.byteLength) {
      const length = body.readUInt32BE(offset + 1);
      if (body[offset] === 0x80) trailer = body.subarray(offset + 5, offset + 5 + length).toString('utf8');
      offset += 5 + length;
    }
    const headers = new Headers(trailer.split('\r\n').filter(Boolean).map((line) => {
      const i = line.indexOf(':');
      return [line.slice(0, i).trim(), line.slice(i + 1).trim()] as [string, string];
    }));
    expect(headers.get('grpc-status')).toBe('3');
    expect(findTrailerError(headers)?.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: 'MALFORMED_REQUEST', domain: 'tally' });
  });
});

