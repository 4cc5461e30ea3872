/**
 * `npm run bench:billing` (issue 14 item 10): one `billingRun` over BENCH_BILLING_SUBSCRIPTIONS
 * (default 5,000) due subscriptions on the emulator, each renewed, invoiced with EU VAT, numbered
 * (gapless per tenant), posted to the ledger (receivable / revenue / tax payable), charged through
 * the sandbox PSP by PaymentsService's use cases (its own ledger entries), and settled (receivable
 * to collected). Plain ledger entries (CreateEntry through the API) are measured in the same run,
 * before and after the billing run, at the bench's concurrency.
 * Prints one JSON object as its last line. Goal: renewalsPerSec / ledgerEntriesPerSec >= 0.3.
 *
 * The subscriptions belong to BENCH_BILLING_TENANTS (default 10) tenants: numbering is gapless per
 * tenant, so one tenant's finalizations are serial (chunks of TALLY_BILLING_FINALIZE_CHUNK_MAX
 * invoices per transaction) and tenants run in parallel, as on a platform with many merchants.
 * They are created with a one-day trial through the API, and the run is made as of two days later.
 * The sandbox PSP runs in its own process (a PSP is another service: its CPU is not Tally's).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { benchConcurrency as concurrency, benchDurationMs as durationMs, benchLog, benchWarmUpMs, measureWorkers, runBench } from './support.js';
import { startSandboxProcess } from './sandbox-process.js';

const log = benchLog('bench:billing');
const subscriptionsTotal = Number(process.env.BENCH_BILLING_SUBSCRIPTIONS ?? 5_000);
const tenantsTotal = Number(process.env.BENCH_BILLING_TENANTS ?? 10);
const customersPerTenant = 5;
const dayMs = 86_400_000;

runBench('bench:billing', async () => {
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
    const { Interval, PriceModel } = await import('../functions/src/gen/tally/billing/v1/billing_pb.js');
    const { runBilling } = await import('../functions/src/app/billing/billing-run.js');
    const services = composeServices(parseConfig());
    const server = await startHttpServer(services, { port: 0 });
    const admin = createTallyClient(server.url, adminKey, { useBinaryFormat: true });

    log(`setting up ${tenantsTotal} tenants and ${subscriptionsTotal} subscriptions (one-day trial) ...`);
    const plans: { client: ReturnType<typeof createTallyClient>; customers: string[]; priceId: string }[] = [];
    for (let t = 0; t < tenantsTotal; t++) {
      const created = await admin.tenancy.createTenant({ name: `Bench ${t}`, idempotencyKey: randomUUID() });
      const client = createTallyClient(server.url, created.ownerApiKey!.secret, { useBinaryFormat: true });
      await client.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: randomUUID() });
      await client.billing.updateBillingSettings({ settings: { originCountry: 'DE' }, idempotencyKey: randomUUID() });
      const product = (await client.billing.createProduct({ name: 'Plan', idempotencyKey: randomUUID() })).product!;
      const priceId = (await client.billing.createPrice({
        price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 990n }, interval: Interval.MONTH, intervalCount: 1 }, idempotencyKey: randomUUID(),
      })).price!.id;
      const customers: string[] = [];
      for (let c = 0; c < customersPerTenant; c++) {
        const customerId = (await client.payments.createCustomer({ email: `c${c}@example.com`, name: `C${c}`, idempotencyKey: randomUUID() })).customer!.id;
        const pm = (await client.payments.createPaymentMethod({ customerId, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: randomUUID() })).paymentMethod!.id;
        await client.billing.updateBillingCustomer({ customer: { customerId, defaultPaymentMethodId: pm, country: ['FR', 'DE', 'NL', 'FI', 'IT'][c]! }, idempotencyKey: randomUUID() });
        customers.push(customerId);
      }
      plans.push({ client, customers, priceId });
    }
    let made = 0;
    const setupStarted = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (made < subscriptionsTotal) {
        const i = made++;
        const plan = plans[i % tenantsTotal]!;
        await plan.client.billing.createSubscription({ customerId: plan.customers[i % customersPerTenant]!, items: [{ priceId: plan.priceId, quantity: BigInt(1 + (i % 3)) }], trialDays: 1, idempotencyKey: randomUUID() });
        if ((i + 1) % 1_000 === 0) log(`  ${i + 1} subscriptions (${Math.round((i + 1) / ((performance.now() - setupStarted) / 1000))}/s)`);
      }
    }));

    // Plain ledger entries through the API, as bench:payments measures them.
    const ledgerClient = plans[0]!.client;
    const accounts = await Promise.all(Array.from({ length: 2 * concurrency }, async (_, i) => (await ledgerClient.ledger.createAccount({
      code: `bench-${i}`, name: 'bench', currency: 'EUR', type: AccountType.ASSET, shardCount: 1, idempotencyKey: randomUUID(),
    })).account!.id));
    let next = 0;
    const entry = async () => {
      const i = next++ % concurrency;
      await ledgerClient.ledger.createEntry({
        entryId: `je_${randomUUID().replaceAll('-', '')}`, description: 'bench', metadata: {}, reversesEntryId: '', pendingTimeoutMs: 0n,
        postings: [
          { accountId: accounts[2 * i]!, direction: Direction.DEBIT, amountMinor: 100n, currency: 'EUR' },
          { accountId: accounts[2 * i + 1]!, direction: Direction.CREDIT, amountMinor: 100n, currency: 'EUR' },
        ],
      });
    };
    await measureWorkers(log, 'warm-up: ledger entries', entry, benchWarmUpMs);
    const entriesBefore = await measureWorkers(log, 'ledger entries (before)', entry, durationMs / 2);

    log(`billingRun over ${subscriptionsTotal} due subscriptions ...`);
    const trace = { traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1' };
    const runStarted = performance.now();
    const report = await runBilling(services.billing, { kind: 'real', nowMs: Date.now() + 2 * dayMs }, trace);
    const runMs = performance.now() - runStarted;
    log(`billingRun: ${JSON.stringify(report)} in ${Math.round(runMs)} ms`);
    if (report.finalized !== subscriptionsTotal || report.paid !== subscriptionsTotal || report.errors !== 0 || report.more) {
      throw new Error(`billingRun did not renew and collect every subscription: ${JSON.stringify(report)}`);
    }
    // A second run at the same instant renews nothing (idempotent per subscription and period).
    const again = await runBilling(services.billing, { kind: 'real', nowMs: Date.now() + 2 * dayMs }, trace);
    if (again.finalized !== 0 || again.chargeAttempts !== 0) throw new Error(`a second run billed again: ${JSON.stringify(again)}`);
    // Gapless numbering: each tenant's counter equals its invoices.
    for (const plan of plans) {
      const tenantId = (await plan.client.tenancy.getTenant({})).tenant!.id;
      const counter = Number((await services.db.doc(`tenants/${tenantId}/billingCounters/invoices`).get()).get('last'));
      const invoices = (await services.db.collection(`tenants/${tenantId}/invoices`).count().get()).data().count;
      if (counter !== Number(invoices)) throw new Error(`tenant ${tenantId}: counter ${counter} but ${invoices} invoices`);
    }
    const entriesAfter = await measureWorkers(log, 'ledger entries (after)', entry, durationMs / 2);
    const ledgerEntriesPerSec = Math.round((entriesBefore.perSec + entriesAfter.perSec) / 2);
    const renewalsPerSec = Math.round((subscriptionsTotal / runMs) * 1000);
    const ratio = Number((renewalsPerSec / ledgerEntriesPerSec).toFixed(3));
    await server.close();
    return {
      renewalsPerSec, ledgerEntriesPerSec, ratio, goal: 0.3, met: ratio >= 0.3,
      subscriptions: subscriptionsTotal, tenants: tenantsTotal, runMs: Math.round(runMs), run: report,
      // Per renewal: finalization entry + the payment's capture entry + the settlement entry.
      billingLedgerEntriesPerSec: Math.round((3 * subscriptionsTotal / runMs) * 1000),
      entriesBefore, entriesAfter, concurrency, finalizeChunkMax: services.config.billing.finalizeChunkMax, billingConcurrencyMax: services.config.billing.concurrencyMax,
    };
  } finally {
    await sandbox.stop();
  }
});
