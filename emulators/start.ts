/**
 * `npm start`: the whole local stack in one terminal. Starts the Auth, Firestore and Pub/Sub
 * emulators, serves every HTTP handler on http://127.0.0.1:8080, creates a demo tenant, writes
 * .tally/stack.json for `npx tally`, and stops everything on Ctrl-C.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startEmulators } from './firebase-emulators.js';
import { startHttpServer } from './api-server.js';
import { removeStackState, stateFile, writeStackState } from './state-file.js';
import path from 'node:path';
import { ToolchainError, stateDir } from './toolchain.js';

/** Stands in for Cloud Scheduler locally: how often the ledger maintenance tick runs. */
const maintenanceIntervalMs = Number(process.env.TALLY_MAINTENANCE_INTERVAL_MS ?? 15_000);

/**
 * A side stack beside another `npm start`: with TALLY_EMULATOR_PORT_OFFSET set, every port moves by
 * the offset (the emulators and ClickHouse on the tests' port scheme) and .tally/stack.json (the
 * first stack's, for `npx tally`) is left alone.
 */
const sideOffset = process.env.TALLY_EMULATOR_PORT_OFFSET === undefined ? 0 : Number(process.env.TALLY_EMULATOR_PORT_OFFSET);
const profile = sideOffset === 0 ? 'dev' : 'test';
const apiPort = Number(process.env.TALLY_API_PORT ?? 8080 + sideOffset);
const sandboxPort = Number(process.env.TALLY_SANDBOX_PSP_PORT ?? 12111 + sideOffset);
const t0 = performance.now();
const say = (text: string): void => { process.stdout.write(`${text}\n`); };
const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

async function main(): Promise<void> {
  say('tally: starting the local stack (emulators, API, web apps) ...');
  // The checkout and console apps build while the emulators start (ADR 0037); awaited before serving.
  const webBuilt = buildWebApps();
  webBuilt.catch(() => undefined); // reported where awaited
  const verbose = process.env.TALLY_VERBOSE ? (prefix: string) => (l: string) => say(`  [${prefix}] ${l}`) : () => undefined;
  // The emulators and ClickHouse start side by side; if one fails, the other is stopped.
  const { startClickHouse } = await import('./clickhouse.js');
  const [emulatorsStarted, clickhouseStarted] = await Promise.allSettled([
    startEmulators({ profile, log: verbose('firebase') }),
    startClickHouse({ profile, log: verbose('clickhouse') }),
  ]);
  if (emulatorsStarted.status === 'rejected' || clickhouseStarted.status === 'rejected') {
    if (emulatorsStarted.status === 'fulfilled') await emulatorsStarted.value.stop();
    if (clickhouseStarted.status === 'fulfilled') await clickhouseStarted.value.stop();
    throw emulatorsStarted.status === 'rejected' ? emulatorsStarted.reason : (clickhouseStarted as PromiseRejectedResult).reason;
  }
  const emulators = emulatorsStarted.value;
  const clickhouse = clickhouseStarted.value;
  say(`tally: emulators ready (${elapsed()}): firestore ${emulators.env.FIRESTORE_EMULATOR_HOST}, pubsub ${emulators.env.PUBSUB_EMULATOR_HOST}, auth ${emulators.env.FIREBASE_AUTH_EMULATOR_HOST}`);
  // No GCE metadata server on a laptop: skip the Google SDKs' slow probe for one. The ClickHouse
  // URL travels with the emulators' variables (into .tally/stack.json for `npx tally` too).
  const stackEnv = { ...emulators.env, TALLY_CLICKHOUSE_URL: clickhouse.url };
  Object.assign(process.env, stackEnv, { METADATA_SERVER_DETECTION: 'none' });
  const { migrate } = await import('../functions/src/adapters/clickhouse/migrate.js');
  const { parseConfig: parseStartConfig } = await import('../functions/src/platform/config/config.js');
  const schema = await migrate(parseStartConfig().clickhouse);
  say(`tally: ClickHouse ready (${elapsed()}): ${clickhouse.url}, database ${schema.database}, ${schema.applied.length + schema.alreadyApplied} migrations applied`);

  // A fresh platform admin key per run; only its hash reaches the API's config.
  const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
  process.env.TALLY_PLATFORM_ADMIN_KEY_SHA256 = createHash('sha256').update(adminKey).digest('hex');
  // Checkpoints are signed with a local Ed25519 key kept across runs (ignored .tally/ folder).
  process.env.TALLY_LOCAL_SIGNING_KEY_FILE ??= path.join(stateDir, 'ledger-signing-key.pem');

  // The sandbox PSP (Stripe and Adyen wire protocols) with per-run secrets; webhooks go to our API.
  const { startSandboxPsp } = await import('./sandbox-psp/index.js');
  const stripeWebhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const adyenHmacKeyHex = randomBytes(32).toString('hex').toUpperCase();
  const sandbox = await startSandboxPsp({
    port: sandboxPort,
    webhookTargets: { stripe: `http://127.0.0.1:${apiPort}/webhooks/stripe`, adyen: `http://127.0.0.1:${apiPort}/webhooks/adyen` },
    stripeWebhookSecret, adyenHmacKeyHex,
  });
  Object.assign(process.env, {
    TALLY_STRIPE_API_KEY: 'sk_test_local', TALLY_STRIPE_WEBHOOK_SECRET: stripeWebhookSecret, TALLY_STRIPE_API_URL: sandbox.url,
    TALLY_ADYEN_API_KEY: 'local', TALLY_ADYEN_MERCHANT_ACCOUNT: 'TallyLocal', TALLY_ADYEN_HMAC_KEY_HEX: adyenHmacKeyHex,
    TALLY_ADYEN_BASE_URL: `${sandbox.url}/v71`, TALLY_ADYEN_SANDBOX_LOOKUP_URL: `${sandbox.url}/_sandbox/adyen`,
  });
  say(`tally: sandbox PSP ready at ${sandbox.url} (Stripe /v1, Adyen /v71, control /_control)`);

  // The fake Cloud KMS (real gRPC API) seals merchant webhook signing secrets (issue 16).
  const { startFakeKms } = await import('./fake-kms/server.js');
  const kms = await startFakeKms();
  process.env.TALLY_KMS_ENDPOINT = kms.address;
  process.env.TALLY_WEBHOOK_SECRETS_KMS_KEY ??= `projects/${process.env.GCLOUD_PROJECT ?? 'demo-tally'}/locations/global/keyRings/tally/cryptoKeys/webhook-secrets`;
  const { parseConfig } = await import('../functions/src/platform/config/config.js');
  const { composeServices } = await import('../functions/src/compose.js');
  // Hosted checkout: session URLs point at this server's /checkout/, whose card fields are the sandbox's.
  process.env.TALLY_CHECKOUT_BASE_URL ??= `http://127.0.0.1:${apiPort}`;
  process.env.TALLY_CHECKOUT_CARD_FIELDS_URL ??= `${sandbox.url}/elements/card`;
  const config = parseConfig();
  const services = composeServices(config);
  const { composeCallables } = await import('../functions/src/compose-callables.js');
  const { createLocalCallablesHandler } = await import('./local-callables.js');
  const { createLocalWebHandler } = await import('./web-serving.js');
  let server;
  try {
    await webBuilt;
  } catch (error) {
    await Promise.all([emulators.stop(), clickhouse.stop(), sandbox.stop(), kms.stop()]);
    throw error;
  }
  try {
    // The API, the HTTPS callables and the built apps on one origin, as Hosting serves them deployed.
    server = await startHttpServer({ ...services, callables: createLocalCallablesHandler(composeCallables(services)), web: createLocalWebHandler(config) }, { port: apiPort });
  } catch (error) {
    await Promise.all([emulators.stop(), clickhouse.stop()]);
    throw new Error(`cannot listen on 127.0.0.1:${apiPort} (${(error as Error).message}); set TALLY_API_PORT to another port`);
  }

  const { createTallyClient } = await import('../functions/src/cli/client.js');
  const admin = createTallyClient(server.url, adminKey);
  const created = await admin.tenancy.createTenant({ name: 'Demo Shop', idempotencyKey: `demo-${process.pid}-${Date.now()}` });
  const demoTenantId = created.tenant!.id;
  const demoApiKey = created.ownerApiKey!.secret;
  const { ensureDemoConsoleUsers, demoConsolePassword } = await import('./demo-users.js');
  const demoUsers = await ensureDemoConsoleUsers(config.projectId, demoTenantId);
  const demoCheckoutUrl = await createDemoCheckoutSession(createTallyClient(server.url, demoApiKey), server.url);
  if (profile === 'dev') writeStackState({
    apiUrl: server.url, pid: process.pid, adminKey, demoTenantId, demoApiKey,
    emulators: stackEnv, startedAt: new Date().toISOString(),
  });

  say(`
tally: ready in ${elapsed()}
  API (ConnectRPC)   ${server.url}   (webhooks: /webhooks/stripe, /webhooks/adyen)
  sandbox PSP        ${sandbox.url}
  ClickHouse         ${clickhouse.url}   (database ${schema.database}; analytics, fed by analyticsSink)
  domain events      Pub/Sub topic domain-events (outbox relay; npx tally outbox drain)
  demo tenant        ${demoTenantId}
  demo API key       ${demoApiKey}
  checkout app       ${server.url}/checkout/   (buyers; hosted card fields from the sandbox PSP)
  demo checkout      ${demoCheckoutUrl}
                     test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 declines, 4000 0000 0000 3220 asks for a challenge
  console app        ${server.url}/console/   (merchants; Firebase Auth on the Auth emulator)
  console sign-in    ${demoUsers.owner} / ${demoConsolePassword}  (owner)
                     ${demoUsers.viewer} / ${demoConsolePassword}  (viewer: read-only)
  state file         ${profile === 'dev' ? `${stateFile}  (npx tally uses it)` : `not written (a side stack, TALLY_EMULATOR_PORT_OFFSET=${sideOffset}: pass --api-url to npx tally)`}

Try it:
  npx buf curl --protocol connect --schema proto \\
    -H 'Authorization: Bearer ${demoApiKey}' \\
    ${server.url}/tally.tenancy.v1.TenancyService/GetTenant

  npx tally apikey list
  npx tally ledger verify

Take a payment (see README "Payments" for the full walk-through):
  npx tally payment-method create --stripe pm_card_visa --adyen adyen_success --brand visa
  npx tally payment create --amount 25.00 --currency EUR --payment-method pm_... --confirm
  npx tally payment list
  npx tally tenant create --name "Another Shop"

Ctrl-C stops everything.`);

  // Pub/Sub-triggered handlers, fed from the emulator as Eventarc would in production.
  const { bridgeTopicToHandler, highVolumeStreamsMax } = await import('./pubsub-bridge.js');
  const { createProcessPspEventHandler } = await import('../functions/src/handlers/pubsub/process-psp-event.js');
  const { pspEventsTopic } = await import('../functions/src/handlers/webhooks/psp-webhook.js');
  // Each subscription as deployed: its retry backoff and dead-letter topic come from
  // subscription-policies.ts, the numbers Terraform declares (ADR 0029).
  const { subscriptionPolicies } = await import('../functions/src/adapters/pubsub/subscription-policies.js');
  const bridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: pspEventsTopic, subscription: 'process-psp-event',
    policy: subscriptionPolicies['process-psp-event'],
    handler: createProcessPspEventHandler({ payments: services.payments, logger: services.logger }),
    onError: (error) => services.logger.error('processPspEvent failed (will be redelivered)', { error }),
  });
  // analyticsSink: domain-events into ClickHouse. The bridge hands it up to sinkInFlightMax messages
  // at once (twice the batches it writes at once, so the next ones fill while those are written; ADR
  // 0029), as concurrent push requests reach one deployed instance.
  await services.bus.ensureTopics(['domain-events']);
  const { composeAnalyticsSink, sinkInFlightMax } = await import('../functions/src/compose-analytics.js');
  const analytics = composeAnalyticsSink(services.config, services.logger);
  const analyticsBridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: 'domain-events', subscription: 'analytics-sink',
    policy: subscriptionPolicies['analytics-sink'], inFlightMax: sinkInFlightMax(services.config), streamsMax: highVolumeStreamsMax,
    handler: analytics.handler,
    onError: (error) => services.logger.warn('analyticsSink failed (will be redelivered)', { error }),
  });
  // Merchant webhooks: domain-events -> webhookDispatcher; the retrier on its own interval stands
  // in for the every-minute Scheduler tick (ADR 0034).
  const { createWebhookDispatcherHandler, createWebhookRetrierHandler } = await import('../functions/src/handlers/pubsub/webhook-dispatcher.js');
  const webhookPolicy = (await import('../functions/src/adapters/pubsub/subscription-policies.js')).subscriptionPolicies['webhook-dispatcher'];
  const webhookBridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: 'domain-events', subscription: webhookPolicy.subscription,
    policy: webhookPolicy, inFlightMax: (await import('../functions/src/compose-webhooks.js')).webhookDispatcherConcurrency,
    handler: createWebhookDispatcherHandler({ webhooks: services.webhooks, logger: services.logger }),
    onError: (error) => services.logger.warn('webhookDispatcher failed (will be redelivered)', { error }),
  });
  // reconRun: reports uploaded through ReconService, run from recon-requests as deployed (ADR 0033).
  const { createReconRunHandler } = await import('../functions/src/handlers/pubsub/recon-run.js');
  const reconBridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: 'recon-requests', subscription: 'recon-run',
    policy: subscriptionPolicies['recon-run'],
    handler: createReconRunHandler({ reconService: services.recon, logger: services.logger }),
    onError: (error) => services.logger.warn('reconRun failed (will be redelivered)', { error }),
  });
  const retryWebhooks = createWebhookRetrierHandler({ webhooks: services.webhooks, logger: services.logger });
  const webhookRetrier = setInterval(() => {
    retryWebhooks().catch((error: unknown) => services.logger.error('webhook retrier failed', { error }));
  }, Number(process.env.TALLY_WEBHOOK_RETRIER_INTERVAL_MS ?? 10_000));
  const { runJanitor } = await import('../functions/src/app/payments/index.js');
  const janitor = setInterval(() => {
    runJanitor(services.payments, { traceId: '', spanId: '' }, { graceMs: services.config.janitorGraceMs, paymentsMax: services.config.janitorPaymentsMax })
      .then((r) => { if (r.resolved > 0 || r.rematched > 0 || r.failures.length > 0) services.logger.info('payment janitor', { ...r }); })
      .catch((error: unknown) => services.logger.error('payment janitor failed', { error }));
  }, maintenanceIntervalMs);

  // The outbox: a poller of recent unsent events stands in for the `outboxRelay` trigger (not a
  // snapshot listener: the emulator re-runs a listener's query on every commit, ADR 0024); the
  // sweeper runs on the maintenance interval and publishes whatever the poller missed or failed.
  await services.bus.ensureTopics(['domain-events']);
  const { startOutboxTrigger } = await import('./outbox-trigger.js');
  const { createOutboxRelayHandler } = await import('../functions/src/handlers/firestore/outbox-relay.js');
  const { sweepOutbox } = await import('../functions/src/app/outbox/relay.js');
  const outboxTrigger = startOutboxTrigger({
    db: services.db, projectId: services.config.projectId,
    handler: createOutboxRelayHandler({ outbox: services.outbox, logger: services.logger }),
    onError: (error) => services.logger.warn('outboxRelay failed (the sweeper will publish it)', { error }),
    // The relay's lag made visible: the oldest queued event waited longer than the warning bound.
    onLag: (stats) => services.logger.warn('outboxRelay is behind', { ...stats }),
  });
  const outboxSweeper = setInterval(() => {
    sweepOutbox(services.outbox, { olderThanMs: services.config.outboxSweepAgeMs, batchMax: services.config.outboxSweepBatchMax })
      .then((r) => { if (r.found > 0) services.logger.info('outbox sweep', { ...r }); })
      .catch((error: unknown) => services.logger.error('outbox sweep failed', { error }));
  }, maintenanceIntervalMs);

  const { runLedgerMaintenance } = await import('../functions/src/app/ledger/maintenance.js');
  const maintenance = setInterval(() => {
    runLedgerMaintenance(services.ledger, { traceId: '', spanId: '' }, { tenantsPerRunMax: services.config.ledgerMaintenanceTenantsMax })
      .then((r) => { if (r.expired + r.checkpointsSigned > 0) services.logger.info('ledger maintenance', { ...r }); })
      .catch((error: unknown) => services.logger.error('ledger maintenance failed', { error }));
  }, maintenanceIntervalMs);

  // billingRun on real time, ticked through Pub/Sub as Cloud Scheduler does deployed (ADR 0035).
  const { startBillingTicks, BILLING_TICK_INTERVAL_MS_DEFAULT } = await import('./billing-ticks.js');
  const billingTicks = await startBillingTicks({ services, intervalMs: Number(process.env.TALLY_BILLING_TICK_INTERVAL_MS ?? BILLING_TICK_INTERVAL_MS_DEFAULT) });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(`\ntally: ${signal}, stopping ...`);
    clearInterval(maintenance);
    clearInterval(janitor);
    clearInterval(outboxSweeper);
    clearInterval(webhookRetrier);
    await billingTicks.stop();
    await outboxTrigger.stop();
    await bridge.stop();
    await webhookBridge.stop();
    await reconBridge.stop();
    await kms.stop();
    await analyticsBridge.stop();
    await analytics.close();
    await sandbox.stop();
    if (profile === 'dev') removeStackState();
    await server.close();
    await services.telemetry.shutdown();
    await Promise.all([emulators.stop(), clickhouse.stop()]);
    say('tally: stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/** `npm run web:build` (both apps into web/dist); its output only when it fails. */
async function buildWebApps(): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { repoRoot } = await import('./toolchain.js');
  try {
    await promisify(execFile)('npm', ['run', 'web:build'], { cwd: repoRoot, timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm run web:build failed: ${e.message}\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.slice(-4000)}`);
  }
}

/**
 * A demo checkout session of the demo tenant (two line items in EUR), so that the banner can print a
 * checkout URL a buyer can pay at once.
 */
async function createDemoCheckoutSession(client: import('../functions/src/cli/client.js').TallyClient, serverUrl: string): Promise<string> {
  const { CheckoutMode } = await import('../functions/src/gen/tally/checkout/v1/checkout_pb.js');
  try {
    const res = await client.checkout.createCheckoutSession({
      mode: CheckoutMode.PAYMENT, currency: 'EUR', customerEmail: 'buyer@demo.tally.test',
      lineItems: [{ name: 'Tally T-shirt', unitAmountMinor: 2500n, quantity: 2n }, { name: 'Sticker pack', unitAmountMinor: 450n, quantity: 1n }],
      // No shop to return to locally: the buyer lands on the console's payments, where the demo merchant sees the payment.
      successUrl: `${serverUrl}/console/#/payments`, cancelUrl: `${serverUrl}/console/#/payments`,
      idempotencyKey: `demo-checkout-${process.pid}-${Date.now()}`,
    });
    return res.session!.url;
  } catch (error) {
    // Not fatal: everything else works; say why (npx tally / the API can create one).
    return `(not created: ${(error as Error).message})`;
  }
}

main().catch((error: unknown) => {
  const message = error instanceof ToolchainError ? error.message : (error as Error).stack ?? String(error);
  process.stderr.write(`tally: could not start: ${message}\n`);
  process.exit(1);
});
