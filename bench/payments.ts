/**
 * `npm run bench:payments`: payments created, confirmed and captured through the API over HTTP
 * against the sandbox PSP with no injected latency (Stripe connector), and plain ledger entries
 * (CreateEntry through the API) in the same run, all at the same concurrency, measured in
 * alternating rounds after a warm-up of each. The headline payment is the one-call checkout
 * (CreatePayment with confirm, automatic capture); `threeCalls` is create, confirm (manual
 * capture) and capture as three calls. Prints one JSON object as its last line.
 * Goal: paymentsPerSec / ledgerEntriesPerSec >= 0.5.
 *
 * `firestoreRpcsPerPayment` is one checkout alone; `firestoreRpcsPerPaymentUnderLoad` the average
 * over checkouts at the bench's concurrency, whose first writes leave in groups (ADR 0016).
 *
 * `documentsPerCheckout` is what Firestore bills for one checkout all-in (ADR 0027), each piece run
 * once alone while counting at the client (`countFirestoreRpcs`): the API call, the outbox relay of the
 * documents it wrote (`relayOutboxDocument` per document with the document its trigger carries, as
 * `outboxRelay` runs it: no read), and its PSP
 * webhook (received by `receiveWebhook`, applied by `processInboxEvent`, as `pspWebhook` and
 * `processPspEvent` run them; the Pub/Sub hops between them are not Firestore's).
 * `usdPer1000Checkouts` prices them at `firestoreListPrices`, in integer micro-dollars.
 *
 * The sandbox PSP runs in its own process, as a PSP is another service: its CPU is not Tally's.
 * The API and the load generator share this process, for both paths alike.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSandboxProcess } from './sandbox-process.js';
import { benchConcurrency as concurrency, benchDurationMs as durationMs, benchLog, benchRounds, benchWarmUpMs, measureInterleaved, measureWorkers, runBench } from './support.js';

const log = benchLog('bench:payments');

/**
 * Firestore Standard edition, multi-region nam5, list prices as of 2025 (check the current Firestore
 * pricing page): USD per 100,000 operations, in micro-dollars so that the arithmetic is exact.
 */
const firestoreListPrices = { name: 'Firestore Standard edition, multi-region nam5, list prices as of 2025 (check the current Firestore pricing page)', microUsdPer100kReads: 60_000n, microUsdPer100kWrites: 180_000n, microUsdPer100kDeletes: 20_000n };

/** USD per 1,000 operations counted per one: exact in micro-dollars * 100 (1,000 / 100,000), formatted last. */
function usdPer1000(counts: { reads: number; writes: number; deletes: number }): string {
  const microUsdPer100k = BigInt(counts.reads) * firestoreListPrices.microUsdPer100kReads + BigInt(counts.writes) * firestoreListPrices.microUsdPer100kWrites
    + BigInt(counts.deletes) * firestoreListPrices.microUsdPer100kDeletes;
  // 1,000 checkouts cost microUsdPer100k / 100 micro-dollars, so microUsdPer100k counts 10^-8 USD:
  // printed with 8 decimals, nothing rounded.
  const units = microUsdPer100k;
  return `${units / 100_000_000n}.${(units % 100_000_000n).toString().padStart(8, '0')}`;
}

runBench('bench:payments', async () => {
  log('starting the sandbox PSP (own process) ...');
  const stripeWebhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const sandbox = await startSandboxProcess(stripeWebhookSecret);
  try {
    const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
    const { createHash } = await import('node:crypto');
    Object.assign(process.env, {
      TALLY_PLATFORM_ADMIN_KEY_SHA256: createHash('sha256').update(adminKey).digest('hex'),
      TALLY_STRIPE_API_KEY: 'sk_test_bench', TALLY_STRIPE_WEBHOOK_SECRET: stripeWebhookSecret, TALLY_STRIPE_API_URL: sandbox.url,
    });
    const { parseConfig } = await import('../functions/src/platform/config/config.js');
    const { composeServices } = await import('../functions/src/compose.js');
    const { startHttpServer } = await import('../emulators/api-server.js');
    const { createTallyClient } = await import('../functions/src/cli/client.js');
    const { AccountType, Direction } = await import('../functions/src/gen/tally/ledger/v1/ledger_pb.js');
    const { CaptureMethod, PaymentStatus } = await import('../functions/src/gen/tally/payments/v1/payments_pb.js');
    const services = composeServices(parseConfig());
    const server = await startHttpServer(services, { port: 0 });
    // Webhooks would arrive while measuring; this bench measures the synchronous API path only.
    const created = await createTallyClient(server.url, adminKey).tenancy.createTenant({ name: 'Bench', idempotencyKey: randomUUID() });
    const client = createTallyClient(server.url, created.ownerApiKey!.secret, { useBinaryFormat: true });
    const pm = (await client.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', idempotencyKey: randomUUID() })).paymentMethod!.id;
    const accounts = await Promise.all(Array.from({ length: 2 * concurrency }, async (_, i) => (await client.ledger.createAccount({
      code: `bench-${i}`, name: 'bench', currency: 'EUR', type: AccountType.ASSET, shardCount: 1, idempotencyKey: randomUUID(),
    })).account!.id));

    /** The checkout call: CreatePayment with confirm, automatic capture (created, confirmed, captured). */
    const checkout = async () => {
      const done = (await client.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.AUTOMATIC, confirm: true, idempotencyKey: randomUUID() })).payment!;
      if (done.status !== PaymentStatus.SUCCEEDED) throw new Error(`payment ${done.id} ended ${done.status}`);
    };
    /** Three calls: create, confirm (authorize only), capture. */
    const payment = async () => {
      const p = (await client.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: randomUUID() })).payment!;
      await client.payments.confirmPayment({ paymentId: p.id, idempotencyKey: randomUUID() });
      const done = (await client.payments.capturePayment({ paymentId: p.id, idempotencyKey: randomUUID() })).payment!;
      if (done.status !== PaymentStatus.SUCCEEDED) throw new Error(`payment ${p.id} ended ${done.status}`);
    };
    let next = 0;
    const entry = async () => {
      const i = next++ % concurrency;
      await client.ledger.createEntry({
        entryId: `je_${randomUUID().replaceAll('-', '')}`, description: 'bench', metadata: {}, reversesEntryId: '', pendingTimeoutMs: 0n,
        postings: [
          { accountId: accounts[2 * i]!, direction: Direction.DEBIT, amountMinor: 100n, currency: 'EUR' },
          { accountId: accounts[2 * i + 1]!, direction: Direction.CREDIT, amountMinor: 100n, currency: 'EUR' },
        ],
      });
    };
    /**
     * One checkout all-in, each piece alone: the API call, then the relay of the outbox events it
     * wrote, then its webhooks (captured from the sandbox here, then received and applied).
     */
    const countCheckoutDocuments = async () => {
      const { countFirestoreRpcs } = await import('../test/support/firestore-rpcs.js');
      const { relayOutboxDocument } = await import('../functions/src/app/outbox/relay.js');
      const { encodeDocumentEventData } = await import('../functions/src/adapters/firestore/document-event-data.js');
      const { domainEventsTopic } = await import('../functions/src/app/outbox/outbox-message.js');
      await services.bus.ensureTopics([domainEventsTopic]); // as `npm start` does; terraform in production
      const { receiveWebhook, processInboxEvent } = await import('../functions/src/app/payments/index.js');
      const webhooks: { body: Buffer; headers: Record<string, string | undefined> }[] = [];
      const webhooksMax = 10; // one checkout sends a few; more is a bug, not something to count
      const catcher = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (webhooks.length >= webhooksMax) throw new Error(`more than ${webhooksMax} webhooks for one checkout`);
          webhooks.push({ body: Buffer.concat(chunks), headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])) });
          res.writeHead(200).end();
        });
      });
      catcher.listen(0, '127.0.0.1');
      await once(catcher, 'listening');
      const control = async (path: string, body: unknown) => {
        const res = await fetch(`${sandbox.url}/_control/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`);
        return res.json() as Promise<{ idle?: boolean }>;
      };
      try {
        if (!(await control('webhooks/idle', { timeoutMs: 30_000 })).idle) throw new Error('earlier webhooks still in flight');
        await control('webhook-targets', { stripe: `http://127.0.0.1:${(catcher.address() as AddressInfo).port}/` });
        const api = await countFirestoreRpcs(() => client.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.AUTOMATIC, confirm: true, idempotencyKey: randomUUID() }));
        const paid = api.result.payment!;
        if (paid.status !== PaymentStatus.SUCCEEDED) throw new Error(`payment ${paid.id} ended ${paid.status}`);
        if (!(await control('webhooks/idle', { timeoutMs: 30_000 })).idle) throw new Error('the checkout\'s webhooks did not arrive');
        // The outbox documents it wrote (one per commit; the trigger hands each over), from the commits counted.
        const outbox = api.written.map((name) => /\/tenants\/([^/]+)\/outbox\/([^/]+)$/.exec(name)).filter((m) => m !== null)
          .map((m) => ({ tenantId: m[1]!, documentId: m[2]! }));
        if (outbox.length === 0) throw new Error(`no outbox document for ${paid.id}`);
        // What the deployed trigger carries (the created document as DocumentEventData, as the
        // local trigger builds it), read here before counting: the relay itself does not read it.
        const carried = await Promise.all(outbox.map(async ({ tenantId: eventTenantId, documentId }) => {
          const snap = await services.db.doc(`tenants/${eventTenantId}/outbox/${documentId}`).get();
          const data = encodeDocumentEventData({ value: { name: `projects/${services.config.projectId}/databases/(default)/documents/${snap.ref.path}`, fields: snap.data()!, createTime: snap.createTime!, updateTime: snap.updateTime! } });
          const document = services.outbox.store.carried(Buffer.from(data), eventTenantId, documentId);
          if (!document) throw new Error(`outbox ${documentId}: the trigger's data does not decode`);
          return document;
        }));
        let outboxEvents = 0;
        const relay = await countFirestoreRpcs(async () => {
          for (const document of carried) {
            const relayed = await relayOutboxDocument(services.outbox, document.tenantId, document.id, document);
            if (relayed.outcome !== 'published') throw new Error(`outbox ${document.id}: ${relayed.outcome}`);
            outboxEvents += relayed.events;
          }
        });
        if (webhooks.length === 0) throw new Error(`no webhook for ${paid.id}`);
        const trace = { traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1' };
        const webhook = await countFirestoreRpcs(async () => {
          for (const w of webhooks) {
            const { stored } = await receiveWebhook(services.payments, 'stripe', w.body, w.headers);
            for (const s of stored) await processInboxEvent(services.payments, s.tenantId, s.inboxId, trace);
          }
        });
        // With each piece's RPCs: the API call's one batch get varied between runs (7-9 documents, ADR 0027).
        const pieces = { api: { ...api.documents, rpcs: api.rpcs }, relay: { ...relay.documents, rpcs: relay.rpcs }, webhook: { ...webhook.documents, rpcs: webhook.rpcs } };
        const total = { reads: 0, writes: 0, deletes: 0, writesByCollection: {} as Record<string, number> };
        for (const p of Object.values(pieces)) {
          for (const k of ['reads', 'writes', 'deletes'] as const) total[k] += p[k];
          for (const [c, n] of Object.entries(p.writesByCollection)) total.writesByCollection[c] = (total.writesByCollection[c] ?? 0) + n;
        }
        return { ...pieces, total, outboxDocuments: outbox.length, outboxEvents, webhooks: webhooks.length };
      } finally {
        await control('webhook-targets', {});
        catcher.close();
      }
    };
    await measureWorkers(log, 'warm-up: checkout', checkout, benchWarmUpMs);
    await measureWorkers(log, 'warm-up: three calls', payment, benchWarmUpMs / 2);
    await measureWorkers(log, 'warm-up: ledger entries', entry, benchWarmUpMs);
    const { checkouts, payments, entries } = await measureInterleaved(log, { checkouts: checkout, payments: payment, entries: entry });
    // What one of each costs in Firestore round trips (after the measurements: counting is not free).
    const { countFirestoreRpcs } = await import('../test/support/firestore-rpcs.js');
    // Counted warm, as measured: the instance caches (routing rules: 1 s) may have expired since.
    await checkout();
    const checkoutRpcs = (await countFirestoreRpcs(checkout)).rpcs;
    const paymentRpcs = (await countFirestoreRpcs(payment)).rpcs;
    const entryRpcs = (await countFirestoreRpcs(entry)).rpcs;
    // Under load, checkouts arriving while a first write is in flight share the next one (ADR 0016).
    const loaded = await countFirestoreRpcs(() => measureWorkers(log, 'counting Firestore RPCs under load: checkout', checkout, 2_000));
    const checkoutRpcsUnderLoad = Object.fromEntries(Object.entries(loaded.rpcs).map(([rpc, n]) => [rpc, Number((n / loaded.result.ops).toFixed(2))]));
    const documentsPerCheckout = await countCheckoutDocuments();
    await server.close();
    return {
      paymentsPerSec: checkouts.perSec, p50Ms: checkouts.p50Ms, p99Ms: checkouts.p99Ms,
      ledgerEntriesPerSec: entries.perSec, ratio: Number((checkouts.perSec / entries.perSec).toFixed(3)),
      goal: 'paymentsPerSec / ledgerEntriesPerSec >= 0.5',
      payment: 'one CreatePayment call with confirm and automatic capture (created, confirmed, captured)',
      threeCalls: {
        payment: 'CreatePayment, ConfirmPayment (manual capture), CapturePayment',
        paymentsPerSec: payments.perSec, p50Ms: payments.p50Ms, p99Ms: payments.p99Ms, ratio: Number((payments.perSec / entries.perSec).toFixed(3)),
        payments: payments.ops, firestoreRpcsPerPayment: paymentRpcs,
      },
      concurrency, durationS: durationMs / 1000, rounds: benchRounds, payments: checkouts.ops,
      ledgerEntryP50Ms: entries.p50Ms, ledgerEntryP99Ms: entries.p99Ms,
      firestoreRpcsPerPayment: checkoutRpcs, firestoreRpcsPerPaymentUnderLoad: checkoutRpcsUnderLoad, firestoreRpcsPerLedgerEntry: entryRpcs,
      documentsPerCheckout, usdPer1000Checkouts: usdPer1000(documentsPerCheckout.total), firestorePrices: firestoreListPrices.name,
    };
  } finally {
    await sandbox.stop();
  }
});
