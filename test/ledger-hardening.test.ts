/**
 * Issue 11, ledger items, over real HTTP against the Firestore emulator: the payments namespace is
 * reserved on the public RPCs (item 1), metadata is stored and hashed exactly (item 2), holds
 * expire at their timeout (item 3, with an injected clock: no sleeps), overflow is refused (item 4)
 * and VerifyChain checks every checkpoint, however many (item 5).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningServer } from '../emulators/api-server.js';
import { composeServices, type Services } from '../functions/src/compose.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { planEntry, sweepExpiredPendings } from '../functions/src/app/ledger/ledger-use-cases.js';
import { createAccount as createAccountDomain, createCheckpoint, shardComponentMaxMinor, signCheckpoint } from '../functions/src/domain/ledger/index.js';
import { MERCHANT_PAYABLE, PLATFORM_FEE_REVENUE, paymentAccountIdOf, paymentLedgerEntry, pspReceivableCode } from '../functions/src/domain/payments/ledger-postings.js';
import { AMOUNT_MINOR_MAX } from '../functions/src/domain/money/index.js';
import { EntryStatus } from '../functions/src/gen/tally/ledger/v1/ledger_pb.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { pspNames } from '../functions/src/domain/payments/psp-vocabulary.js';
import { Code, expectConnectError } from './support/connect-error.js';
import { AccountType, openAccount, transfer } from './support/ledger-helpers.js';

/** The ledger's clock, moved by the tests (holds expire at their timeout without waiting). */
let nowMs = Date.now();
const clock = { nowMs: () => nowMs };

let services: Services;
let server: RunningServer;
let admin: TallyClient;

beforeAll(async () => {
  const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
  services = composeServices(parseConfig({ ...process.env, TALLY_PLATFORM_ADMIN_KEY_SHA256: createHash('sha256').update(adminKey).digest('hex') }), { clock });
  server = await startHttpServer(services, { port: 0 });
  admin = createTallyClient(server.url, adminKey);
});
afterAll(async () => { await server.close(); });

async function newTenant(): Promise<{ tenantId: string; owner: TallyClient; ownerKey: string }> {
  const res = await admin.tenancy.createTenant({ name: 'Ledger hardening', idempotencyKey: randomUUID() });
  return { tenantId: res.tenant!.id, owner: createTallyClient(server.url, res.ownerApiKey!.secret), ownerKey: res.ownerApiKey!.secret };
}

const journalCount = async (tenantId: string) => Number((await services.db.collection(`tenants/${tenantId}/journal`).count().get()).data().count);

/** The payment accounts of a currency, created as the payments path creates them (not through the API). */
async function createPaymentAccounts(tenantId: string, currency: string): Promise<void> {
  const codes = [pspReceivableCode(pspNames[0]!), MERCHANT_PAYABLE, PLATFORM_FEE_REVENUE] as const;
  for (const code of codes) {
    const account = createAccountDomain(
      { code: `${code}:${currency}`, name: code, currency, type: code === MERCHANT_PAYABLE ? 'liability' : code === PLATFORM_FEE_REVENUE ? 'revenue' : 'asset', flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: 1 },
      { id: paymentAccountIdOf(code, currency), tenantId, createdAtMs: clock.nowMs() },
    );
    await services.ledger.store.createAccount(account);
  }
}

describe('item 1: the payments namespace is reserved on the public ledger RPCs', () => {
  it('refuses a developer key pre-creating je_cap_<paymentId>, closing or posting to acc_pay_*, or taking a payments code; the payments path still writes them', async () => {
    const { tenantId, owner } = await newTenant();
    await createPaymentAccounts(tenantId, 'EUR');
    const cash = await openAccount(owner, { currency: 'EUR' });
    const other = await openAccount(owner, { currency: 'EUR' });
    const paymentId = `pay_${randomUUID().replaceAll('-', '')}`;
    const before = await journalCount(tenantId);

    for (const entryId of [`je_cap_${paymentId}`, `je_capr_${paymentId}`, `je_cap2_${paymentId}`, 'je_ref_re_1', 'je_refr_re_1', 'je_cbk_x', 'je_cbr2_x']) {
      await expectConnectError(owner.ledger.createEntry(transfer(cash, other, 10n, { id: entryId, currency: 'EUR' })), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'entry_id', namespace: 'payments' });
    }
    const feeRevenue = paymentAccountIdOf(PLATFORM_FEE_REVENUE, 'EUR');
    await expectConnectError(owner.ledger.closeAccount({ accountId: feeRevenue, idempotencyKey: randomUUID() }), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'account_id' });
    await expectConnectError(owner.ledger.createEntry(transfer(feeRevenue, cash, 10n, { currency: 'EUR' })), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'postings[0].account_id' });
    for (const code of ['merchant_payable:GBP', 'psp_receivable:stripe', 'platform_fee_revenue', 'chargeback_loss:EUR']) {
      await expectConnectError(openAccount(owner, { code, currency: 'GBP' }), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'code' });
    }
    await expectConnectError(owner.ledger.postPendingEntry({ entryId: `je_cap_${paymentId}`, amountsMinor: [], idempotencyKey: randomUUID() }), Code.InvalidArgument, 'RESERVED_NAMESPACE');
    await expectConnectError(owner.ledger.voidPendingEntry({ entryId: `je_cap_${paymentId}`, idempotencyKey: randomUUID() }), Code.InvalidArgument, 'RESERVED_NAMESPACE');
    expect(await journalCount(tenantId)).toBe(before);
    expect((await owner.ledger.getAccount({ accountId: feeRevenue })).account?.closed).toBe(false);

    // The capture the PSP performed is still recordable, through the internal path payments uses.
    const capture = paymentLedgerEntry(
      { kind: 'capture', paymentId, psp: pspNames[0]!, currency: 'EUR', amountMinor: 1_000n, feeMinor: 29n, sequence: 1 },
      (code, currency) => paymentAccountIdOf(code, currency),
    );
    const view = await services.ledger.lanes.withLane((lane) => services.ledger.store.transaction(tenantId, async (tx) => {
      const plan = await planEntry(services.ledger, tx, lane, tenantId, capture, { traceId: '', spanId: '' });
      plan.commit();
      return plan.view;
    }));
    expect(view.record.id).toBe(`je_cap_${paymentId}`);
    // Readers still see the system accounts and entries.
    expect((await owner.ledger.getEntry({ entryId: `je_cap_${paymentId}` })).entry?.status).toBe(EntryStatus.POSTED);
    expect((await owner.ledger.getBalance({ accountId: feeRevenue })).balance?.postedCreditsMinor).toBe(29n);
  });
});

describe('item 2: metadata is stored and hashed exactly as accepted', () => {
  const nasty = Object.fromEntries([
    ['__proto__', 'p'], ['constructor', 'c'], ['$bigint', '12'], ['$$bigint', '3'], ['toString', ''], ['nul\u0000key', 'v\u0000'], ['__name__', 'n'], ['a.b', 'dot'], ['`x`', '😀'],
  ]);

  it('echoes, reads back and verifies an entry whose metadata keys are __proto__, constructor, $bigint, NUL...', async () => {
    const { owner } = await newTenant();
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const created = (await owner.ledger.createEntry({ ...transfer(a, b, 5n), metadata: nasty })).entry!;
    expect(Object.entries(created.metadata).sort()).toEqual(Object.entries(nasty).sort());
    const got = (await owner.ledger.getEntry({ entryId: created.id })).entry!;
    expect(Object.entries(got.metadata).sort()).toEqual(Object.entries(nasty).sort());
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: true, entriesChecked: 1n, failureReason: '' });
  });

  it('accept => verify, for arbitrary metadata keys and values (fast-check through the real store and VerifyChain)', async () => {
    const { owner } = await newTenant();
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const text = (maxLength: number) => fc.oneof(
      fc.string({ unit: 'binary', maxLength }),
      fc.constantFrom('__proto__', 'constructor', '$bigint', '\u0000', 'hasOwnProperty', '__x__', '.', '', '\ud800'),
    );
    let accepted = 0;
    await fc.assert(fc.asyncProperty(fc.dictionary(text(40), text(60), { maxKeys: 6 }), async (metadata) => {
      const result = await owner.ledger.createEntry({ ...transfer(a, b, 1n), metadata }).then((r) => r.entry!, (e: unknown) => e);
      if (!('id' in (result as object))) {
        // A refusal is typed bad input, never internal.
        expect(String(result)).toMatch(/invalid_argument/);
        return;
      }
      accepted++;
      const got = (await owner.ledger.getEntry({ entryId: (result as { id: string }).id })).entry!;
      expect(Object.entries(got.metadata).sort()).toEqual(Object.entries(metadata).sort());
    }), { numRuns: 25, seed: 1_111 });
    expect(accepted).toBeGreaterThan(0);
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: true, entriesChecked: BigInt(accepted), failureReason: '' });
  });
});

describe('item 3: holds expire at their timeout, not at the next sweep', () => {
  it('releases an expired hold in GetBalance, GetEntry and the limit check before ledgerMaintenance runs; the sweep only tidies up', async () => {
    const { tenantId, owner } = await newTenant();
    const wallet = await openAccount(owner, { type: AccountType.LIABILITY, debitsLimited: true });
    const funding = await openAccount(owner);
    const shop = await openAccount(owner, { type: AccountType.LIABILITY, shardCount: 4 });
    await owner.ledger.createEntry(transfer(funding, wallet, 1_000n));
    // A long timeout (moved past on this test's clock), so no other test file's sweep expires it.
    const hold = (await owner.ledger.createEntry(transfer(wallet, shop, 600n, { pendingTimeoutMs: 600_000n }))).entry!;
    await expectConnectError(owner.ledger.createEntry(transfer(wallet, shop, 500n)), Code.FailedPrecondition, 'LIMIT_EXCEEDED');
    nowMs += 599_999;
    expect((await owner.ledger.getBalance({ accountId: wallet })).balance?.pendingDebitsMinor).toBe(600n);

    nowMs += 1; // the timeout
    expect((await owner.ledger.getEntry({ entryId: hold.id })).entry?.status).toBe(EntryStatus.PENDING_EXPIRED);
    expect((await owner.ledger.getBalance({ accountId: wallet })).balance).toMatchObject({ pendingDebitsMinor: 0n, postedCreditsMinor: 1_000n });
    expect((await owner.ledger.getBalance({ accountId: shop })).balance?.pendingCreditsMinor).toBe(0n);
    // The limited wallet is no longer blocked by the expired hold.
    await owner.ledger.createEntry(transfer(wallet, shop, 500n));
    expect((await owner.ledger.getBalance({ accountId: wallet })).balance).toMatchObject({ pendingDebitsMinor: 0n, postedDebitsMinor: 500n });

    // The sweep writes the expiry down; no balance moves.
    const before = await Promise.all([wallet, shop].map(async (id) => (await owner.ledger.getBalance({ accountId: id })).balance));
    const state = async () => (await services.db.doc(`tenants/${tenantId}/pendingEntries/${hold.id}`).get()).get('state') as string;
    for (let i = 0; i < 50 && (await state()) === 'pending'; i++) {
      // This tenant only: the other test files' holds are theirs to expire (their clocks differ).
      await sweepExpiredPendings(services.ledger, { traceId: '', spanId: '' }, { tenantId });
    }
    expect(await state()).toBe('expired');
    const after = await Promise.all([wallet, shop].map(async (id) => (await owner.ledger.getBalance({ accountId: id })).balance));
    expect(after.map((b) => ({ ...b, asOfTime: undefined }))).toEqual(before.map((b) => ({ ...b, asOfTime: undefined })));
    expect((await owner.ledger.getEntry({ entryId: hold.id })).entry?.status).toBe(EntryStatus.PENDING_EXPIRED);
    const shards = await services.db.collection(`tenants/${tenantId}/balances`).where('accountId', 'in', [wallet, shop]).get();
    expect(shards.docs.every((d) => Object.keys((d.get('holds') ?? {}) as object).length === 0)).toBe(true);
    expect(await owner.ledger.verifyChain({})).toMatchObject({ ok: true });
  });
});

describe('item 5: the expiry sweep never stops at one entry it cannot write down', () => {
  it('expires the rest of the batch and then fails loudly naming the entry', async () => {
    const { tenantId, owner } = await newTenant();
    const [x, y, z, w] = (await Promise.all([0, 1, 2, 3].map(() => openAccount(owner)))) as [string, string, string, string];
    await owner.ledger.createEntry(transfer(y, x, 10n));
    await owner.ledger.createEntry(transfer(w, z, 10n));
    // Long timeouts, so that no other test file's sweep (real clock) finds these due meanwhile.
    const broken = (await owner.ledger.createEntry(transfer(x, y, 5n, { pendingTimeoutMs: 600_000n }))).entry!;
    nowMs += 1;
    const fine = (await owner.ledger.createEntry(transfer(z, w, 5n, { pendingTimeoutMs: 600_000n }))).entry!;
    // An account the expiry needs is gone (behind the ledger's back): that expiry cannot be written.
    const accountRef = services.db.doc(`tenants/${tenantId}/accounts/${x}`);
    const accountDoc = (await accountRef.get()).data()!;
    await accountRef.delete();
    nowMs += 600_000;
    const state = async (id: string) => (await services.db.doc(`tenants/${tenantId}/pendingEntries/${id}`).get()).get('state') as string;
    const sweep = () => sweepExpiredPendings(services.ledger, { traceId: '', spanId: '' }, { tenantId });
    const errors: string[] = [];
    try {
      for (let i = 0; i < 20 && (await state(fine.id)) === 'pending'; i++) await sweep().catch((e: unknown) => { errors.push(String(e)); });
      expect(await state(fine.id)).toBe('expired');
      expect(await state(broken.id)).toBe('pending');
      expect(errors.some((e) => e.includes('could not be written down') && e.includes(broken.id))).toBe(true);
    } finally {
      // Put the account back and let the sweep write the last expiry down: nothing left broken.
      await accountRef.set(accountDoc);
      await sweep();
    }
    expect(await state(broken.id)).toBe('expired');
  });
});

describe('item 4: overflow is refused, not capped', () => {
  it('refuses with BALANCE_OVERFLOW the entry that would take a balance past int64, and writes nothing', async () => {
    const { tenantId, owner } = await newTenant();
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const hot = await openAccount(owner, { type: AccountType.LIABILITY, shardCount: 4 });
    // As if 1,024 entries of 2^53-1 had been posted (seeded behind the API to keep the test fast).
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    await services.db.doc(`tenants/${tenantId}/balances/${a}~0`).set({ accountId: a, shard: 0, postedDebitsMinor: safe * 1_024n, postedCreditsMinor: 0n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n });
    const before = await journalCount(tenantId);
    await expectConnectError(owner.ledger.createEntry(transfer(a, b, safe)), Code.FailedPrecondition, 'BALANCE_OVERFLOW', { accountId: a });
    // A hold counts too (posted + pending of the debit side).
    await expectConnectError(owner.ledger.createEntry(transfer(a, b, safe, { pendingTimeoutMs: 60_000n })), Code.FailedPrecondition, 'BALANCE_OVERFLOW');
    expect(await journalCount(tenantId)).toBe(before);
    expect((await owner.ledger.getBalance({ accountId: a })).balance!.postedDebitsMinor).toBe(safe * 1_024n);
    // The other direction still works: lowering a full balance never overflows.
    await owner.ledger.createEntry(transfer(b, a, 1n));

    // A sharded (hot) account takes blind increments, unchecked; its balance beyond int64 is then
    // refused, never reported capped (it failed as internal before: the sum does not fit the wire).
    for (let shard = 0; shard < 4; shard++) {
      await services.db.doc(`tenants/${tenantId}/balances/${hot}~${shard}`).set({ accountId: hot, shard, postedDebitsMinor: 0n, postedCreditsMinor: AMOUNT_MINOR_MAX / 3n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n });
    }
    await expectConnectError(owner.ledger.getBalance({ accountId: hot }), Code.FailedPrecondition, 'BALANCE_OVERFLOW', { accountId: hot });
    expect(shardComponentMaxMinor(4) * 4n).toBeLessThan(AMOUNT_MINOR_MAX);
  });
});

describe('item 4: amounts are plain decimal digits on the wire', () => {
  it.each(['0x10', '0b101', ' 12', '+5', '12 ', '\t7'])('refuses amount_minor %j in a JSON body with FIELD_INVALID, writing nothing', async (text) => {
    const { tenantId, owner, ownerKey } = await newTenant();
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const body = {
      entryId: `je_${randomUUID().replaceAll('-', '')}`,
      postings: [
        { accountId: a, direction: 'DIRECTION_DEBIT', amountMinor: text, currency: 'USD' },
        { accountId: b, direction: 'DIRECTION_CREDIT', amountMinor: '16', currency: 'USD' },
      ],
    };
    const post = (json: unknown) => fetch(`${server.url}/tally.ledger.v1.LedgerService/CreateEntry`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ownerKey}` }, body: JSON.stringify(json),
    });
    const res = await post(body);
    const error = await res.json() as { code: string; details?: { type: string; debug?: { reason: string; metadata: Record<string, string> } }[] };
    expect({ status: res.status, code: error.code }).toEqual({ status: 400, code: 'invalid_argument' });
    expect(error.details?.[0]?.debug).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'postings[0].amount_minor' } });
    expect(await journalCount(tenantId)).toBe(0);
    // The same body with plain digits is accepted.
    const ok = await post({ ...body, postings: body.postings.map((p) => ({ ...p, amountMinor: '16' })) });
    expect(ok.status).toBe(200);
  });
});

describe('item 5: VerifyChain checks every checkpoint, however many', () => {
  it('finds a bad signature on checkpoint 10,001 (it read only the first 10,000 before)', { timeout: 240_000 }, async () => {
    const { tenantId, owner } = await newTenant();
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    await owner.ledger.createEntry(transfer(a, b, 1n));
    const stripeHeads = await services.ledger.store.readStripeHeads(tenantId);
    const total = 10_001;
    const collection = services.db.collection(`tenants/${tenantId}/checkpoints`);
    for (let start = 1; start <= total; start += 500) {
      const batch = services.db.batch();
      for (let sequence = start; sequence < start + 500 && sequence <= total; sequence++) {
        const signed = await signCheckpoint(createCheckpoint({ tenantId, sequence, stripeHeads, createdAtMs: clock.nowMs() }), services.ledger.signer);
        // The newest one is forged: its signature belongs to another sequence.
        const signatureBase64 = sequence === total ? (await signCheckpoint(createCheckpoint({ tenantId, sequence: 1, stripeHeads, createdAtMs: clock.nowMs() }), services.ledger.signer)).signatureBase64 : signed.signatureBase64;
        batch.create(collection.doc(String(sequence).padStart(12, '0')), {
          tenantId, sequence, createdAtMs: signed.checkpoint.createdAtMs,
          stripeHeads: signed.checkpoint.stripeHeads.map((h) => ({ ...h })), keyId: signed.keyId, signatureBase64,
        });
      }
      await batch.commit();
    }
    const report = await owner.ledger.verifyChain({});
    expect(report).toMatchObject({ ok: false, failureReason: `checkpoint ${total}: signature does not verify`, checkpointsVerified: BigInt(total - 1) });
  });
});
