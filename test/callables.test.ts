/**
 * The HTTPS callables bridge (ADR 0037) through the official Firebase JS SDK from Node: a console
 * user signed in to the Auth emulator calls `httpsCallableFromURL` on the local server's /callables/,
 * which runs the same ConnectRPC services as the API. The SDK's FunctionsError is the oracle of the
 * callable wire protocol (codes, `details`).
 */
import { randomUUID } from 'node:crypto';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from 'firebase/auth';
import { getFunctions, httpsCallableFromURL, type FunctionsError } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountType } from '../functions/src/gen/tally/ledger/v1/ledger_pb.js';
import { createConsoleUser, type ConsoleUser } from './support/browser.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
const apps: FirebaseApp[] = [];
beforeAll(async () => { stack = await startTestStack(); }, 120_000);
afterAll(async () => {
  await Promise.all(apps.map((app) => deleteApp(app)));
  await stack?.close();
});

/** A Firebase JS SDK app against the local server's init.json, signed in as `user` (or anonymous). */
async function sdkFor(user?: ConsoleUser) {
  const init = (await (await fetch(`${stack.url}/__/firebase/init.json`)).json()) as { projectId: string; apiKey: string; authDomain: string };
  const app = initializeApp(init, `callables-${randomUUID()}`);
  apps.push(app);
  if (user) {
    const auth = getAuth(app);
    const env = (await (await fetch(`${stack.url}/__/tally/env.json`)).json()) as { authEmulatorUrl: string };
    connectAuthEmulator(auth, env.authEmulatorUrl, { disableWarnings: true });
    await signInWithEmailAndPassword(auth, user.email, user.password);
  }
  const functions = getFunctions(app);
  return (service: string, method: string, data: unknown) => httpsCallableFromURL(functions, `${stack.url}/callables/${service}/${method}`)(data).then((r) => r.data as Record<string, unknown>);
}

/** The FunctionsError of a call that must fail: code and details. */
async function refusal(call: Promise<unknown>): Promise<{ code: string; details: unknown; message: string }> {
  const error = await call.then(() => { throw new Error('the call succeeded'); }, (e: unknown) => e as FunctionsError);
  return { code: error.code, details: error.details, message: error.message };
}

const ledger = 'tally.ledger.v1.LedgerService';

describe('console callables (Firebase JS SDK, Auth emulator)', () => {
  it('a signed-in owner calls an RPC and gets its response in proto JSON', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const account = (await owner.ledger.createAccount({ code: 'cash', name: 'Cash', currency: 'EUR', type: AccountType.ASSET, idempotencyKey: randomUUID() })).account!;
    const call = await sdkFor(await createConsoleUser(tenantId, 'owner'));
    const got = await call(ledger, 'GetAccount', { accountId: account.id });
    expect(got).toMatchObject({ account: { id: account.id, code: 'cash', currency: 'EUR', type: 'ACCOUNT_TYPE_ASSET' } });
    // A write through the callable, with its idempotency key: the retry answers the same account.
    const request = { code: 'sales', name: 'Sales', currency: 'EUR', type: 'ACCOUNT_TYPE_LIABILITY', idempotencyKey: randomUUID() };
    const first = await call(ledger, 'CreateAccount', request);
    const retried = await call(ledger, 'CreateAccount', request);
    expect((retried.account as { id: string }).id).toBe((first.account as { id: string }).id);
    const tenant = await call('tally.tenancy.v1.TenancyService', 'GetTenant', {});
    expect(tenant).toMatchObject({ tenant: { id: tenantId } });
  });

  it('refuses a caller without a token: unauthenticated, reason CREDENTIALS_MISSING', async () => {
    const call = await sdkFor();
    expect(await refusal(call(ledger, 'ListAccounts', {}))).toMatchObject({ code: 'functions/unauthenticated', details: { reason: 'CREDENTIALS_MISSING', domain: 'tally' } });
  });

  it('never shows another tenant\'s data: not-found, as for an id that does not exist', async () => {
    const a = await stack.newTenant();
    const b = await stack.newTenant();
    const bAccount = (await b.owner.ledger.createAccount({ code: 'cash', name: 'Cash', currency: 'EUR', type: AccountType.ASSET, idempotencyKey: randomUUID() })).account!;
    const call = await sdkFor(await createConsoleUser(a.tenantId, 'owner'));
    expect(await refusal(call(ledger, 'GetAccount', { accountId: bAccount.id }))).toMatchObject({ code: 'functions/not-found', details: { reason: 'NOT_FOUND' } });
    const listed = await call(ledger, 'ListAccounts', {});
    expect(JSON.stringify(listed)).not.toContain(bAccount.id);
  });

  it('lets a viewer read but not write: permission-denied, reason PERMISSION_DENIED, nothing written', async () => {
    const { tenantId, owner } = await stack.newTenant();
    const call = await sdkFor(await createConsoleUser(tenantId, 'viewer'));
    await expect(call(ledger, 'ListAccounts', {})).resolves.toBeDefined();
    const denied = await refusal(call(ledger, 'CreateAccount', { code: 'x', name: 'X', currency: 'EUR', type: 'ACCOUNT_TYPE_ASSET', idempotencyKey: randomUUID() }));
    expect(denied).toMatchObject({ code: 'functions/permission-denied', details: { reason: 'PERMISSION_DENIED', domain: 'tally' } });
    expect(await refusal(call('tally.tenancy.v1.TenancyService', 'CreateApiKey', { name: 'k', role: 'ROLE_OWNER', idempotencyKey: randomUUID() })))
      .toMatchObject({ code: 'functions/permission-denied' });
    expect((await owner.ledger.listAccounts({})).accounts).toEqual([]);
  });

  it.each([
    ['a mistyped field', { code: 'x', nmae: 'X' }, { reason: 'FIELD_INVALID', metadata: { field: 'nmae' } }],
    ['a wrong type', { code: 'x', shardCount: 'many' }, { reason: 'FIELD_INVALID' }],
    ['an unknown enum name', { code: 'x', type: 'ACCOUNT_TYPE_GOLD' }, { reason: 'FIELD_INVALID' }],
    ['data that is not an object', 'CreateAccount please', { reason: 'MALFORMED_REQUEST', metadata: { field: 'data' } }],
  ])('answers malformed data (%s) with invalid-argument and the field, never internal', async (_name, data, details) => {
    const { tenantId } = await stack.newTenant();
    const call = await sdkFor(await createConsoleUser(tenantId, 'owner'));
    expect(await refusal(call(ledger, 'CreateAccount', data))).toMatchObject({ code: 'functions/invalid-argument', details });
  });

  it('refuses a loosely written 64-bit integer as the API does (plain decimal only)', async () => {
    const { tenantId } = await stack.newTenant();
    const call = await sdkFor(await createConsoleUser(tenantId, 'owner'));
    const postings = [{ accountId: 'acc_x', direction: 'DIRECTION_DEBIT', amountMinor: '0x10', currency: 'EUR' }];
    expect(await refusal(call(ledger, 'CreateEntry', { entryId: 'je_x', postings, idempotencyKey: randomUUID() })))
      .toMatchObject({ code: 'functions/invalid-argument', details: { reason: 'FIELD_INVALID', metadata: { field: 'postings[0].amount_minor' } } });
  });

  it('exposes only its allowlist: platform-admin RPCs and unknown paths are unimplemented', async () => {
    const { tenantId } = await stack.newTenant();
    const call = await sdkFor(await createConsoleUser(tenantId, 'owner'));
    for (const [service, method] of [['tally.tenancy.v1.TenancyService', 'CreateTenant'], ['tally.tenancy.v1.TenancyService', 'SetTenantPricing'], [ledger, 'NoSuchMethod'], ['tally.nope.v1.Nope', 'Get']]) {
      expect(await refusal(call(service!, method!, {})), `${service}/${method}`).toMatchObject({ code: 'functions/unimplemented', details: { reason: 'UNSUPPORTED_PROTOCOL', metadata: { field: 'path' } } });
    }
  });
});

describe('checkout callables', () => {
  it('serve HostedCheckoutService without Firebase Auth: a forged client secret is not-found', async () => {
    const call = await sdkFor();
    expect(await refusal(call('tally.checkout.v1.HostedCheckoutService', 'GetHostedSession', { clientSecret: `cs_${randomUUID()}_secret_forged` })))
      .toMatchObject({ code: 'functions/not-found', details: { reason: 'NOT_FOUND' } });
  });
});

describe('the callable wire protocol, raw', () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/callables/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('answers a reserved "@type" key (which firebase-functions would decode as internal) with invalid-argument', async () => {
    const res = await post(`${ledger}/ListAccounts`, JSON.stringify({ data: { pageToken: { '@type': 'type.googleapis.com/google.protobuf.Int64Value', value: 'x' } } }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: { reason: 'FIELD_INVALID', metadata: { field: 'data.pageToken.@type' } } } });
  });

  it.each([
    ['not JSON', 'text/plain', 'hello', 'UNSUPPORTED_CONTENT_TYPE'],
    ['no data', 'application/json', '{"input": {}}', 'MALFORMED_REQUEST'],
    ['a JSON array', 'application/json', '[1]', 'MALFORMED_REQUEST'],
  ])('refuses a body that is %s with a typed invalid-argument', async (_name, contentType, body, reason) => {
    const res = await post(`${ledger}/ListAccounts`, body, { 'content-type': contentType });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: { reason } } });
  });

  it('refuses a GET: callables are POST', async () => {
    const res = await fetch(`${stack.url}/callables/${ledger}/ListAccounts`);
    expect(res.status).toBe(501);
    expect(await res.json()).toMatchObject({ error: { status: 'UNIMPLEMENTED', details: { reason: 'UNSUPPORTED_PROTOCOL', metadata: { field: 'method' } } } });
  });

  it('refuses a token the Auth emulator never issued (firebase-functions checks it before Tally)', async () => {
    const res = await post(`${ledger}/ListAccounts`, '{"data": {}}', { authorization: 'Bearer not-a-token' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { status: 'UNAUTHENTICATED' } });
  });
});
