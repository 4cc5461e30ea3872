/**
 * firestore.rules against the real Firestore emulator (issue 11 item 8, ADR 0019): an allow-list.
 * Every collection the code uses is listed here with the roles that may read it; every collection
 * and every kind of caller (owner, developer, viewer, another tenant's owner, unauthenticated,
 * platform admin) is tried for get and list; nobody writes anywhere. A collection the code starts
 * using without an entry here fails the coverage test, so nothing becomes readable by default.
 */
import { readFileSync, readdirSync } from 'node:fs';
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
  collectionGroup,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  setDoc,
  setLogLevel,
  updateDoc,
  type Firestore,
} from 'firebase/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const tenantA = 'ten_rulesA';
const tenantB = 'ten_rulesB';

type Role = 'owner' | 'developer' | 'viewer';
const members: readonly Role[] = ['owner', 'developer', 'viewer'];

/** The allow-list, as firestore.rules states it: who may read each collection under tenants/{id}. */
const tenantCollections: Readonly<Record<string, readonly Role[]>> = {
  accounts: members,
  balances: members,
  journal: members,
  payments: members,
  customers: ['owner', 'developer'], // names and emails
  settings: ['owner', 'developer'], // routing rules
  paymentMethods: [], // PSP tokens
  pendingEntries: [], // hold bookkeeping; GetEntry answers for it
  accountCodes: [],
  chainHeads: [],
  checkpoints: [], // VerifyChain answers for them
  chainVerifications: [], // signed verification watermarks (ADR 0026)
  balanceSnapshots: [], // as-of balance snapshots; GetBalance answers for them (ADR 0025)
  ledgerMaintenance: [], // the snapshot pass's cursor
  webhookEndpoints: [], // sealed signing secrets; WebhookEndpointsService answers for them
  webhookDeliveries: [], // event bodies and attempts; ListWebhookDeliveries answers for them
  apiKeys: [],
  idempotency: [],
  outbox: [],
  inbox: [],
  reconRuns: [], // reconciliation runs; ReconService answers for them
  reconBreaks: [], // reconciliation breaks with their evidence
  reconMatches: [], // payments a settlement report named (missing in report)
  reconReports: [], // uploaded settlement reports' headers (ADR 0033); ReconService answers for the runs
  reconReportChunks: [], // uploaded settlement reports' bytes
  // Billing (issue 14, ADR 0032).
  products: members,
  prices: members,
  coupons: members,
  subscriptions: members,
  invoices: members,
  creditNotes: members,
  usageRecords: members,
  testClocks: members,
  billingCustomers: ['owner', 'developer'], // tax location, postcode, VAT id
  billingCounters: [], // the gapless invoice counter
  usageAggregates: [], // running aggregates of metered usage (ADR 0035); renewals read them
  checkoutSessions: [], // buyers' emails, client-secret hashes; CheckoutService answers for them (ADR 0036)
};
/** Top-level collections (and the platform's own subcollections): nobody reads them. */
const topLevelCollections = ['apiKeyHashes', 'paymentIndex', 'pspReferences', 'parkedPspEvents', 'platform', 'checkoutSecrets'] as const;
const platformSubcollections = ['idempotency', 'maintenance'] as const;

/** Collection names the Firestore code uses: `.collection('x')`, `collectionGroup('x')`, `.doc('a/b/c/d')`. */
function collectionsUsedByCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) { if (entry.name !== 'gen') walk(file); continue; }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/\b(?:collection|collectionGroup)\('([A-Za-z_][\w]*)'\)/g)) names.add(m[1]!);
      for (const m of source.matchAll(/\.doc\('([^'$]+\/[^'$]+)'\)/g)) m[1]!.split('/').filter((_, i) => i % 2 === 0).forEach((n) => names.add(n));
    }
  };
  walk(path.join(root, 'functions/src'));
  return names;
}

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
  // Every denied read or write is logged as a gRPC error by the SDK; the assertions already check them.
  setLogLevel('silent');
  testEnv = await initializeTestEnvironment({
    projectId: 'demo-tally-rules',
    firestore: { rules: readFileSync(path.join(root, 'firestore.rules'), 'utf8'), ...emulatorHostPort() },
  });
  await testEnv.clearFirestore();
  // Seed every path we read, so that a denial is the rules' doing and not a missing document.
  await testEnv.withSecurityRulesDisabled(async (context) => {
    const db = firestoreOf(context);
    for (const tenantId of [tenantA, tenantB]) {
      await setDoc(doc(db, 'tenants', tenantId), { name: tenantId });
      for (const name of Object.keys(tenantCollections)) await setDoc(doc(db, 'tenants', tenantId, name, 'x'), { seeded: true });
      await setDoc(doc(db, 'tenants', tenantId, 'payments', 'x', 'attempts', 'z'), { n: 1 });
    }
    for (const name of topLevelCollections) await setDoc(doc(db, name, 'x'), { tenantId: tenantA });
    for (const name of platformSubcollections) await setDoc(doc(db, 'platform', '_platform', name, 'x'), { state: 'done' });
    await setDoc(doc(db, 'unmatched', 'x'), { anything: true });
  });
});

afterAll(async () => {
  await testEnv.cleanup();
});

const member = (tenantId: string, role: string, uid = `user-${tenantId}-${role || 'empty'}`): Firestore =>
  firestoreOf(testEnv.authenticatedContext(uid, { tenantId, role }));

/** One Firestore client per caller for the whole file (each context is a client app: slow to make). */
const once = (make: () => Firestore): (() => Firestore) => {
  let db: Firestore | undefined;
  return () => (db ??= make());
};

/** Every kind of caller, the role it holds in tenant A (null: none), and a tenant it is no member of. */
const callers: readonly { name: string; roleInA: Role | null; foreign: string; db: () => Firestore }[] = [
  { name: 'owner', roleInA: 'owner', foreign: tenantB, db: once(() => member(tenantA, 'owner')) },
  { name: 'developer', roleInA: 'developer', foreign: tenantB, db: once(() => member(tenantA, 'developer')) },
  { name: 'viewer', roleInA: 'viewer', foreign: tenantB, db: once(() => member(tenantA, 'viewer')) },
  { name: "another tenant's owner", roleInA: null, foreign: tenantA, db: once(() => member(tenantB, 'owner')) },
  { name: 'unauthenticated', roleInA: null, foreign: tenantB, db: once(() => firestoreOf(testEnv.unauthenticatedContext())) },
  { name: 'platform admin', roleInA: null, foreign: tenantB, db: once(() => firestoreOf(testEnv.authenticatedContext('platform-admin', { platformAdmin: true }))) },
];

describe('coverage', () => {
  it('every collection the code uses is in the allow-list table (add it there and to firestore.rules)', () => {
    const covered = new Set<string>(['tenants', ...Object.keys(tenantCollections), ...topLevelCollections, ...platformSubcollections]);
    const used = collectionsUsedByCode();
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((name) => !covered.has(name))).toEqual([]);
  });

  it('the rules allow reads on exactly the collections the table lets someone read', () => {
    const rules = readFileSync(path.join(root, 'firestore.rules'), 'utf8');
    const allowed = [...rules.matchAll(/match \/(\w+)\/\{\w+\} \{\s*allow read/g)].map((m) => m[1]).sort();
    expect(allowed).toEqual(Object.entries(tenantCollections).filter(([, roles]) => roles.length > 0).map(([name]) => name).sort());
    const code = rules.replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/allow\s[^:;]*\b(write|create|update|delete)\b/);
    expect(code).not.toMatch(/\{\w+=\*\*\}/); // no wildcard match that a new collection would fall into
  });
});

describe.each(callers)('reads by $name', ({ roleInA, foreign, db }) => {
  it('the tenant document: members only; nobody lists tenants', async () => {
    const read = getDoc(doc(db(), 'tenants', tenantA));
    await (roleInA !== null ? assertSucceeds(read) : assertFails(read));
    await assertFails(getDocs(collection(db(), 'tenants')));
  });

  it.each(Object.entries(tenantCollections))('tenants/A/%s: get and list as the allow-list says', async (name, readers) => {
    const allowed = roleInA !== null && readers.includes(roleInA);
    const check = allowed ? assertSucceeds : assertFails;
    await Promise.all([check(getDoc(doc(db(), 'tenants', tenantA, name, 'x'))), check(getDocs(collection(db(), 'tenants', tenantA, name)))]);
  });

  it('nothing of a tenant it is no member of, whatever the collection', async () => {
    await Promise.all([
      assertFails(getDoc(doc(db(), 'tenants', foreign))),
      ...Object.keys(tenantCollections).flatMap((name) => [
        assertFails(getDoc(doc(db(), 'tenants', foreign, name, 'x'))),
        assertFails(getDocs(collection(db(), 'tenants', foreign, name))),
      ]),
    ]);
  });

  it('no subcollection of a readable document, no collection-group query', async () => {
    await assertFails(getDoc(doc(db(), 'tenants', tenantA, 'payments', 'x', 'attempts', 'z')));
    await assertFails(getDocs(collectionGroup(db(), 'payments')));
  });

  it.each(topLevelCollections)('top-level %s: nobody', async (name) => {
    await assertFails(getDoc(doc(db(), name, 'x')));
    await assertFails(getDocs(collection(db(), name)));
  });

  it('platform documents and an unmatched collection: nobody', async () => {
    for (const name of platformSubcollections) await assertFails(getDoc(doc(db(), 'platform', '_platform', name, 'x')));
    await assertFails(getDoc(doc(db(), 'unmatched', 'x')));
  });
});

describe.each(callers)('writes by $name', ({ db }) => {
  it('creates, updates and deletes nothing anywhere', async () => {
    const d = db();
    await assertFails(setDoc(doc(d, 'tenants', tenantA), { name: 'hijacked' }));
    await assertFails(updateDoc(doc(d, 'tenants', tenantA), { name: 'hijacked' }));
    await assertFails(setDoc(doc(d, 'tenants', 'ten_new'), { name: 'new' }));
    await Promise.all([
      ...Object.keys(tenantCollections).flatMap((name) => [
        assertFails(setDoc(doc(d, 'tenants', tenantA, name, 'new'), { forged: true })),
        assertFails(updateDoc(doc(d, 'tenants', tenantA, name, 'x'), { forged: true })),
        assertFails(deleteDoc(doc(d, 'tenants', tenantA, name, 'x'))),
      ]),
      ...topLevelCollections.map((name) => assertFails(setDoc(doc(d, name, 'forged'), { tenantId: tenantA }))),
    ]);
    await assertFails(setDoc(doc(d, 'unmatched', 'y'), { anything: true }));
  });
});

describe('callers without valid membership claims read nothing', () => {
  const readsNothing = async (db: Firestore) => {
    await Promise.all([
      assertFails(getDoc(doc(db, 'tenants', tenantA))),
      ...Object.keys(tenantCollections).map((name) => assertFails(getDoc(doc(db, 'tenants', tenantA, name, 'x')))),
    ]);
  };

  it('a signed-in user without a tenantId claim', async () => {
    await readsNothing(firestoreOf(testEnv.authenticatedContext('no-tenant', { role: 'owner' })));
  });

  it('a non-string tenantId claim', async () => {
    await readsNothing(firestoreOf(testEnv.authenticatedContext('array-tenant', { tenantId: [tenantA], role: 'owner' })));
  });

  it.each(['admin', 'OWNER', ''])('role %j', async (role) => {
    await readsNothing(member(tenantA, role));
  });

  it('a token without a role claim, or with a list of roles', async () => {
    await readsNothing(firestoreOf(testEnv.authenticatedContext('no-role', { tenantId: tenantA })));
    await readsNothing(firestoreOf(testEnv.authenticatedContext('list-role', { tenantId: tenantA, role: ['owner'] })));
  });

  it('a member whose tenantId names an unmatched collection', async () => {
    // Guards against a rule that matches on the claim alone instead of the `tenants/{id}` path.
    await assertFails(getDoc(doc(member('x', 'owner', 'tenant-named-x'), 'unmatched', 'x')));
  });
});
