/**
 * ReconService end to end (issue 15 item 5, ADR 0033): a sandbox day's Adyen settlement report
 * uploaded through the API, announced on `recon-requests`, run by `reconRun` through the Pub/Sub
 * emulator, listed with its summary and breaks; a break resolved; a redelivery changes nothing;
 * bad input gets a typed error and writes nothing; roles and tenants are enforced.
 */
import { randomUUID } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeTopicToHandler, type Bridge } from '../emulators/pubsub-bridge.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { reconRequestsTopic } from '../functions/src/app/recon/recon-requests.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { createReconRunHandler } from '../functions/src/handlers/pubsub/recon-run.js';
import { expectConnectError } from './support/connect-error.js';
import { eventually } from './support/eventually.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

let env: PaymentsStack;
let bridge: Bridge;
/** reconRun deliveries handled, by run id (the bridge acks after the handler returns). */
const handled = new Map<string, number>();

beforeAll(async () => {
  env = await startPaymentsStack();
  const handler = createReconRunHandler({ reconService: env.stack.services.recon, logger: env.stack.services.logger });
  bridge = await bridgeTopicToHandler({
    client: env.stack.services.bus.client, projectId: env.stack.services.config.projectId, topic: reconRequestsTopic,
    subscription: `recon-run-test-${randomUUID().slice(0, 8)}`, policy: subscriptionPolicies['recon-run'], retryBackoff: { minimumMs: 100, maximumMs: 1_000 },
    handler: async (event) => {
      await handler(event);
      const { runId } = JSON.parse(Buffer.from(event.data?.message?.data ?? '', 'base64').toString('utf8')) as { runId: string };
      handled.set(runId, (handled.get(runId) ?? 0) + 1);
    },
  });
}, 120_000);
afterAll(async () => {
  await bridge?.stop();
  await env?.close();
});

const key = () => randomUUID();
const SETTLE = { timeoutMs: 20_000, intervalMs: 100 } as const;

async function captured(owner: TallyClient, amountMinor: bigint) {
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { adyen: 'adyen_success' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  const p = (await owner.payments.createPayment({ amountMinor, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
  return eventually(async () => {
    const cur = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    expect(cur.amountCapturedMinor).toBe(amountMinor);
    return cur;
  }, SETTLE);
}

/** Documents of the tenant's reconciliation and ledger collections (what a run or an upload writes). */
async function written(tenantId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of ['reconRuns', 'reconBreaks', 'reconReports', 'reconReportChunks', 'reconMatches', 'journal']) {
    out[c] = Number((await env.stack.services.db.collection(`tenants/${tenantId}/${c}`).count().get()).data().count);
  }
  return out;
}

describe('ReconService: upload, run through recon-requests, list, resolve', () => {
  it('a sandbox day uploaded through the API runs via Pub/Sub, lists with its summary and break, the break resolves, redelivery changes nothing', async () => {
    const startedMs = Date.now();
    const { tenantId, owner } = await env.stack.newTenant();
    const a = await captured(owner, 2_500n);
    const b = await captured(owner, 4_000n);
    await env.sandbox.control.webhooksIdle(5_000);
    const day = await (await fetch(`${env.sandbox.url}/_control/settlement-report?psp=adyen&batch=41&since=${startedMs}`)).text();
    // The report names a payment Tally does not know: an open unknown_reference break awaiting review.
    const csv = day.replaceAll(b.id, 'pay_unknown0000000000000000').replaceAll(b.pspReference, 'UNKNOWNPSPREF0001');
    expect(csv).toContain(a.id);

    const uploadKey = key();
    const uploaded = (await owner.recon.uploadReport({ psp: 'adyen', fileName: 'batch-41.csv', content: Buffer.from(csv), idempotencyKey: uploadKey })).run!;
    expect(uploaded).toMatchObject({ psp: 'adyen', fileName: 'batch-41.csv', status: 'queued' });
    expect(uploaded.id).toMatch(/^rcn_[0-9a-f]{32}$/);
    const runId = uploaded.id;

    const run = await eventually(async () => {
      const r = (await owner.recon.getReconRun({ runId })).run!;
      expect(r.status).toBe('completed');
      return r;
    }, SETTLE);
    const summary = JSON.parse(run.summaryJson) as Record<string, unknown>;
    expect(summary).toMatchObject({
      runId, tenantId, psp: 'adyen', lines: 3, byType: { payment: 2, payout: 1 }, awaitingReview: 1,
      breaks: { unknown_reference: 1, missing_in_ledger: 0, amount_mismatch: 0 },
    });
    expect(run.breaksByKind.unknown_reference).toBe(1n);
    expect(run.completeTime).toBeDefined();
    expect((await owner.recon.listReconRuns({})).runs.map((r) => r.id)).toEqual([runId]);

    const breaks = (await owner.recon.listBreaks({ runId })).breaks;
    expect(breaks).toHaveLength(1);
    expect(breaks[0]).toMatchObject({ runId, kind: 'unknown_reference', status: 'open', merchantReference: 'pay_unknown0000000000000000', currency: 'EUR', reportedAmountMinor: 4_000n });

    // The same upload retried (same key) answers the first response; the same report under a new key answers its run, not a new one.
    expect((await owner.recon.uploadReport({ psp: 'adyen', fileName: 'batch-41.csv', content: Buffer.from(csv), idempotencyKey: uploadKey })).run!).toEqual(uploaded);
    expect((await owner.recon.uploadReport({ psp: 'adyen', fileName: 'again.csv', content: Buffer.from(csv), idempotencyKey: key() })).run!).toMatchObject({ id: runId, status: 'completed' });
    await expectConnectError(owner.recon.uploadReport({ psp: 'stripe', fileName: 'x.csv', content: Buffer.from(csv), idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'psp' });

    const resolved = (await owner.recon.resolveBreak({ breakId: breaks[0]!.id, resolution: 'written_off', note: 'test card, not ours', idempotencyKey: key() })).break!;
    expect(resolved).toMatchObject({ id: breaks[0]!.id, status: 'resolved', resolution: 'written_off', note: 'test card, not ours' });
    expect(resolved.resolveTime).toBeDefined();
    expect((await owner.recon.listBreaks({ status: 'open' })).breaks).toEqual([]);

    // Redelivery: the announcement again, and again after a crash left the run `running`: the
    // report is run again, posts nothing twice, and the resolved break stays resolved.
    const before = await written(tenantId);
    expect(before.journal).toBeGreaterThan(0);
    const deliveries = handled.get(runId) ?? 0;
    await env.stack.services.bus.publish(reconRequestsTopic, Buffer.from(JSON.stringify({ tenantId, runId })), {});
    await eventually(() => expect(handled.get(runId)).toBe(deliveries + 1), SETTLE);
    await env.stack.services.recon.recon.store.updateRun(tenantId, runId, { status: 'running' });
    await env.stack.services.bus.publish(reconRequestsTopic, Buffer.from(JSON.stringify({ tenantId, runId })), {});
    await eventually(() => expect(handled.get(runId)).toBe(deliveries + 2), SETTLE);
    expect((await owner.recon.getReconRun({ runId })).run!.status).toBe('completed');
    expect(await written(tenantId)).toEqual(before);
    expect((await owner.recon.listBreaks({ runId })).breaks).toEqual([resolved]);
  }, 90_000);

  it('bad input gets a typed error and writes nothing: unknown psp, empty, oversized, malformed report, bad ids', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const upload = (psp: string, content: Uint8Array, fileName = 'r.csv') => owner.recon.uploadReport({ psp, fileName, content, idempotencyKey: key() });
    const small = Buffer.from('Company Account,Merchant Account\n');
    await expectConnectError(upload('worldpay', small), Code.InvalidArgument, 'FIELD_INVALID', { field: 'psp' });
    await expectConnectError(upload('', small), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'psp' });
    await expectConnectError(upload('adyen', new Uint8Array()), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'content' });
    await expectConnectError(upload('adyen', small, ''), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'file_name' });
    const max = env.stack.services.recon.uploadBytesMax;
    await expectConnectError(upload('adyen', Buffer.alloc(max + 1, 0x41)), Code.InvalidArgument, 'BODY_TOO_LARGE', { field: 'content', bytesMax: String(max) });
    // Above the API's request body limit the transport refuses it, typed as well.
    await expectConnectError(upload('adyen', Buffer.alloc(env.stack.services.config.requestBodyBytesMax + 1, 0x41)), Code.InvalidArgument, 'BODY_TOO_LARGE');
    await expectConnectError(upload('adyen', Buffer.from('this is not,a settlement\nreport,at all\n')), Code.InvalidArgument, 'REPORT_MALFORMED');
    await expectConnectError(upload('stripe', Buffer.from('\u0000\u0001garbage')), Code.InvalidArgument, 'REPORT_MALFORMED');
    await expectConnectError(owner.recon.getReconRun({ runId: 'rcn_nothex' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'run_id' });
    await expectConnectError(owner.recon.listBreaks({ status: 'closed' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'status' });
    await expectConnectError(owner.recon.resolveBreak({ breakId: 'brk_x', resolution: 'ignored', idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'resolution' });
    await expectConnectError(owner.recon.resolveBreak({ breakId: 'brk_x', resolution: 'accepted', note: 'n'.repeat(501), idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'note' });
    expect(await written(tenantId)).toEqual({ reconRuns: 0, reconBreaks: 0, reconReports: 0, reconReportChunks: 0, reconMatches: 0, journal: 0 });
  }, 60_000);

  it('roles and tenants: a viewer lists but cannot upload or resolve; another tenant\'s run and break ids are NOT_FOUND', async () => {
    const startedMs = Date.now();
    const mine = await env.stack.newTenant();
    const other = await env.stack.newTenant();
    const p = await captured(other.owner, 1_000n);
    await env.sandbox.control.webhooksIdle(5_000);
    const csv = (await (await fetch(`${env.sandbox.url}/_control/settlement-report?psp=adyen&batch=42&since=${startedMs}`)).text())
      .replaceAll(p.id, 'pay_unknown1111111111111111').replaceAll(p.pspReference, 'UNKNOWNPSPREF0002');
    const runId = (await other.owner.recon.uploadReport({ psp: 'adyen', fileName: 'b42.csv', content: Buffer.from(csv), idempotencyKey: key() })).run!.id;
    const breakId = await eventually(async () => {
      const bs = (await other.owner.recon.listBreaks({ runId })).breaks;
      expect(bs.length).toBeGreaterThan(0);
      return bs[0]!.id;
    }, SETTLE);

    await expectConnectError(mine.owner.recon.getReconRun({ runId }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(mine.owner.recon.resolveBreak({ breakId, resolution: 'accepted', idempotencyKey: key() }), Code.NotFound, 'NOT_FOUND');
    expect((await mine.owner.recon.listBreaks({ runId })).breaks).toEqual([]);
    expect((await mine.owner.recon.listReconRuns({})).runs).toEqual([]);

    const viewerKey = (await other.owner.tenancy.createApiKey({ name: 'viewer', role: Role.VIEWER, idempotencyKey: key() })).apiKey!.secret;
    const viewer = createTallyClient(env.stack.url, viewerKey);
    expect((await viewer.recon.listReconRuns({})).runs.map((r) => r.id)).toEqual([runId]);
    expect((await viewer.recon.getReconRun({ runId })).run!.id).toBe(runId);
    await expectConnectError(viewer.recon.uploadReport({ psp: 'adyen', fileName: 'b.csv', content: Buffer.from(csv), idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    await expectConnectError(viewer.recon.resolveBreak({ breakId, resolution: 'accepted', idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    await expectConnectError(env.stack.admin.recon.listReconRuns({}), Code.PermissionDenied, 'PERMISSION_DENIED');
    expect((await other.owner.recon.listBreaks({ runId })).breaks[0]!.status).toBe('open');
  }, 60_000);
});

describe('reconciliation\'s ledger names are reserved (ADR 0017, 0033)', () => {
  it('the public ledger RPCs refuse je_rcn_ entry ids, acc_rcn_ accounts and the recon account codes', async () => {
    const { owner } = await env.stack.newTenant();
    const cash = await openAccount(owner, { currency: 'EUR' });
    const other = await openAccount(owner, { currency: 'EUR' });
    await expectConnectError(owner.ledger.createEntry(transfer(cash, other, 10n, { id: `je_rcn_${'0'.repeat(24)}_1_fee`, currency: 'EUR' })),
      Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'entry_id', namespace: 'reconciliation' });
    await expectConnectError(owner.ledger.createEntry(transfer('acc_rcn_psp_fees_adyen_EUR', cash, 10n, { currency: 'EUR' })),
      Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'postings[0].account_id' });
    await expectConnectError(owner.ledger.closeAccount({ accountId: 'acc_rcn_bank_adyen_EUR', idempotencyKey: key() }), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'account_id' });
    for (const code of ['psp_fees:adyen:EUR', 'fx_clearing:stripe:USD', 'recon_adjustments:paypal:EUR']) {
      await expectConnectError(openAccount(owner, { code, currency: 'EUR' }), Code.InvalidArgument, 'RESERVED_NAMESPACE', { field: 'code' });
    }
  }, 30_000);
});
