/**
 * AnalyticsService end to end (issue 13 item 5, ADR 0030): payments taken through the real API
 * against the sandbox PSP, their outbox events relayed to `domain-events` by the local trigger,
 * the analytics sink writing them to the real ClickHouse, and the report compared with what
 * Firestore says (ListPayments, ListEntries) for the same tenant and period. Also: a replay never
 * double-counts; a tenant never reads another tenant's analytics; bad ranges and page tokens are
 * typed errors; `tally analytics report` prints the same numbers.
 */
import { randomUUID } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayOutbox } from '../functions/src/app/events/outbox-replay.js';
import { drainOutbox } from '../functions/src/app/outbox/relay.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { CaptureMethod, PaymentStatus, type Payment } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { PaymentVolumeRow } from '../functions/src/gen/tally/analytics/v1/analytics_pb.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { finalRows, startTestAnalyticsSink, testClickHouse, type TestAnalyticsSink } from './support/analytics-sink.js';
import { parseJson, repoRoot, runCli, type CliResult } from './support/cli-runner.js';
import { bridgeTopicToHandler } from '../emulators/pubsub-bridge.js';
import { migrate } from '../functions/src/adapters/clickhouse/migrate.js';
import { queryRows } from '../functions/src/adapters/clickhouse/sql-query.js';
import { createPubSubDeadLetterQueues } from '../functions/src/adapters/pubsub/dead-letter-queues.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { listDeadLetters } from '../functions/src/app/events/dead-letters.js';
import { composeAnalyticsSink } from '../functions/src/compose-analytics.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { createLogger } from '../functions/src/platform/telemetry/logger.js';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { expectConnectError } from './support/connect-error.js';
import { eventually } from './support/eventually.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

const key = () => randomUUID();
const dayMs = 86_400_000;
/** Webhooks, relay, sink batches and ClickHouse under a loaded machine. */
const SETTLE = { timeoutMs: 40_000, intervalMs: 300 } as const;

let env: PaymentsStack;
let sink: TestAnalyticsSink;

beforeAll(async () => {
  env = await startPaymentsStack();
  const services = env.stack.services;
  sink = await startTestAnalyticsSink({ client: services.bus.client, projectId: services.config.projectId });
}, 120_000);
afterAll(async () => {
  await sink?.stop();
  await env?.close();
});

async function method(client: TallyClient, tokens: Record<string, string>): Promise<string> {
  return (await client.payments.createPaymentMethod({ pspTokens: tokens, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
}

/** The CLI as an operator runs it against this stack's emulator project (Pub/Sub directly). */
function runCliWithProject(projectId: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin', 'tally.mjs'), ...args], {
      env: { ...process.env, GCLOUD_PROJECT: projectId, GOOGLE_CLOUD_PROJECT: projectId }, timeout: 30_000, encoding: 'utf8',
    }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

/** A row as comparable text: every field, amounts as strings. */
type Row = Record<string, string | number>;
const rowOf = (r: PaymentVolumeRow): Row => ({
  day: r.day, status: r.status, currency: r.currency, psp: r.psp, count: r.paymentCount.toString(), gross: r.grossAmountMinor.toString(),
  captured: r.capturedAmountMinor.toString(), refunded: r.refundedAmountMinor.toString(), disputed: r.disputedAmountMinor.toString(),
  fee: r.feeAmountMinor.toString(), attempts: r.authorizationAttemptCount.toString(), authorized: r.authorizedCount.toString(), rateBps: r.authorizationRateBps,
});

/**
 * The same report computed from Firestore (ListPayments through the API, strongly consistent),
 * independently of the SQL: payments created in the period grouped by UTC day, status, currency
 * and PSP. Authorized: the payment holds or held an authorization (captured, capturable); attempted:
 * authorized or declined.
 */
async function reportFromFirestore(owner: TallyClient, startMs: number, endMs: number): Promise<Row[]> {
  const payments: Payment[] = [];
  let pageToken = '';
  for (let page = 0; page < 20; page++) {
    const res = await owner.payments.listPayments({ pageSize: 100, pageToken });
    payments.push(...res.payments);
    pageToken = res.nextPageToken;
    if (pageToken === '') break;
  }
  const groups = new Map<string, { base: Row; sums: bigint[] }>();
  for (const p of payments) {
    const createdMs = timestampMs(p.createTime!);
    if (createdMs < startMs || createdMs >= endMs) continue;
    const status = PaymentStatus[p.status].toLowerCase();
    const day = new Date(Math.floor(createdMs / dayMs) * dayMs).toISOString().slice(0, 10);
    const authorized = p.amountCapturedMinor > 0n || p.amountCapturableMinor > 0n;
    const attempted = authorized || p.declineReason !== '';
    // The key, in the report's order (day, currency, psp, status), as one string that sorts the same:
    // each part is ASCII without NUL.
    const k = [day, p.currency, p.psp, status].join('\u0000');
    const g = groups.get(k) ?? { base: { day, status, currency: p.currency, psp: p.psp }, sums: [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n] };
    const add = [1n, p.amountMinor, p.amountCapturedMinor, p.amountRefundedMinor, p.amountChargedBackMinor, p.feeMinor, attempted ? 1n : 0n, authorized ? 1n : 0n];
    g.sums = g.sums.map((s, i) => s + add[i]!);
    groups.set(k, g);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, { base, sums }]) => {
    const [count, gross, captured, refunded, disputed, fee, attempts, authorized] = sums.map(String);
    return { ...base, count: count!, gross: gross!, captured: captured!, refunded: refunded!, disputed: disputed!, fee: fee!, attempts: attempts!, authorized: authorized!,
      rateBps: sums[6] === 0n ? 0 : Number((sums[7]! * 10_000n) / sums[6]!) };
  });
}

/**
 * The analytics report once it equals Firestore's (the sink catching up): each try first publishes
 * what the outbox holds unsent (what the relay does as events are written: webhook-driven changes
 * keep coming), then compares.
 */
async function settledReport(owner: TallyClient, startMs: number, endMs: number): Promise<Row[]> {
  return eventually(async () => {
    await drainOutbox(env.stack.services.outbox, { batchMax: 100, batchesMax: 10 });
    const firestore = await reportFromFirestore(owner, startMs, endMs);
    expect(await reportFromAnalytics(owner, startMs, endMs)).toEqual(firestore);
    return firestore;
  }, SETTLE);
}

async function reportFromAnalytics(client: TallyClient, startMs: number, endMs: number, tenantId = ''): Promise<Row[]> {
  const res = await client.analytics.getPaymentVolume({ tenantId, startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs), pageSize: 1000 });
  expect(res.nextPageToken).toBe('');
  return res.rows.map(rowOf);
}

describe('AnalyticsService: the report equals Firestore, replays never double-count', () => {
  let owner: TallyClient;
  let tenantId: string;
  let ownerKey: string;
  let startMs: number;
  let endMs: number;
  let accounts: { a: string; b: string };

  beforeAll(async () => {
    ({ owner, tenantId, ownerKey } = await env.stack.newTenant('Analytics Shop'));
    startMs = Date.now() - 1_000;
    // One PSP, so that the scenario's rows are known (the comparison with Firestore holds either way).
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const ok = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const declined = await method(owner, { stripe: 'pm_card_chargeDeclined', adyen: 'adyen_refused_generic' });
    // A captured payment, a declined one, a captured one partly refunded, an authorized manual
    // capture in another currency, and one never confirmed.
    await owner.payments.createPayment({ amountMinor: 2_500n, currency: 'EUR', paymentMethodId: ok, confirm: true, idempotencyKey: key() });
    await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: declined, confirm: true, idempotencyKey: key() }).catch(() => undefined);
    const refunded = (await owner.payments.createPayment({ amountMinor: 4_000n, currency: 'EUR', paymentMethodId: ok, confirm: true, idempotencyKey: key() })).payment!;
    await owner.payments.refundPayment({ paymentId: refunded.id, amountMinor: 1_500n, idempotencyKey: key() });
    await owner.payments.createPayment({ amountMinor: 1_234n, currency: 'USD', paymentMethodId: ok, captureMethod: CaptureMethod.MANUAL, confirm: true, idempotencyKey: key() });
    await owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', paymentMethodId: ok, idempotencyKey: key() });
    accounts = { a: await openAccount(owner, { currency: 'EUR' }), b: await openAccount(owner, { currency: 'EUR' }) };
    await owner.ledger.createEntry(transfer(accounts.a, accounts.b, 700n, { currency: 'EUR' }));
    await owner.ledger.createEntry(transfer(accounts.b, accounts.a, 200n, { currency: 'EUR' }));
    endMs = Date.now() + 1_000;
  }, 120_000);

  it('payment volume by day, status, currency and PSP equals what Firestore says; ledger volume equals the posted entries', async () => {
    const expected = await settledReport(owner, startMs, endMs);
    // The scenario is what it claims: four statuses, both currencies, a refund, a decline.
    expect(expected.map((r) => r.status).sort()).toEqual(['requires_capture', 'requires_confirmation', 'requires_payment_method', 'succeeded']);
    expect(expected.find((r) => r.status === 'succeeded')).toMatchObject({ count: '2', gross: '6500', captured: '6500', refunded: '1500', attempts: '2', authorized: '2', rateBps: 10_000 });
    // A decline leaves the payment waiting for another method: attempted, not authorized.
    expect(expected.find((r) => r.status === 'requires_payment_method')).toMatchObject({ count: '1', gross: '1000', attempts: '1', authorized: '0', rateBps: 0 });
    expect(BigInt(String(expected.find((r) => r.status === 'succeeded')!.fee))).toBeGreaterThan(0n);

    const ledger = await owner.analytics.getLedgerVolume({ startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs) });
    const mine = ledger.rows.filter((r) => r.accountId === accounts.a || r.accountId === accounts.b)
      .map((r) => ({ account: r.accountId, currency: r.currency, debit: r.debitAmountMinor, credit: r.creditAmountMinor, postings: r.postingCount }));
    expect(mine).toEqual([
      { account: accounts.a, currency: 'EUR', debit: 700n, credit: 200n, postings: 2n },
      { account: accounts.b, currency: 'EUR', debit: 200n, credit: 700n, postings: 2n },
    ].sort((x, y) => (x.account < y.account ? -1 : 1)));
    expect(ledger.dataAsOfTime).toBeDefined();
  });

  it('a replay of the whole period (for the sink, then for every consumer) changes nothing in the report', async () => {
    const before = await settledReport(owner, startMs, endMs);
    const ledgerBefore = await owner.analytics.getLedgerVolume({ startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs) });
    const delivered = (id: string) => sink.deliveries.get(id) ?? 0;
    const events = (await env.stack.services.outbox.store.listEventsBetween({ tenantId, fromMs: startMs - 60_000, toMs: endMs + 60_000, limit: 500 })).events;
    const countsBefore = new Map(events.map((e) => [e.id, delivered(e.id)]));
    const replayStartMs = Date.now();
    for (const targetSubscription of [sink.subscription, undefined]) {
      const report = await replayOutbox(env.stack.services.outbox, {
        fromMs: startMs - 60_000, toMs: endMs + 60_000, tenantId, pageSize: 50, pagesMax: 100, ...(targetSubscription ? { targetSubscription } : {}),
      });
      expect(report).toMatchObject({ published: events.length, failed: 0, complete: true });
    }
    // Every event reached the sink twice more and was written again (each row as read now was
    // inserted after the replays began), and the report is the same.
    await eventually(() => {
      for (const e of events) expect(delivered(e.id), e.id).toBeGreaterThanOrEqual(countsBefore.get(e.id)! + 2);
    }, SETTLE);
    const clickhouse = testClickHouse();
    try {
      await eventually(async () => {
        const rows = await finalRows<{ event_id: string; inserted_at_ms: string }>(clickhouse, 'events', tenantId);
        expect(rows.filter((r) => Number(r.inserted_at_ms) < replayStartMs).map((r) => r.event_id)).toEqual([]);
        expect(rows.length).toBe(events.length);
      }, SETTLE);
    } finally {
      await clickhouse.close();
    }
    expect(await reportFromAnalytics(owner, startMs, endMs)).toEqual(before);
    expect((await owner.analytics.getLedgerVolume({ startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs) })).rows).toEqual(ledgerBefore.rows);

    // The CLI prints the same rows (through the API, with the tenant's key).
    const cli = parseJson<{ payments: Record<string, string | number>[] }>(await runCli(['--api-url', env.stack.url, '--api-key', ownerKey, 'analytics', 'report',
      '--from', new Date(startMs).toISOString(), '--to', new Date(endMs).toISOString(), '--json']));
    expect(cli.payments.map((r) => ({
      day: r.day, status: r.status, currency: r.currency, psp: r.psp, count: r.payments, gross: r.grossMinor, captured: r.capturedMinor, refunded: r.refundedMinor,
      disputed: r.disputedMinor, fee: r.feeMinor, attempts: r.authorizationAttempts, authorized: r.authorized, rateBps: r.authorizationRateBps,
    }))).toEqual(before);
  });

  it('tally analytics report prints both reports for people: amounts in major units, the authorization rate, the ledger by account, how fresh the data is', async () => {
    const rows = await settledReport(owner, startMs, endMs);
    const from = new Date(startMs).toISOString();
    const to = new Date(endMs).toISOString();
    const run = await runCli(['--api-url', env.stack.url, '--api-key', ownerKey, 'analytics', 'report', '--from', from, '--to', to]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`payments created ${from} .. ${to}`);
    expect(lines[1]).toMatch(/^DAY\s+STATUS\s+CURRENCY\s+PSP\s+COUNT\s+GROSS\s+CAPTURED\s+REFUNDED\s+DISPUTED\s+FEES\s+AUTH RATE$/);
    const succeeded = rows.find((r) => r.status === 'succeeded')!;
    const fee = BigInt(String(succeeded.fee));
    const feeMajor = `${fee / 100n}.${String(fee % 100n).padStart(2, '0')}`;
    // EUR 25.00 + 40.00 captured, 15.00 refunded; both authorized (2 of 2 attempts).
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${succeeded.day}\\s+succeeded\\s+EUR\\s+stripe\\s+2\\s+65\\.00\\s+65\\.00\\s+15\\.00\\s+0\\.00\\s+${feeMajor.replace('.', '\\.')}\\s+2/2 \\(100\\.00 %\\)$`)));
    // The decline: attempted, not authorized; the manual capture in USD (12.34 authorized, nothing captured).
    expect(lines).toContainEqual(expect.stringMatching(/\s+requires_payment_method\s+EUR\s+stripe\s+1\s+10\.00\s+0\.00\s+0\.00\s+0\.00\s+0\.00\s+0\/1 \(0\.00 %\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/\s+requires_capture\s+USD\s+stripe\s+1\s+12\.34\s+0\.00\s+0\.00\s+0\.00\s+0\.00\s+1\/1 \(100\.00 %\)$/));
    // Never confirmed: no PSP reached ('-'), no authorization attempt ('-').
    expect(lines).toContainEqual(expect.stringMatching(/\s+requires_confirmation\s+EUR\s+-\s+1\s+5\.00\s+0\.00\s+0\.00\s+0\.00\s+0\.00\s+-$/));
    const ledgerAt = lines.indexOf('ledger volume by account');
    expect(ledgerAt).toBe(2 + rows.length + 1);
    expect(lines[ledgerAt + 1]).toMatch(/^ACCOUNT\s+CURRENCY\s+DEBITS\s+CREDITS\s+POSTINGS$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${accounts.a}\\s+EUR\\s+7\\.00\\s+2\\.00\\s+2$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${accounts.b}\\s+EUR\\s+2\\.00\\s+7\\.00\\s+2$`)));
    expect(lines.at(-1)).toMatch(/^data as of \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z: analytics lag the API by the sink's delay \(seconds\)$/);
  });

  it('a tenant never reads another tenant\'s analytics; only the platform admin names a tenant', async () => {
    const other = await env.stack.newTenant('Other Shop');
    const period = { startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs) };
    expect((await settledReport(owner, startMs, endMs)).length).toBeGreaterThan(0);
    // Another tenant's key: its own (empty) report, and the first tenant's id is NOT_FOUND.
    expect((await other.owner.analytics.getPaymentVolume(period)).rows).toEqual([]);
    expect((await other.owner.analytics.getLedgerVolume(period)).rows).toEqual([]);
    await expectConnectError(other.owner.analytics.getPaymentVolume({ ...period, tenantId }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(other.owner.analytics.getLedgerVolume({ ...period, tenantId }), Code.NotFound, 'NOT_FOUND');
    // A tenant id that is not an id never reaches SQL.
    await expectConnectError(other.owner.analytics.getPaymentVolume({ ...period, tenantId: `${tenantId}' OR '1'='1` }), Code.InvalidArgument, 'FIELD_INVALID');
    // A viewer of the tenant reads it; the admin reads it by naming it, and must name one.
    const viewer = (await owner.tenancy.createApiKey({ name: 'viewer', role: Role.VIEWER, idempotencyKey: key() })).apiKey!.secret;
    expect(await reportFromAnalytics(createTallyClient(env.stack.url, viewer), startMs, endMs)).toEqual(await reportFromAnalytics(owner, startMs, endMs));
    expect(await reportFromAnalytics(env.stack.admin, startMs, endMs, tenantId)).toEqual(await reportFromAnalytics(owner, startMs, endMs));
    await expectConnectError(env.stack.admin.analytics.getPaymentVolume(period), Code.InvalidArgument, 'FIELD_REQUIRED');
  });

  it('refuses unbounded or inverted periods and foreign page tokens; pages through rows one at a time', async () => {
    const at = (ms: number) => timestampFromMs(ms);
    await expectConnectError(owner.analytics.getPaymentVolume({ startTime: at(endMs), endTime: at(startMs) }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(owner.analytics.getPaymentVolume({ startTime: at(startMs), endTime: at(startMs + 367 * dayMs) }), Code.InvalidArgument, 'FIELD_INVALID');
    await expectConnectError(owner.analytics.getLedgerVolume({ endTime: at(endMs) }), Code.InvalidArgument, 'FIELD_REQUIRED');
    await expectConnectError(owner.analytics.getPaymentVolume({ startTime: at(startMs), endTime: at(endMs), pageSize: 1001 }), Code.InvalidArgument, 'FIELD_INVALID');
    // A start past ClickHouse DateTime's end (2106) is refused at the edge, not sent to the store.
    await expectConnectError(owner.analytics.getLedgerVolume({ startTime: at(Date.parse('2200-01-01T00:00:00Z')), endTime: at(Date.parse('2200-01-02T00:00:00Z')) }), Code.InvalidArgument, 'FIELD_INVALID');
    const all = await settledReport(owner, startMs, endMs);
    expect(all.length).toBeGreaterThanOrEqual(4);
    const paged: Row[] = [];
    let pageToken = '';
    for (let i = 0; i < 10; i++) {
      const res = await owner.analytics.getPaymentVolume({ startTime: at(startMs), endTime: at(endMs), pageSize: 1, pageToken });
      paged.push(...res.rows.map(rowOf));
      pageToken = res.nextPageToken;
      if (pageToken === '') break;
      // The token belongs to this period: with another it is refused, not misread.
      if (i === 0) await expectConnectError(owner.analytics.getPaymentVolume({ startTime: at(startMs - 1), endTime: at(endMs), pageSize: 1, pageToken }), Code.InvalidArgument, 'FIELD_INVALID');
    }
    expect(paged).toEqual(all);
  });
});

describe('dead letters with the real sink: ClickHouse down, events dead-lettered, replayed once after the fix (issue 13 item 8)', () => {
  it('every event of a payment lands in the dead-letter hold, `tally events dlq replay` re-delivers them, each is written exactly once', async () => {
    const services = env.stack.services;
    const subscription = `analytics-dlq-${randomUUID().slice(0, 8)}`;
    // The fixed sink writes to a database of its own, so that the suite's other sink (which also
    // reads domain-events and writes `tally`) cannot be what fills it.
    const database = `dlq_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const good = parseConfig({ ...process.env, TALLY_CLICKHOUSE_DATABASE: database });
    await migrate(good.clickhouse);
    const quiet = createLogger({ projectId: services.config.projectId, level: 'ERROR', write: () => {} });
    // Broken: ClickHouse unreachable (nothing listens on port 9 here), so every write fails and
    // every delivery is nacked until the policy's maxDeliveryAttempts dead-letter it.
    const broken = composeAnalyticsSink(parseConfig({ ...process.env, TALLY_CLICKHOUSE_URL: 'http://127.0.0.1:9', TALLY_CLICKHOUSE_REQUEST_TIMEOUT_MS: '500' }), quiet);
    const policy = subscriptionPolicies['analytics-sink'];
    const bridge = async (sinkServices: ReturnType<typeof composeAnalyticsSink>) => bridgeTopicToHandler({
      client: services.bus.client, projectId: services.config.projectId, topic: 'domain-events', subscription, policy,
      retryBackoff: { minimumMs: 20, maximumMs: 100 }, handler: (event) => sinkServices.handler(event),
    });
    let running = await bridge(broken);
    const clickhouse = testClickHouse();
    const queues = createPubSubDeadLetterQueues(services.bus.client);
    try {
      const { owner, tenantId } = await env.stack.newTenant('DLQ Shop');
      const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
      const startMs = Date.now() - 1_000;
      await owner.payments.createPayment({ amountMinor: 990n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() });
      await drainOutbox(services.outbox, { batchMax: 100, batchesMax: 10 });
      const eventIds = (await services.outbox.store.listEventsBetween({ tenantId, fromMs: startMs, toMs: Date.now() + 60_000, limit: 100 })).events.map((e) => e.id).sort();
      expect(eventIds.length).toBeGreaterThanOrEqual(2);
      const held = await eventually(async () => {
        const listing = await listDeadLetters({ queues, bus: services.bus }, { subscription, max: 100 });
        const ids = listing.messages.filter((m) => m.tenantId === tenantId).map((m) => m.eventId).sort();
        expect(ids).toEqual(eventIds);
        return listing.messages.filter((m) => m.tenantId === tenantId);
      }, { timeoutMs: 50_000, intervalMs: 500 });
      expect(held.every((m) => m.deliveryCount === policy.maxDeliveryAttempts)).toBe(true);

      // The fix: the sink reaches ClickHouse again. The dead letters are replayed from the CLI.
      await running.stop();
      await broken.close();
      const fixed = composeAnalyticsSink(good, quiet);
      running = await bridge(fixed);
      const replay = parseJson<{ replayed: number; failed: number; bySubscription: Record<string, number> }>(
        await runCliWithProject(services.config.projectId, ['events', 'dlq', 'replay', '--subscription', subscription, '--json']));
      expect(replay).toMatchObject({ replayed: eventIds.length, failed: 0, bySubscription: { [subscription]: eventIds.length } });
      const written = async () => queryRows<{ event_id: string; n: string }>(clickhouse, {
        sql: `SELECT event_id, count() AS n FROM ${database}.events FINAL WHERE tenant_id = {tenantId:String} GROUP BY event_id ORDER BY event_id`, params: { tenantId },
      });
      await eventually(async () => expect((await written()).map((r) => r.event_id)).toEqual(eventIds), SETTLE);
      // Exactly once as readers see it (FINAL: a redelivery may add a copy until merged), and the hold is empty.
      expect((await written()).every((r) => r.n === '1')).toBe(true);
      expect((await listDeadLetters({ queues, bus: services.bus }, { subscription, max: 100 })).messages).toEqual([]);
      await running.stop();
      await fixed.close();
    } finally {
      await queues.close();
      await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await clickhouse.close();
    }
  });
});
