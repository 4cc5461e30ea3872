/**
 * Issue 12 item 1, against the Firestore emulator: an as-of balance is the nearest balance snapshot
 * plus a bounded replay (ADR 0025), equal to the full replay of the journal, whatever the history;
 * without snapshots a long history is refused with the truth (snapshots behind), not "choose a
 * later time". A small cadence (a snapshot every 50 records) over 300 entries keeps it fast; the
 * ledger's clock is injected, so entries are spread in time (with ties) and holds expire without
 * waiting.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningServer } from '../emulators/api-server.js';
import { composeServices, type Services } from '../functions/src/compose.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { createEntry, getBalance, postPendingEntry, sweepExpiredPendings } from '../functions/src/app/ledger/ledger-use-cases.js';
import { snapshotTenantBalances } from '../functions/src/app/ledger/balance-snapshots.js';
import { recordFromDoc } from '../functions/src/adapters/firestore/ledger-store.js';
import { ZERO_BALANCE, type Balance } from '../functions/src/domain/ledger/balance.js';
import { replayBalances } from '../functions/src/domain/ledger/replay.js';
import { balanceAsOf } from '../functions/src/domain/ledger/snapshot.js';
import type { ChainedRecord } from '../functions/src/domain/ledger/hash-chain.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { Code, expectConnectError } from './support/connect-error.js';
import { openAccount } from './support/ledger-helpers.js';
import { countDocumentReads } from './support/document-reads.js';

const everyRecords = 50;
const asOfRecordsMax = 120;
const settleMs = 60_000;
const trace = { traceId: '', spanId: '' };

/** The ledger's clock, moved by the test. */
let nowMs = Date.now();
const clock = { nowMs: () => nowMs };

let services: Services;
let server: RunningServer;
let owner: TallyClient;
let tenantId: string;
/** A one-shard account and a four-shard one, on both sides of every entry. */
let cash: string;
let hot: string;
let firstMs: number;
let lastMs: number;
const holdExpiriesMs: number[] = [];

beforeAll(async () => {
  const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
  services = composeServices(parseConfig({
    ...process.env,
    TALLY_PLATFORM_ADMIN_KEY_SHA256: createHash('sha256').update(adminKey).digest('hex'),
    TALLY_LEDGER_SNAPSHOT_EVERY_RECORDS: String(everyRecords),
    TALLY_LEDGER_SNAPSHOT_SETTLE_MS: String(settleMs),
    TALLY_LEDGER_ASOF_RECORDS_MAX: String(asOfRecordsMax),
  }), { clock });
  server = await startHttpServer(services, { port: 0 });
  const admin = createTallyClient(server.url, adminKey);
  const res = await admin.tenancy.createTenant({ name: 'As-of balances', idempotencyKey: randomUUID() });
  tenantId = res.tenant!.id;
  owner = createTallyClient(server.url, res.ownerApiKey!.secret);
  cash = await openAccount(owner);
  hot = await openAccount(owner, { shardCount: 4 });

  // 300 entries a second apart, every seventh in the same millisecond as the one before; every
  // tenth a hold (4.5 s): half are posted in part two entries later, the rest expire, some swept
  // (an expiry record) and some not (released by their timeout alone).
  const transfer = (id: string, amountMinor: bigint, timeoutMs: number | null) => ({
    id, description: '', metadata: {}, pending: timeoutMs === null ? null : { timeoutMs },
    postings: [
      { accountId: cash, direction: 'debit' as const, amountMinor, currency: 'USD' },
      { accountId: hot, direction: 'credit' as const, amountMinor, currency: 'USD' },
    ],
  });
  nowMs += 1_000;
  firstMs = nowMs;
  for (let i = 0; i < 300; i++) {
    if (i > 0 && i % 7 !== 0) nowMs += 1_000;
    if (i % 10 === 3) {
      await createEntry(services.ledger, tenantId, transfer(`je_h${i}`, BigInt(1_000 + i), 4_500), trace);
      holdExpiriesMs.push(nowMs + 4_500);
    } else {
      await createEntry(services.ledger, tenantId, transfer(`je_p${i}`, BigInt(i + 1), null), trace);
    }
    if (i % 20 === 5) await postPendingEntry(services.ledger, tenantId, `je_h${i - 2}`, [BigInt(i), BigInt(i)], trace);
    if (i === 150) await sweepExpiredPendings(services.ledger, trace, { tenantId });
  }
  lastMs = nowMs;
}, 120_000);
afterAll(async () => { await server.close(); });

async function journal(): Promise<ChainedRecord[]> {
  return (await services.db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => recordFromDoc(d.data()));
}

/** The old answer, the oracle: replay every record of the journal up to `asOfMs`. */
const fullReplay = (records: ChainedRecord[], accountId: string, asOfMs: number): Balance => replayBalances(records, { asOfMs }).get(accountId) ?? ZERO_BALANCE;

describe('as-of balances with balance snapshots (issue 12 item 1)', () => {
  it('without snapshots, a replay past the bound is refused with the truth: snapshots are behind', async () => {
    const { result: error, reads } = await countDocumentReads(services.db, () => expectConnectError(
      owner.ledger.getBalance({ accountId: cash, asOfTime: timestampFromMs(lastMs) }), Code.FailedPrecondition, 'LIMIT_EXCEEDED',
      { accountId: cash, limit: 'asOfRecordsMax', snapshotThroughMs: '-1' },
    ));
    expect(error.message).toContain('balance snapshots are behind');
    expect(error.message).not.toContain('later time');
    // Counted, not read: the refusal costs the API key, the account, the snapshot query and a count.
    expect(reads).toBeLessThanOrEqual(6);
    // An early time is within the bound even now.
    const early = await getBalance(services.ledger, tenantId, cash, firstMs + 30_000);
    expect(early.balance).toEqual(fullReplay(await journal(), cash, firstMs + 30_000));
  });

  it('maintenance writes a snapshot every N records, each equal to the replay of the records through its time', async () => {
    // The last minute is not settled (a record that recent may still be committing with an earlier
    // time): no snapshot reaches into it. A budget of 3 stops mid-walk.
    nowMs = lastMs + 1_000;
    expect(await snapshotTenantBalances(services.ledger, tenantId, { snapshotsLeft: 3 })).toMatchObject({ snapshotsWritten: 3, failures: [] });
    const early = await snapshotTenantBalances(services.ledger, tenantId, { snapshotsLeft: 100 });
    expect(early.failures).toEqual([]);
    const throughTimes = async () => (await services.db.collection(`tenants/${tenantId}/balanceSnapshots`).get()).docs.map((d) => Number(d.get('throughMs')));
    expect(Math.max(...await throughTimes())).toBeLessThanOrEqual(nowMs - settleMs);
    // Settled: the next run goes on from there (no account skipped).
    nowMs = lastMs + settleMs + 1;
    const rest = await snapshotTenantBalances(services.ledger, tenantId, { snapshotsLeft: 100 });
    expect(rest.failures).toEqual([]);
    const records = await journal();
    for (const accountId of [cash, hot]) {
      const mine = records.filter((r) => r.postings.some((p) => p.accountId === accountId));
      const snaps = (await services.db.collection(`tenants/${tenantId}/balanceSnapshots`).where('accountId', '==', accountId).get()).docs;
      expect(snaps.length).toBe(Math.floor(mine.length / everyRecords));
      for (const doc of snaps) {
        const snapshot = (await services.ledger.store.latestBalanceSnapshot(tenantId, accountId, Number(doc.get('throughMs'))))!;
        expect(snapshot.recordCount).toBe(mine.filter((r) => r.createdAtMs <= snapshot.throughMs).length);
        expect(snapshot.recordCount).toBeLessThanOrEqual(everyRecords * snaps.length);
        expect(balanceAsOf(snapshot, [], snapshot.throughMs)).toEqual(fullReplay(records, accountId, snapshot.throughMs));
      }
    }
    // Caught up: another run writes nothing.
    expect(await snapshotTenantBalances(services.ledger, tenantId, { snapshotsLeft: 100 })).toMatchObject({ snapshotsWritten: 0, failures: [] });
  });

  it('answers any as-of time from the nearest snapshot in at most N + 3 document reads, equal to the full replay', async () => {
    const records = await journal();
    const snapshotTimes = (await services.db.collection(`tenants/${tenantId}/balanceSnapshots`).where('accountId', '==', cash).get()).docs.map((d) => Number(d.get('throughMs')));
    expect(snapshotTimes.length).toBeGreaterThanOrEqual(5);
    const times = [
      -5_000, -1, 0, firstMs - 1, firstMs, firstMs + 20_500,
      ...snapshotTimes, ...snapshotTimes.map((t) => t + 1), ...snapshotTimes.map((t) => t - 1_500),
      ...holdExpiriesMs.slice(-3).flatMap((t) => [t - 1, t]),
      lastMs, lastMs + 3_600_000,
    ];
    let readsMax = 0;
    for (const accountId of [cash, hot]) {
      for (const asOfMs of times) {
        const { result, reads } = await countDocumentReads(services.db, () => getBalance(services.ledger, tenantId, accountId, asOfMs));
        expect(result.balance, `as of ${asOfMs}`).toEqual(fullReplay(records, accountId, asOfMs));
        // The account, the snapshot, the count, at most N records after it.
        expect(reads, `as of ${asOfMs}`).toBeLessThanOrEqual(everyRecords + 3);
        readsMax = Math.max(readsMax, reads);
      }
    }
    // The counter sees the replayed records (a time just before a snapshot replays most of N).
    expect(readsMax).toBeGreaterThan(everyRecords / 2);
    // The RPC gives the same answer (the refusal of the first test is gone).
    const rpc = (await owner.ledger.getBalance({ accountId: cash, asOfTime: timestampFromMs(lastMs) })).balance!;
    const expected = fullReplay(records, cash, lastMs);
    expect(rpc).toMatchObject({ postedDebitsMinor: expected.postedDebitsMinor, pendingDebitsMinor: expected.pendingDebitsMinor, postedCreditsMinor: 0n });
  });
  it('catches an account up several snapshots from one query of its records, not one query a snapshot', async () => {
    // Two new accounts, 4 N + 10 entries between them (every fifth in the same millisecond as the
    // one before, so some snapshots end early), settled.
    const from = await openAccount(owner);
    const to = await openAccount(owner, { shardCount: 2 });
    for (let i = 0; i < 4 * everyRecords + 10; i++) {
      if (i % 5 !== 0) nowMs += 100;
      await createEntry(services.ledger, tenantId, {
        id: `je_c${i}`, description: '', metadata: {}, pending: null,
        postings: [
          { accountId: from, direction: 'debit', amountMinor: BigInt(i + 1), currency: 'USD' },
          { accountId: to, direction: 'credit', amountMinor: BigInt(i + 1), currency: 'USD' },
        ],
      }, trace);
    }
    nowMs += settleMs + 1_000;
    const queries = new Map<string, number>();
    const deps = {
      ...services.ledger,
      store: {
        ...services.ledger.store,
        recordsBetween: (t: string, accountId: string, afterMs: number, throughMs: number, limit: number) => {
          queries.set(accountId, (queries.get(accountId) ?? 0) + 1);
          return services.ledger.store.recordsBetween(t, accountId, afterMs, throughMs, limit);
        },
      },
    };
    const snapshotsOf = async (accountId: string) => (await services.db.collection(`tenants/${tenantId}/balanceSnapshots`).where('accountId', '==', accountId).orderBy('throughMs').get()).docs;
    expect((await snapshotTenantBalances(deps, tenantId, { snapshotsLeft: 100 })).failures).toEqual([]);
    // One query each (the old loop made one per snapshot plus one: 5).
    expect(queries.get(from)).toBe(1);
    expect(queries.get(to)).toBe(1);
    const records = await journal();
    const caughtUp = new Map<string, unknown[]>();
    for (const accountId of [from, to]) {
      const snaps = await snapshotsOf(accountId);
      expect(snaps.length).toBe(4);
      for (const doc of snaps) {
        const snapshot = (await services.ledger.store.latestBalanceSnapshot(tenantId, accountId, Number(doc.get('throughMs'))))!;
        expect(snapshot.recordCount).toBe(records.filter((r) => r.createdAtMs <= snapshot.throughMs && r.postings.some((p) => p.accountId === accountId)).length);
        expect(balanceAsOf(snapshot, [], snapshot.throughMs)).toEqual(fullReplay(records, accountId, snapshot.throughMs));
      }
      caughtUp.set(accountId, snaps.map((d) => ({ ...d.data(), writtenAt: null })));
      // Again with reads of at most 2 N + 20 records: a full read that stops inside a millisecond
      // is read again from the last snapshot, and the snapshots come out the same.
      await Promise.all(snaps.map((d) => d.ref.delete()));
    }
    queries.clear();
    expect((await snapshotTenantBalances(deps, tenantId, { snapshotsLeft: 100 }, { readRecordsMax: 2 * everyRecords + 20 })).failures).toEqual([]);
    for (const accountId of [from, to]) {
      // Two snapshots a read of 101 records, the last read short: 3 queries.
      expect(queries.get(accountId)).toBe(3);
      expect((await snapshotsOf(accountId)).map((d) => ({ ...d.data(), writtenAt: null }))).toEqual(caughtUp.get(accountId));
    }
  });
});
