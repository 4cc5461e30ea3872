/**
 * Security and isolation (issue 11 items 7 and 10, ADR 0019), end to end over real HTTP against the
 * real Auth and Firestore emulators.
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTallyClient } from '../functions/src/cli/client.js';
import { ErrorInfoSchema } from '../functions/src/gen/tally/errors/v1/errors_pb.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

/** The call's ConnectError code and ErrorInfo reason and metadata. */
async function failure(promise: Promise<unknown>): Promise<{ code: Code; reason: string; metadata: Record<string, string> }> {
  try {
    await promise;
  } catch (error) {
    const e = ConnectError.from(error);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason ?? '', metadata: info?.metadata ?? {} };
  }
  throw new Error('expected the call to fail');
}

const auth = () => getAuth(getApps()[0] ?? initializeApp({ projectId: process.env.GCLOUD_PROJECT }));
const emulatorUrl = (path: string) => `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/${path}`;

/** A real user signed in on the Auth emulator: its uid and a genuine ID token carrying `claims`. */
async function signedIn(claims: Record<string, unknown>): Promise<{ uid: string; idToken: string }> {
  const email = `${randomUUID()}@example.com`;
  const user = await auth().createUser({ email, password: 'secret-password' });
  await auth().setCustomUserClaims(user.uid, claims);
  const res = await fetch(emulatorUrl('accounts:signInWithPassword?key=any'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'secret-password', returnSecureToken: true }),
  });
  expect(res.status).toBe(200);
  return { uid: user.uid, idToken: ((await res.json()) as { idToken: string }).idToken };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
/** An unsigned token (as the emulator's own are) carrying `payload`. */
const unsigned = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none', typ: 'JWT' }) => `${b64(header)}.${b64(payload)}.`;
/** `token` with its payload edited: what an attacker holding one genuine token can make. */
const edited = (token: string, change: (p: Record<string, unknown>) => Record<string, unknown>) => unsigned(change(payloadOf(token)));

describe('forged ID tokens against the real Auth emulator are CREDENTIALS_INVALID (issue 11 item 7)', () => {
  let tenantA: string;
  let tenantB: string;
  let viewer: { uid: string; idToken: string };

  beforeAll(async () => {
    tenantA = (await stack.newTenant('Forgery A')).tenantId;
    tenantB = (await stack.newTenant('Forgery B')).tenantId;
    viewer = await signedIn({ tenantId: tenantA, role: 'viewer' });
  });

  const getTenantWith = (idToken: string) => createTallyClient(stack.url, idToken).tenancy.getTenant({});
  const expectInvalid = async (idToken: string) => {
    const error = await failure(getTenantWith(idToken));
    expect([error.code, error.reason]).toEqual([Code.Unauthenticated, 'CREDENTIALS_INVALID']);
  };

  it('the genuine token works (the baseline every forgery is edited from)', async () => {
    expect((await getTenantWith(viewer.idToken)).tenant?.id).toBe(tenantA);
  });

  it('an edited tenantId (another tenant) is refused', async () => {
    await expectInvalid(edited(viewer.idToken, (p) => ({ ...p, tenantId: tenantB })));
  });

  it('an edited role (viewer -> owner) is refused', async () => {
    const forged = edited(viewer.idToken, (p) => ({ ...p, role: 'owner' }));
    await expectInvalid(forged);
    // Without the check the forged owner could mint itself an API key.
    const error = await failure(createTallyClient(stack.url, forged).tenancy.createApiKey({ name: 'stolen', role: 1, idempotencyKey: randomUUID() } as never));
    expect(error.reason).toBe('CREDENTIALS_INVALID');
  });

  it('a platformAdmin claim added to a genuine token is refused', async () => {
    const forged = edited(viewer.idToken, (p) => ({ ...p, platformAdmin: true }));
    await expectInvalid(forged);
    const error = await failure(createTallyClient(stack.url, forged).tenancy.createTenant({ name: 'Forged', idempotencyKey: randomUUID() }));
    expect(error.reason).toBe('CREDENTIALS_INVALID');
  });

  it('an unsigned token made from scratch for a user that does not exist is refused', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const project = process.env.GCLOUD_PROJECT!;
    const uid = `forged-${randomUUID()}`;
    await expectInvalid(unsigned({
      iss: `https://securetoken.google.com/${project}`, aud: project, auth_time: nowSec, user_id: uid, sub: uid, iat: nowSec, exp: nowSec + 3600,
      platformAdmin: true, firebase: { identities: {}, sign_in_provider: 'password' },
    }));
  });

  it('a token claiming RS256 with a made-up signature is refused', async () => {
    const [, payload] = viewer.idToken.split('.');
    await expectInvalid(`${b64({ alg: 'RS256', kid: 'forged', typ: 'JWT' })}.${payload}.${Buffer.from('not a signature').toString('base64url')}`);
  });

  it('an expired token is refused', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    await expectInvalid(edited(viewer.idToken, (p) => ({ ...p, iat: nowSec - 7200, exp: nowSec - 3600 })));
  });

  it('a token for another project (audience and issuer) is refused', async () => {
    await expectInvalid(edited(viewer.idToken, (p) => ({ ...p, aud: 'demo-other', iss: 'https://securetoken.google.com/demo-other' })));
  });

  it("a revoked user's token is refused at once", async () => {
    const member = await signedIn({ tenantId: tenantA, role: 'developer' });
    expect((await getTenantWith(member.idToken)).tenant?.id).toBe(tenantA);
    // Revocation as revokeRefreshTokens records it, one second later: tokens issued before it are
    // revoked (revokeRefreshTokens itself has whole-second precision, the same second as sign-in).
    const res = await fetch(emulatorUrl(`projects/${process.env.GCLOUD_PROJECT}/accounts:update`), {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
      body: JSON.stringify({ localId: member.uid, validSince: String(Math.floor(Date.now() / 1000) + 1) }),
    });
    expect(res.status).toBe(200);
    await expectInvalid(member.idToken);
  });

  it('a genuine platformAdmin token still works, and a token older than its user\'s claims is refused until renewed', async () => {
    const admin = await signedIn({ platformAdmin: true });
    const created = await createTallyClient(stack.url, admin.idToken).tenancy.createTenant({ name: 'By ID token', idempotencyKey: randomUUID() });
    expect(created.tenant?.id).toMatch(/^ten_/);
    const member = await signedIn({ tenantId: tenantA, role: 'owner' });
    await auth().setCustomUserClaims(member.uid, { tenantId: tenantA, role: 'viewer' });
    await expectInvalid(member.idToken);
  });

  it("a disabled user's token is refused at once", async () => {
    const member = await signedIn({ tenantId: tenantA, role: 'viewer' });
    await auth().updateUser(member.uid, { disabled: true });
    await expectInvalid(member.idToken);
  });
});

describe('input validated at the edge: FIELD_INVALID naming the field, nothing written (issue 11 item 10)', () => {
  let tenantId: string;
  let owner: TestStack['admin'];

  beforeAll(async () => {
    ({ tenantId, owner } = await stack.newTenant('Edge'));
  });

  /** Every document under the tenant, by collection: what a refused request must leave as it was. */
  async function tenantDocuments(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const collection of await stack.services.db.doc(`tenants/${tenantId}`).listCollections()) {
      counts[collection.id] = (await collection.count().get()).data().count;
    }
    return counts;
  }
  const key = () => randomUUID();
  const refused = async (call: () => Promise<unknown>, field: string, reason = 'FIELD_INVALID') => {
    const before = await tenantDocuments();
    const error = await failure(call());
    expect([error.code, error.reason, error.metadata.field]).toEqual([Code.InvalidArgument, reason, field]);
    expect(await tenantDocuments()).toEqual(before);
  };
  const pathLike = ['..', 'a/b', '__x__', 'pay_a/b', 'pay_..', `pay_${'x'.repeat(65)}`];

  it.each([
    ['CR/LF', 'https://shop.example/done\r\nSet-Cookie: a=b'],
    ['LF', 'https://shop.example/\ndone'],
    ['NUL', 'https://shop.example/\u0000'],
    ['javascript:', 'javascript:alert(document.cookie)'],
    ['a tab inside the scheme', 'java\tscript:alert(1)'],
  ])('a return URL with %s, with and without confirm', async (_, returnUrl) => {
    for (const confirm of [false, true]) {
      await refused(() => owner.payments.createPayment({ amountMinor: 1000n, currency: 'EUR', paymentMethodId: confirm ? 'pm_x' : '', confirm, returnUrl, idempotencyKey: key() }), 'return_url');
    }
    await refused(() => owner.payments.confirmPayment({ paymentId: 'pay_x', returnUrl, idempotencyKey: key() }), 'return_url');
  });

  it.each(pathLike)('a payment id %j, on every payments RPC that takes one', async (paymentId) => {
    await refused(() => owner.payments.confirmPayment({ paymentId, idempotencyKey: key() }), 'payment_id');
    await refused(() => owner.payments.capturePayment({ paymentId, idempotencyKey: key() }), 'payment_id');
    await refused(() => owner.payments.cancelPayment({ paymentId, idempotencyKey: key() }), 'payment_id');
    await refused(() => owner.payments.refundPayment({ paymentId, idempotencyKey: key() }), 'payment_id');
    await refused(() => owner.payments.updatePayment({ paymentId, metadata: { a: 'b' }, idempotencyKey: key() }), 'payment_id');
    await refused(() => owner.payments.getPayment({ paymentId }), 'payment_id');
  });

  it.each(['..', 'a/b', '__x__', 'cus_a/b'])('a customer or payment method id %j', async (id) => {
    await refused(() => owner.payments.createPayment({ amountMinor: 1000n, currency: 'EUR', customerId: id, idempotencyKey: key() }), 'customer_id');
    await refused(() => owner.payments.createPayment({ amountMinor: 1000n, currency: 'EUR', paymentMethodId: id, idempotencyKey: key() }), 'payment_method_id');
    await refused(() => owner.payments.confirmPayment({ paymentId: 'pay_x', paymentMethodId: id, idempotencyKey: key() }), 'payment_method_id');
    await refused(() => owner.payments.createPaymentMethod({ customerId: id, pspTokens: { stripe: 'pm_card_visa' }, idempotencyKey: key() }), 'customer_id');
  });

  it('a missing payment id is FIELD_REQUIRED', async () => {
    await refused(() => owner.payments.capturePayment({ idempotencyKey: key() }), 'payment_id', 'FIELD_REQUIRED');
  });

  it.each([
    ['email', { email: 'ada@shop.example\r\nBcc: all@shop.example', name: 'Ada' }],
    ['email', { email: 'not an email', name: 'Ada' }],
    ['name', { email: 'ada@shop.example', name: 'Ada\nLovelace' }],
    ['name', { email: 'ada@shop.example', name: 'x'.repeat(201) }],
  ])('a customer %s that is not one', async (field, input) => {
    await refused(() => owner.payments.createCustomer({ ...input, idempotencyKey: key() }), field);
  });

  it.each([
    ['brand', { brand: 'VISA' }], ['brand', { brand: 'visa\u0000' }], ['brand', { brand: 'v'.repeat(33) }],
    ['country', { country: 'FRA' }], ['country', { country: 'fr' }], ['country', { country: 'ZZ' }],
  ])('a payment method %s outside its set', async (field, fields) => {
    await refused(() => owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, ...fields, idempotencyKey: key() }), field);
  });

  it('well-formed fields still pass', async () => {
    const customer = await owner.payments.createCustomer({ email: 'zoe@shop.example', name: 'Zoë Ðurić', idempotencyKey: key() });
    const method = await owner.payments.createPaymentMethod({ customerId: customer.customer!.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', idempotencyKey: key() });
    const payment = await owner.payments.createPayment({
      amountMinor: 1000n, currency: 'EUR', customerId: customer.customer!.id, paymentMethodId: method.paymentMethod!.id, returnUrl: 'https://shop.example/done', idempotencyKey: key(),
    });
    expect((await owner.payments.getPayment({ paymentId: payment.payment!.id })).payment?.id).toBe(payment.payment!.id);
  });

  it.each(['..', 'a/b', '__x__', 'acc_a/b'])('ledger and tenancy ids %j', async (id) => {
    await refused(() => owner.ledger.getAccount({ accountId: id }), 'account_id');
    await refused(() => owner.ledger.getBalance({ accountId: id }), 'account_id');
    await refused(() => owner.ledger.listEntries({ accountId: id }), 'account_id');
    await refused(() => owner.ledger.closeAccount({ accountId: id, idempotencyKey: key() }), 'account_id');
    await refused(() => owner.ledger.getEntry({ entryId: id }), 'entry_id');
    await refused(() => owner.ledger.postPendingEntry({ entryId: id, idempotencyKey: key() }), 'entry_id');
    await refused(() => owner.ledger.voidPendingEntry({ entryId: id, idempotencyKey: key() }), 'entry_id');
    await refused(() => owner.ledger.verifyChain({ tenantId: id }), 'tenant_id');
    await refused(() => owner.tenancy.getTenant({ tenantId: id }), 'tenant_id');
    await refused(() => owner.tenancy.revokeApiKey({ apiKeyId: id, idempotencyKey: key() }), 'api_key_id');
  });
});
