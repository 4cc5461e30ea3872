/**
 * Fuzzes every RPC of every service (issue 11 item 15), generated from the proto descriptors:
 * malformed and hostile requests (wrong types, missing and unknown fields, extreme numbers, huge
 * strings, control characters, path-like and other tenants' ids), as JSON and binary protobuf,
 * with and without gzip, over the Connect and gRPC-Web protocols (gRPC itself is covered by
 * test/protocols.test.ts), over real HTTP to the real API stack on the emulators. Every answer must
 * be a success or a typed error with ErrorInfo - never `internal` or `unknown`, never a dropped
 * connection or a hang - and a sample of rejected requests is checked to have written nothing.
 * fast-check with a fixed seed and a bounded count: the same requests every run.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { fromJson, toBinary, ScalarType, type DescField, type DescMessage, type DescService, type JsonValue } from '@bufbuild/protobuf';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerService } from '../functions/src/gen/tally/ledger/v1/ledger_pb.js';
import { PaymentsService } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { TenancyService } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { WebhookEndpointsService } from '../functions/src/gen/tally/webhooks/v1/webhooks_pb.js';
import { BillingService } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { AnalyticsService } from '../functions/src/gen/tally/analytics/v1/analytics_pb.js';
import { ReconService } from '../functions/src/gen/tally/recon/v1/recon_pb.js';
import { CheckoutService, HostedCheckoutService } from '../functions/src/gen/tally/checkout/v1/checkout_pb.js';
import { callableAllowlists } from '../functions/src/compose-callables.js';
import { createConsoleUser } from './support/browser.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { ErrorInfoSchema, startTestStack, type TestStack } from './support/test-stack.js';

const services: readonly DescService[] = [TenancyService, LedgerService, PaymentsService, BillingService, WebhookEndpointsService, AnalyticsService, ReconService, CheckoutService, HostedCheckoutService];
/** Requests per RPC (27 RPCs): bounded so the test stays well under a minute on 2 busy cores. */
const requestsPerMethod = 24;
/** An answer slower than this counts as a hang. */
const answerTimeoutMs = 15_000;
/** One in this many requests is checked for writes (document counts of the tenant before/after). */
const writeCheckEvery = 4;
const seed = 20_261_106;

let stack: TestStack;
let caller: Awaited<ReturnType<TestStack['newTenant']>>;
let other: Awaited<ReturnType<TestStack['newTenant']>>;
/** Real ids: the caller's own (some requests reach deep and succeed) and another tenant's. */
const knownIds: string[] = [];
beforeAll(async () => {
  stack = await startTestStack({ TALLY_REQUEST_BODY_BYTES_MAX: String(64 * 1024) });
  [caller, other] = await Promise.all([stack.newTenant('Fuzz caller'), stack.newTenant('Fuzz other')]);
  for (const tenant of [caller, other]) {
    const [a, b] = await Promise.all([openAccount(tenant.owner, { currency: 'EUR' }), openAccount(tenant.owner, { currency: 'EUR' })]);
    const entry = await tenant.owner.ledger.createEntry(transfer(a, b, 100n, { currency: 'EUR' }));
    knownIds.push(tenant.tenantId, a, b, entry.entry?.id ?? '');
  }
});
afterAll(async () => { await stack.close(); });

// ---- Generators, from the descriptors -------------------------------------------------------

function hostileStrings(otherIds: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('', ' ', '.', '..', '/', 'a/b', '//', '__x__', '__proto__', 'constructor', '$bigint', '%2F', '..%2F..', '\u0000', 'a\u0000b',
      '\r\n', 'x\r\nSet-Cookie: a=b', '\t', '\u202e', '\ud800', '😀', 'javascript:alert(1)', 'ROLE_ADMIN', 'EUR', 'eur', 'XXX', '0', '-1',
      'pay_', 'je_cap_x', 'acc_pay_platform_fee_revenue_EUR', 'merchant_payable:GBP', ...otherIds),
    fc.string({ maxLength: 24 }),
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.string({ minLength: 1_000, maxLength: 2_000 }),
    fc.constant('x'.repeat(40_000)),
  );
}

const extremeNumbers: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, -1, 1, 0.5, -0.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, 1e308, -1e308, 5e-324),
  fc.constantFrom('9223372036854775807', '9223372036854775808', '-9223372036854775809', '18446744073709551616', 'NaN', 'Infinity', '-Infinity',
    '0x10', '0b101', '1e3', ' 12', '+5', '12.50', '', '١٢'),
);

function wrongType(strings: fc.Arbitrary<string>): fc.Arbitrary<JsonValue> {
  return fc.oneof<fc.Arbitrary<JsonValue>[]>(fc.boolean(), fc.constant(null), extremeNumbers, strings, fc.constant([]), fc.constant({}),
    fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 3 }));
}

function scalarValue(field: DescField & { fieldKind: 'scalar' } | { scalar: ScalarType }, strings: fc.Arbitrary<string>): fc.Arbitrary<JsonValue> {
  switch (field.scalar) {
    case ScalarType.STRING: return strings;
    case ScalarType.BOOL: return fc.boolean();
    case ScalarType.BYTES: return fc.oneof(fc.base64String({ maxLength: 40 }), strings);
    default: return extremeNumbers;
  }
}

function messageValue(message: DescMessage, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<Record<string, JsonValue>> {
  // Well-known types have their own JSON forms: a timestamp string, or anything hostile.
  if (message.typeName === 'google.protobuf.Timestamp') {
    return fc.constantFrom<Record<string, JsonValue>>({}) as fc.Arbitrary<Record<string, JsonValue>>;
  }
  const entries = message.fields.map((field) => fc.option(fieldValue(field, strings, depth).map((v) => [field.jsonName, v] as const), { freq: 2 }));
  const unknown = fc.option(fc.tuple(fc.constantFrom('unknownField', 'tenantId', '__proto__', 'constructor', 'id'), wrongType(strings)), { freq: 4 });
  return fc.tuple(fc.tuple(...entries), unknown).map(([pairs, extra]) => {
    const object: Record<string, JsonValue> = {};
    for (const pair of pairs) if (pair) Object.defineProperty(object, pair[0], { value: pair[1], enumerable: true, writable: true, configurable: true });
    if (extra) Object.defineProperty(object, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true });
    return object;
  });
}

function singleValue(field: DescField, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<JsonValue> {
  // Mostly a good idempotency key, so that requests get past it to the checks behind it.
  if (field.name === 'idempotency_key') return fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: strings });
  if (field.fieldKind === 'scalar') return scalarValue(field, strings);
  if (field.fieldKind === 'enum') {
    return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.name)), fc.constantFrom(...field.enum.values.map((v) => v.number)), fc.constantFrom('NOPE', 99, -1));
  }
  if (field.fieldKind === 'message') return depth >= 2 ? fc.constant({}) : messageValue(field.message, strings, depth + 1);
  return fc.constant(null);
}

function fieldValue(field: DescField, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<JsonValue> {
  const element = (): fc.Arbitrary<JsonValue> => {
    if (field.fieldKind === 'list') {
      const item = field.listKind === 'scalar' ? scalarValue(field, strings)
        : field.listKind === 'enum' ? fc.constantFrom(...field.enum.values.map((v) => v.name), 'NOPE')
          : depth >= 2 ? fc.constant({}) : messageValue(field.message, strings, depth + 1);
      return fc.oneof(fc.array(item, { maxLength: 4 }), fc.constant(Array.from({ length: 2_000 }, () => 'x')));
    }
    if (field.fieldKind === 'map') {
      return fc.dictionary(strings.filter((k) => k.length < 3_000), field.mapKind === 'scalar' ? scalarValue(field, strings) : fc.constant({}), { maxKeys: 4 });
    }
    return singleValue(field, strings, depth);
  };
  return fc.oneof({ weight: field.name === 'idempotency_key' ? 20 : 4, arbitrary: element() }, { weight: 1, arbitrary: wrongType(strings) });
}

type Encoding = 'json' | 'json-garbage' | 'binary' | 'binary-garbage';
interface FuzzRequest {
  /** Connect unary, or gRPC-Web (enveloped, status in the trailer frame) over HTTP/1.1. */
  protocol: 'connect' | 'grpc-web';
  service: DescService;
  method: DescService['methods'][number];
  encoding: Encoding;
  gzip: 'none' | 'gzip' | 'claimed';
  auth: 'caller' | 'none' | 'garbage' | 'admin';
  body: Record<string, JsonValue>;
  garbage: Uint8Array;
  cut: number;
}

function requestsFor(service: DescService, method: DescService['methods'][number], otherIds: readonly string[]): FuzzRequest[] {
  const strings = hostileStrings(otherIds);
  const arbitrary = fc.record({
    protocol: fc.constantFrom<FuzzRequest['protocol']>('connect', 'connect', 'connect', 'connect', 'grpc-web'),
    encoding: fc.constantFrom<Encoding>('json', 'json', 'json', 'json', 'binary', 'binary', 'binary', 'json-garbage', 'binary-garbage'),
    gzip: fc.constantFrom<FuzzRequest['gzip']>('none', 'none', 'none', 'gzip', 'gzip', 'claimed'),
    auth: fc.constantFrom<FuzzRequest['auth']>('caller', 'caller', 'caller', 'caller', 'caller', 'none', 'garbage', 'admin'),
    body: messageValue(method.input, strings, 0),
    garbage: fc.uint8Array({ maxLength: 64 }),
    cut: fc.nat({ max: 100 }),
  });
  return fc.sample(arbitrary, { seed: seed + method.name.length * 131 + method.parent.typeName.length, numRuns: requestsPerMethod })
    .map((r) => ({ ...r, service, method }));
}

/** The wire bytes of a request: JSON, binary protobuf, or garbage claiming to be either. */
function encode(request: FuzzRequest): { contentType: string; bytes: Uint8Array } {
  const json = request.encoding === 'json' || request.encoding === 'json-garbage';
  const contentType = json ? 'application/json' : 'application/proto';
  if (request.encoding === 'json') return { contentType, bytes: Buffer.from(JSON.stringify(request.body)) };
  if (request.encoding === 'json-garbage') {
    const text = JSON.stringify(request.body);
    return { contentType, bytes: Buffer.concat([Buffer.from(text.slice(0, Math.floor((text.length * request.cut) / 100))), request.garbage]) };
  }
  if (request.encoding === 'binary-garbage') return { contentType, bytes: request.garbage };
  // A real message when the JSON decodes (hostile values inside), else raw bytes; sometimes cut.
  // Fields whose hostile JSON value has no protobuf form are left out; the rest keep their values.
  const decodable: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(request.body)) {
    try {
      fromJson(request.method.input, { [key]: value }, { ignoreUnknownFields: false });
      decodable[key] = value;
    } catch { /* not representable in binary */ }
  }
  let bytes: Uint8Array = toBinary(request.method.input, fromJson(request.method.input, decodable));
  if (request.cut > 90) bytes = Buffer.concat([bytes, request.garbage]);
  if (request.cut < 15 && bytes.byteLength > 1) bytes = bytes.subarray(0, Math.max(1, Math.floor((bytes.byteLength * request.cut) / 15)));
  return { contentType, bytes };
}

// ---- Sending and judging ---------------------------------------------------------------------

type Verdict = 'ok' | 'typed' | 'internal' | 'untyped' | 'dropped' | 'hang' | 'wrote';

/** A gRPC-Web request: one envelope, compressed (flag 1) per `grpc-encoding` when asked to. */
function grpcWebRequest(request: FuzzRequest, contentType: string, bytes: Uint8Array): { headers: Record<string, string>; body: Uint8Array } {
  const headers: Record<string, string> = { 'content-type': contentType.replace('application/', 'application/grpc-web+'), 'x-grpc-web': '1' };
  if (request.gzip !== 'none') headers['grpc-encoding'] = 'gzip';
  const payload = request.gzip === 'gzip' ? gzipSync(bytes) : bytes;
  const prefix = Buffer.alloc(5);
  prefix[0] = request.gzip === 'none' ? 0 : 1;
  prefix.writeUInt32BE(payload.byteLength, 1);
  return { headers, body: Buffer.concat([prefix, payload]) };
}

/** Judges a gRPC-Web answer by the status in its trailer frame (or its headers, trailers-only). */
function judgeGrpcWeb(res: Response, body: Buffer): { verdict: Verdict; detail: string } {
  let trailer = new Headers(res.headers);
  for (let offset = 0; offset + 5 <= body.byteLength;) {
    const length = body.readUInt32BE(offset + 1);
    if ((body[offset]! & 0x80) !== 0) {
      trailer = new Headers(body.subarray(offset + 5, offset + 5 + length).toString('utf8').split('\r\n').filter((l) => l.includes(':'))
        .map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
    }
    offset += 5 + length;
  }
  const status = trailer.get('grpc-status');
  if (status === null) return { verdict: 'untyped', detail: `gRPC-Web answer without grpc-status (HTTP ${res.status})` };
  if (status === '0') return { verdict: 'ok', detail: '' };
  const error = findTrailerError(trailer);
  const reason = error?.findDetails(ErrorInfoSchema)[0]?.reason;
  if (status === '13' || status === '2') return { verdict: 'internal', detail: `grpc-status ${status} ${error?.rawMessage ?? ''}` };
  if (!reason) return { verdict: 'untyped', detail: `grpc-status ${status} ${error?.rawMessage ?? ''}`.slice(0, 200) };
  return { verdict: 'typed', detail: `grpc ${status}/${reason}` };
}

async function send(request: FuzzRequest): Promise<{ verdict: Verdict; detail: string }> {
  const { contentType, bytes } = encode(request);
  let headers: Record<string, string> = { 'content-type': contentType, 'accept-encoding': 'gzip' };
  let body: Uint8Array = bytes;
  if (request.protocol === 'grpc-web') {
    ({ headers, body } = grpcWebRequest(request, contentType, bytes));
  } else {
    if (request.gzip !== 'none') headers['content-encoding'] = 'gzip';
    if (request.gzip === 'gzip') body = gzipSync(bytes);
  }
  if (request.auth === 'caller') headers.authorization = `Bearer ${caller.ownerKey}`;
  if (request.auth === 'admin') headers.authorization = `Bearer ${stack.adminKey}`;
  if (request.auth === 'garbage') headers.authorization = `Bearer sk_${'A'.repeat(43)}`;
  let res: Response;
  try {
    res = await fetch(`${stack.url}/${request.service.typeName}/${request.method.name}`, {
      method: 'POST', headers, body: body as BodyInit, signal: AbortSignal.timeout(answerTimeoutMs),
    });
  } catch (error) {
    const e = error as Error & { cause?: Error };
    return { verdict: e.name === 'TimeoutError' ? 'hang' : 'dropped', detail: `${e.message} ${e.cause?.message ?? ''}` };
  }
  let raw: Buffer;
  try {
    raw = Buffer.from(await res.arrayBuffer());
  } catch (error) {
    return { verdict: 'dropped', detail: (error as Error).message };
  }
  if (request.protocol === 'grpc-web' && res.status === 200) return judgeGrpcWeb(res, raw);
  if (res.status === 200) return { verdict: 'ok', detail: '' };
  const text = raw.toString('utf8');
  let json: { code?: string; message?: string; details?: { type: string; debug?: { reason?: string } }[] };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return { verdict: 'untyped', detail: `HTTP ${res.status}: ${text.slice(0, 120)}` };
  }
  const reason = json.details?.find((d) => d.type === 'tally.errors.v1.ErrorInfo')?.debug?.reason;
  if (json.code === 'internal' || json.code === 'unknown') return { verdict: 'internal', detail: `${json.code} ${json.message ?? ''}` };
  if (!reason) return { verdict: 'untyped', detail: `HTTP ${res.status} ${json.code ?? ''} ${json.message ?? ''}`.slice(0, 200) };
  return { verdict: 'typed', detail: `${json.code}/${reason}` };
}

/**
 * Collections that background jobs write whatever the requests do: `ledgerMaintenance`, run by other
 * test files on the shared emulator, signs a checkpoint for every tenant whose chain moved (seen: a
 * checkpoint appearing between the counts around a rejected CreateAccount), and its balance snapshot
 * pass writes snapshots and its cursor (ADR 0025).
 */
const backgroundCollections = new Set(['checkpoints', 'balanceSnapshots', 'ledgerMaintenance']);

/** Documents under the caller's tenant, per collection (what a rejected request must not change). */
async function tenantDocCounts(): Promise<string> {
  const collections = (await stack.services.db.doc(`tenants/${caller.tenantId}`).listCollections())
    .filter((c) => !backgroundCollections.has(c.id));
  const counts = await Promise.all(collections.map(async (c) => `${c.id}=${(await c.count().get()).data().count}`));
  return counts.sort().join(',');
}

describe('rpc fuzz', () => {
  it('every RPC answers malformed and hostile requests with a success or a typed error, and rejected requests write nothing', async () => {
    const otherIds = [...knownIds, `pay_${randomUUID().replaceAll('-', '').slice(0, 22)}`];
    const requests = services.flatMap((service) => service.methods.map((method) => requestsFor(service, method, otherIds)).flat());
    const byMethod: Record<string, { tried: number; misbehaved: number }> = {};
    const misbehaviours: string[] = [];
    const verdicts: Partial<Record<Verdict, number>> = {};
    const reasons: Record<string, number> = {};
    let tried = 0;
    for (const [i, request] of requests.entries()) {
      const name = `${request.service.name}/${request.method.name}`;
      const checkWrites = i % writeCheckEvery === 0;
      const before = checkWrites ? await tenantDocCounts() : '';
      let { verdict, detail } = await send(request);
      tried += 1;
      if (checkWrites && verdict === 'typed') {
        const after = await tenantDocCounts();
        if (after !== before) [verdict, detail] = ['wrote', `${detail}: ${before} -> ${after}`];
      }
      verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
      if (verdict === 'typed') reasons[detail] = (reasons[detail] ?? 0) + 1;
      if (process.env.TALLY_FUZZ_TRACE) console.log(name, request.protocol, request.encoding, request.gzip, request.auth, verdict, detail.slice(0, 160));
      const entry = (byMethod[name] ??= { tried: 0, misbehaved: 0 });
      entry.tried += 1;
      if (verdict !== 'ok' && verdict !== 'typed') {
        entry.misbehaved += 1;
        misbehaviours.push(`${name} [${request.protocol}, ${request.encoding}, gzip ${request.gzip}, auth ${request.auth}] ${verdict}: ${detail} body=${JSON.stringify(request.body).slice(0, 200)}`);
      }
    }
    const misbehaved = misbehaviours.length;
    console.log('rpc fuzz:', JSON.stringify({ tried, misbehaved, verdicts, reasons, byMethod }));
    if (misbehaved > 0) console.log(misbehaviours.slice(0, 40).join('\n'));
    expect(tried).toBe(services.reduce((n, s) => n + s.methods.length, 0) * requestsPerMethod);
    expect(misbehaviours).toEqual([]);
  }, 600_000);
});

/** Requests per callable RPC (about 80 RPCs are exposed): the bridge adds decoding, not logic; under 30 s here. */
const callableRequestsPerMethod = 3;

describe('callables fuzz (ADR 0037)', () => {
  it('every callable answers hostile data with a success or a typed error (never internal), and rejected calls write nothing', async () => {
    const user = await createConsoleUser(caller.tenantId, 'owner');
    const signIn = await fetch(`http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: user.password, returnSecureToken: true }),
    });
    const { idToken } = (await signIn.json()) as { idToken: string };
    const otherIds = [...knownIds];
    const exposed = Object.values(callableAllowlists).flat().flatMap(({ service, methods }) =>
      service.methods.filter((m) => methods === undefined || methods.includes(m.name)).map((method) => ({ service, method })));
    const misbehaviours: string[] = [];
    let tried = 0;
    for (const { service, method } of exposed) {
      for (const [i, request] of requestsFor(service, method, otherIds).slice(0, callableRequestsPerMethod).entries()) {
        const checkWrites = i % 2 === 0;
        const before = checkWrites ? await tenantDocCounts() : '';
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (request.auth !== 'none') headers.authorization = `Bearer ${idToken}`;
        let verdict: Verdict;
        let detail = '';
        try {
          const res = await fetch(`${stack.url}/callables/${service.typeName}/${method.name}`, {
            method: 'POST', headers, body: JSON.stringify({ data: request.body }), signal: AbortSignal.timeout(answerTimeoutMs),
          });
          const json = (await res.json()) as { error?: { status?: string; message?: string; details?: { reason?: string } } };
          if (res.status === 200) verdict = 'ok';
          else if (json.error?.status === 'INTERNAL' || json.error?.status === 'UNKNOWN') [verdict, detail] = ['internal', json.error.message ?? ''];
          else if (!json.error?.details?.reason) [verdict, detail] = ['untyped', `HTTP ${res.status} ${JSON.stringify(json).slice(0, 160)}`];
          else [verdict, detail] = ['typed', `${json.error.status}/${json.error.details.reason}`];
        } catch (error) {
          [verdict, detail] = [(error as Error).name === 'TimeoutError' ? 'hang' : 'dropped', (error as Error).message];
        }
        tried += 1;
        if (checkWrites && verdict === 'typed') {
          const after = await tenantDocCounts();
          if (after !== before) [verdict, detail] = ['wrote', `${detail}: ${before} -> ${after}`];
        }
        if (verdict !== 'ok' && verdict !== 'typed') misbehaviours.push(`${service.name}/${method.name} [auth ${request.auth}] ${verdict}: ${detail} data=${JSON.stringify(request.body).slice(0, 200)}`);
      }
    }
    expect(tried).toBe(exposed.length * callableRequestsPerMethod);
    expect(misbehaviours).toEqual([]);
  }, 600_000);
});
