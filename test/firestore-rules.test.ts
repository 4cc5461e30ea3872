/**
 * firestore.rules against the real Firestore emulator: members read their own tenant's business
 * documents and nothing else; nobody writes; internal bookkeeping is never readable.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestContext,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import {
  collection,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  setDoc,
  setLogLevel,
  updateDoc,
  type Firestore,
} from 'firebase/firestore';
import { afterAll, beforeAll, describe, it } from 'vitest';

const tenantA = 'ten_rulesA';
const tenantB = 'ten_rulesB';
const internalCollections = ['idempotency', 'apiKeys', 'outbox', 'inbox', 'chainHeads'] as const;

let testEnv: RulesTestEnvironment;

// rules-unit-testing types context.firestore() as the compat SDK; at run time it is the modular
// Firestore instance that firebase/firestore's functions take.
const firestoreOf = (context: RulesTestContext): Firestore => context.firestore() as unknown as Firestore;

function emulatorHostPort(): { host: string; port: number } {
  const hostPort = process.env.FIRESTORE_EMULATOR_HOST;
  if (!hostPort) throw new Error('FIRESTORE_EMULATOR_HOST is not set: the integration global setup did not run');
  const separator = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, separator), port: Number(hostPort.slice(separator + 1)) };
}

beforeAll(async () => {
  // Every denied write is logged as a gRPC error by the SDK; the assertions already check them.
  setLogLevel('silent');
  testEnv = await initializeTestEnvironment({
    projectId: 'demo-tally-rules',
    firestore: {
      rules: readFileSync(path.join(import.meta.dirname, '..', 'firestore.rules'), 'utf8'),
      ...emulatorHostPort(),
    },
  });
  await testEnv.clearFirestore();
  // Seed every path we read, so that a denial is the rules' doing and not a missing document.
  await testEnv.withSecurityRulesDisabled(async (context) => {
    const db = firestoreOf(context);
    for (const tenantId of [tenantA, tenantB]) {
      await setDoc(doc(db, 'tenants', tenantId), { name: tenantId });
      await setDoc(doc(db, 'tenants', tenantId, 'journal', 'x'), { amountMinor: 100 });
      await setDoc(doc(db, 'tenants', tenantId, 'payments', 'y'), { status: 'created' });
      await setDoc(doc(db, 'tenants', tenantId, 'payments', 'y', 'attempts', 'z'), { n: 1 });
      for (const name of internalCollections) await setDoc(doc(db, 'tenants', tenantId, name, 'x'), { secret: true });
    }
    await setDoc(doc(db, 'apiKeyHashes', 'x'), { tenantId: tenantA });
    await setDoc(doc(db, 'platform', '_platform', 'idempotency', 'x'), { state: 'done' });
    await setDoc(doc(db, 'platform', '_platform'), { note: 'platform root' });
    await setDoc(doc(db, 'unmatched', 'x'), { anything: true });
  });
});

afterAll(async () => {
  await testEnv.cleanup();
});

const member = (tenantId: string, role = 'viewer', uid = `user-${tenantId}-${role}`): Firestore =>
  firestoreOf(testEnv.authenticatedContext(uid, { tenantId, role }));

describe('reads by members of their own tenant', () => {
  it.each(['owner', 'developer', 'viewer'])('a %s reads the tenant doc and its business documents', async (role) => {
    const db = member(tenantA, role);
    await assertSucceeds(getDoc(doc(db, 'tenants', tenantA)));
    await assertSucceeds(getDoc(doc(db, 'tenants', tenantA, 'journal', 'x')));
    await assertSucceeds(getDoc(doc(db, 'tenants', tenantA, 'payments', 'y')));
    await assertSucceeds(getDoc(doc(db, 'tenants', tenantA, 'payments', 'y', 'attempts', 'z')));
  });

  it('a member lists a business collection of their own tenant', async () => {
    await assertSucceeds(getDocs(collection(member(tenantA), 'tenants', tenantA, 'payments')));
  });

  it.each(internalCollections)('internal collection %s of their own tenant is not readable', async (name) => {
    const db = member(tenantA, 'owner');
    await assertFails(getDoc(doc(db, 'tenants', tenantA, name, 'x')));
    await assertFails(getDocs(collection(db, 'tenants', tenantA, name)));
  });
});

describe('cross-tenant isolation', () => {
  it("a member of A cannot read B's tenant doc or its subcollections", async () => {
    const db = member(tenantA, 'owner');
    await assertFails(getDoc(doc(db, 'tenants', tenantB)));
    await assertFails(getDoc(doc(db, 'tenants', tenantB, 'journal', 'x')));
    await assertFails(getDoc(doc(db, 'tenants', tenantB, 'payments', 'y')));
    await assertFails(getDoc(doc(db, 'tenants', tenantB, 'payments', 'y', 'attempts', 'z')));
    await assertFails(getDocs(collection(db, 'tenants', tenantB, 'payments')));
  });

  it('a member of A cannot list all tenants', async () => {
    await assertFails(getDocs(collection(member(tenantA, 'owner'), 'tenants')));
  });
});

describe('callers without valid membership claims', () => {
  it('an unauthenticated caller reads nothing', async () => {
    const db = firestoreOf(testEnv.unauthenticatedContext());
    await assertFails(getDoc(doc(db, 'tenants', tenantA)));
    await assertFails(getDoc(doc(db, 'tenants', tenantA, 'journal', 'x')));
    await assertFails(getDoc(doc(db, 'tenants', tenantA, 'payments', 'y')));
    await assertFails(getDoc(doc(db, 'unmatched', 'x')));
  });

  it('a signed-in user without a tenantId claim reads nothing', async () => {
    const db = firestoreOf(testEnv.authenticatedContext('no-tenant', { role: 'owner' }));
    await assertFails(getDoc(doc(db, 'tenants', tenantA)));
    await assertFails(getDoc(doc(db, 'tenants', tenantA, 'payments', 'y')));
  });

  it('a non-string tenantId claim is refused', async () => {
    const db = firestoreOf(testEnv.authenticatedContext('array-tenant', { tenantId: [tenantA], role: 'owner' }));
    await assertFails(getDoc(doc(db, 'tenants', tenantA)));
  });

  it.each(['admin', 'OWNER', ''])('role %j is not a member role', async (role) => {
    const db = member(tenantA, role, `bad-role-${role || 'empty'}`);
    await assertFails(getDoc(doc(db, 'tenants', tenantA)));
    await assertFails(getDoc(doc(db, 'tenants', tenantA, 'journal', 'x')));
  });

  it('a token without a role claim reads nothing', async () => {
    const db = firestoreOf(testEnv.authenticatedContext('no-role', { tenantId: tenantA }));
    await assertFails(getDoc(doc(db, 'tenants', tenantA)));
  });
});

describe('writes', () => {
  it.each(['owner', 'developer', 'viewer'])('a %s cannot create, update or delete anything in their tenant', async (role) => {
    const db = member(tenantA, role);
    await assertFails(setDoc(doc(db, 'tenants', tenantA), { name: 'hijacked' }));
    await assertFails(updateDoc(doc(db, 'tenants', tenantA), { name: 'hijacked' }));
    await assertFails(deleteDoc(doc(db, 'tenants', tenantA)));
    await assertFails(setDoc(doc(db, 'tenants', tenantA, 'payments', 'new'), { status: 'created' }));
    await assertFails(updateDoc(doc(db, 'tenants', tenantA, 'payments', 'y'), { status: 'captured' }));
    await assertFails(deleteDoc(doc(db, 'tenants', tenantA, 'journal', 'x')));
    await assertFails(setDoc(doc(db, 'tenants', tenantA, 'apiKeys', 'mine'), { role: 'owner' }));
  });

  it('nobody creates tenants, top-level or platform documents', async () => {
    const owner = member(tenantA, 'owner');
    const anonymous = firestoreOf(testEnv.unauthenticatedContext());
    for (const db of [owner, anonymous]) {
      await assertFails(setDoc(doc(db, 'tenants', 'ten_new'), { name: 'new' }));
      await assertFails(setDoc(doc(db, 'tenants', tenantB, 'payments', 'p'), { status: 'created' }));
      await assertFails(setDoc(doc(db, 'apiKeyHashes', 'forged'), { tenantId: tenantA }));
      await assertFails(setDoc(doc(db, 'platform', '_platform', 'idempotency', 'k'), { state: 'done' }));
      await assertFails(setDoc(doc(db, 'unmatched', 'y'), { anything: true }));
      await assertFails(deleteDoc(doc(db, 'unmatched', 'x')));
    }
  });
});

describe('platform and unmatched paths', () => {
  it('top-level apiKeyHashes and platform idempotency records are not readable', async () => {
    const db = member(tenantA, 'owner');
    await assertFails(getDoc(doc(db, 'apiKeyHashes', 'x')));
    await assertFails(getDocs(collection(db, 'apiKeyHashes')));
    await assertFails(getDoc(doc(db, 'platform', '_platform')));
    await assertFails(getDoc(doc(db, 'platform', '_platform', 'idempotency', 'x')));
  });

  it('the webhook matching indexes (paymentIndex, pspReferences) are not readable, even by an owner', async () => {
    const db = member(tenantA, 'owner');
    await assertFails(getDoc(doc(db, 'paymentIndex', 'pay_x')));
    await assertFails(getDoc(doc(db, 'pspReferences', 'stripe:pi_x')));
    await assertFails(getDocs(collection(db, 'pspReferences')));
    await assertFails(setDoc(doc(db, 'pspReferences', 'stripe:pi_y'), { tenantId: tenantA, paymentId: 'pay_y' }));
    // Events parked until their PSP reference is known: no tenant may read them (they name none).
    await assertFails(getDocs(collection(db, 'parkedPspEvents')));
    await assertFails(getDoc(doc(db, 'parkedPspEvents', 'stripe:evt_x')));
  });

  it('an unmatched top-level collection is denied by default', async () => {
    await assertFails(getDoc(doc(member(tenantA, 'owner'), 'unmatched', 'x')));
  });

  it('a member whose tenantId names an unmatched collection still reads nothing there', async () => {
    // Guards against a rule that matches on the claim alone instead of the `tenants/{id}` path.
    const db = member('x', 'owner', 'tenant-named-x');
    await assertFails(getDoc(doc(db, 'unmatched', 'x')));
  });
});
