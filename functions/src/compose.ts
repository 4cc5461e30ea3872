/**
 * The composition root: builds adapters once per process from the parsed config and hands each
 * handler what it needs. Entry points (index.ts, the local stack, tests) call this and nothing else.
 */
import { randomInt } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { createAuthenticator, type Authenticator } from './app/auth/authenticate.js';
import { createFirestore } from './adapters/firestore/firestore-client.js';
import { createFirestoreIdempotencyStore } from './adapters/firestore/idempotency-store.js';
import { createFirestoreTenancyRepository } from './adapters/firestore/tenancy-repository.js';
import { TenancyService } from './gen/tally/tenancy/v1/tenancy_pb.js';
import { LedgerService } from './gen/tally/ledger/v1/ledger_pb.js';
import { createFirestoreLedgerStore } from './adapters/firestore/ledger-store.js';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { createKmsSigner } from './adapters/kms/kms-signer.js';
import { createLocalSigner, loadOrCreateLocalSigningKey } from './adapters/signer/local-signer.js';
import type { LedgerDeps } from './app/ledger/ledger-use-cases.js';
import type { Signer } from './ports/signer.js';
import { createLedgerServiceImpl } from './handlers/rpc/ledger-service.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createFirestorePaymentsStore } from './adapters/firestore/payments-store.js';
import { createPubSubEventBus } from './adapters/pubsub/pubsub-event-bus.js';
import { createAdyenGateway } from './adapters/psp/adyen/index.js';
import { createStripeGateway } from './adapters/psp/stripe/index.js';
import type { PaymentsDeps } from './app/payments/index.js';
import { PaymentsService } from './gen/tally/payments/v1/payments_pb.js';
import { createPaymentsServiceImpl } from './handlers/rpc/payments-service.js';
import { createPspWebhookHandler } from './handlers/webhooks/psp-webhook.js';
import { createCircuitBreaker, createConcurrencyLimiter, systemTimers } from './platform/resilience/index.js';
import type { PspGateway, PspName } from './ports/psp-gateway.js';
import { createApiHandler, type ApiHandler } from './handlers/http/api-handler.js';
import { createAuthInterceptor, createTelemetryInterceptor } from './handlers/rpc/rpc-context.js';
import { createTenancyServiceImpl } from './handlers/rpc/tenancy-service.js';
import type { Tenant } from './domain/tenancy/tenant.js';
import { validateTenantPricing } from './domain/payments/index.js';
import { tenantPricing, type TenancyDeps } from './app/tenancy/tenancy-use-cases.js';
import { createTtlCache } from './platform/cache/ttl-cache.js';
import { createWriteLanes } from './platform/lanes/write-lanes.js';
import type { Config } from './platform/config/config.js';
import type { IdempotencyOptions } from './platform/idempotency/idempotency.js';
import { createLogger, type Logger } from './platform/telemetry/logger.js';
import { initTelemetry, type Telemetry } from './platform/telemetry/tracing.js';
import { createKeyedSerializer } from './platform/lanes/keyed-serializer.js';
import { systemClock, type Clock } from './ports/clock.js';
import { createFirebaseIdTokenVerifier } from './adapters/auth/firebase-id-token-verifier.js';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { createFirestoreOutboxStore } from './adapters/firestore/outbox-store.js';
import { encodeDomainEvent } from './adapters/proto/events-mapping.js';
import type { OutboxDeps } from './app/outbox/relay.js';
import type { EventBus } from './ports/event-bus.js';
import { composeWebhooks } from './compose-webhooks.js';
import type { WebhooksDeps } from './app/webhooks/webhooks-deps.js';
import { WebhookEndpointsService } from './gen/tally/webhooks/v1/webhooks_pb.js';
import { createWebhooksServiceImpl } from './handlers/rpc/webhooks-service.js';
import { BillingService } from './gen/tally/billing/v1/billing_pb.js';
import { createBillingServiceImpl } from './handlers/rpc/billing-service.js';
import { createFirestoreBillingStore } from './adapters/firestore/billing-store.js';
import type { BillingDeps } from './app/billing/billing-deps.js';
import { createTenantTaxCalculator } from './adapters/tax/index.js';
import { getTenant } from './app/tenancy/tenancy-use-cases.js';
import { AnalyticsService } from './gen/tally/analytics/v1/analytics_pb.js';
import { createClickHouseClient } from './adapters/clickhouse/clickhouse-client.js';
import { createClickHouseAnalyticsReader } from './adapters/clickhouse/analytics-reader.js';
import type { AnalyticsDeps } from './app/analytics/reports.js';
import { createAnalyticsServiceImpl } from './handlers/rpc/analytics-service.js';
import { TallyError } from './domain/errors.js';
import { ReconService } from './gen/tally/recon/v1/recon_pb.js';
import { createReconServiceImpl } from './handlers/rpc/recon-service.js';
import { composeReconService, reconUploadBytesMaxOf } from './compose-recon.js';
import type { ReconServiceDeps } from './app/recon/recon-requests.js';
import { CheckoutService, HostedCheckoutService } from './gen/tally/checkout/v1/checkout_pb.js';
import { createCheckoutServiceImpl, createHostedCheckoutServiceImpl } from './handlers/rpc/checkout-service.js';
import { createFirestoreCheckoutStore } from './adapters/firestore/checkout-store.js';
import type { CheckoutDeps } from './app/checkout/checkout-deps.js';

export interface Services {
  config: Config;
  db: Firestore;
  clock: Clock;
  logger: Logger;
  telemetry: Telemetry;
  authenticator: Authenticator;
  idempotency: IdempotencyOptions;
  ledger: LedgerDeps;
  payments: PaymentsDeps;
  bus: ReturnType<typeof createPubSubEventBus>;
  /** The outbox relay's dependencies (`outboxRelay`, `outboxSweeper`, `tally outbox drain`). */
  outbox: OutboxDeps;
  /** Merchant webhooks (WebhookEndpointsService, `webhookDispatcher`, `webhookRetrier`). */
  webhooks: WebhooksDeps;
  /** Billing's dependencies (`billingRun`, BillingService). */
  billing: BillingDeps;
  /** Merchant reports from ClickHouse (AnalyticsService, ADR 0030). */
  analytics: AnalyticsDeps;
  /** Reconciliation of uploaded reports (ReconService, `reconRun`, ADR 0033). */
  recon: ReconServiceDeps;
  /** Hosted checkout sessions (CheckoutService, HostedCheckoutService; ADR 0036). */
  checkout: CheckoutDeps;
  /** The `pspWebhook` HTTP handler (POST /webhooks/{psp}). */
  pspWebhook: (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse) => Promise<void>;
  /** The `api` HTTP handler: every ConnectRPC service behind one port. */
  api: ApiHandler;
}

/**
 * AnalyticsService's reader: ClickHouse when TALLY_CLICKHOUSE_URL is set; otherwise every report
 * answers ANALYTICS_UNAVAILABLE (analytics is off), the rest of the API unaffected.
 */
export function composeAnalytics(config: Config): AnalyticsDeps {
  if (config.clickhouse.url === '') {
    const off = (): never => { throw new TallyError('ANALYTICS_UNAVAILABLE', 'analytics is not configured on this deployment (TALLY_CLICKHOUSE_URL)', {}); };
    return { reader: { paymentVolume: async () => off(), ledgerVolume: async () => off() } };
  }
  return { reader: createClickHouseAnalyticsReader(createClickHouseClient(config.clickhouse), { queryTimeoutMs: config.analyticsQueryTimeoutMs }) };
}

/** Checkpoint signer: Cloud KMS in production, a local Ed25519 key in development and tests. */
function createSigner(config: Config): Signer {
  if (config.signer === 'kms') {
    return createKmsSigner({ client: new KeyManagementServiceClient(), keyVersionName: config.kmsKeyVersion });
  }
  return createLocalSigner(config.localSigningKeyFile === '' ? {} : { privateKeyPem: loadOrCreateLocalSigningKey(config.localSigningKeyFile) });
}

/** The outbox relay's dependencies; also used alone by `tally outbox drain`. */
export function composeOutbox(config: Config, db: Firestore, bus: EventBus, clock: Clock): OutboxDeps {
  // The API's root sampler decides by trace id ratio: the same rule recovers the sampled flag of a
  // stored trace id (the outbox document keeps the ids, not the flag).
  const ratioSampler = new TraceIdRatioBasedSampler(config.traceSampleRatio);
  return {
    store: createFirestoreOutboxStore(db, { transaction: { attemptsMax: config.firestoreTxAttemptsMax } }), bus, clock, encode: encodeDomainEvent,
    traceSampled: (traceId) => ratioSampler.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED,
    publishConcurrencyMax: config.outboxPublishConcurrencyMax,
  };
}

export function composeServices(config: Config, overrides: { clock?: Clock; logger?: Logger } = {}): Services {
  const telemetry = initTelemetry(config);
  const logger = overrides.logger ?? createLogger({ projectId: config.projectId, level: config.logLevel });
  const clock = overrides.clock ?? systemClock;
  const db = createFirestore(config.projectId);
  const repo = createFirestoreTenancyRepository(db);
  const authenticator = createAuthenticator({
    repo,
    idTokens: createFirebaseIdTokenVerifier({ projectId: config.projectId, emulatorHost: config.authEmulatorHost === '' ? undefined : config.authEmulatorHost, lookupTimeoutMs: 5_000 }),
    clock,
    platformAdminKeySha256: config.platformAdminKeySha256,
    cacheTtlMs: config.authCacheTtlMs,
    cacheEntriesMax: config.authCacheEntriesMax,
  });
  const idempotency: IdempotencyOptions = {
    store: createFirestoreIdempotencyStore(db),
    clock,
    leaseMs: config.idempotencyLeaseMs,
    retentionMs: config.idempotencyRetentionMs,
    waitMs: config.idempotencyWaitMs,
  };
  const ledger: LedgerDeps = {
    store: createFirestoreLedgerStore(db, { transaction: { attemptsMax: config.firestoreTxAttemptsMax } }),
    clock,
    signer: createSigner(config),
    lanes: createWriteLanes({ count: config.ledgerWriteLanes, waitersMax: config.ledgerLaneWaitersMax }),
    instanceSalt: randomInt(0, 1_000_000),
    limits: {
      chainStripes: config.ledgerChainStripes,
      asOfRecordsMax: config.ledgerAsOfRecordsMax,
      snapshotEveryRecords: config.ledgerSnapshotEveryRecords,
      snapshotSettleMs: config.ledgerSnapshotSettleMs,
      snapshotAccountsPerTenantMax: config.ledgerSnapshotAccountsPerTenantMax,
      snapshotsPerRunMax: config.ledgerSnapshotsPerRunMax,
      verifyPageSize: config.ledgerVerifyPageSize,
      verifyChunkRecordsMax: config.ledgerVerifyChunkRecordsMax,
      sweepBatchMax: config.ledgerSweepBatchMax,
    },
  };
  const gateways = new Map<PspName, PspGateway>();
  if (config.stripe.apiKey !== '') {
    const url = new URL(config.stripe.apiUrl);
    gateways.set('stripe', createStripeGateway({
      apiKey: config.stripe.apiKey, webhookSecret: config.stripe.webhookSecret, timeoutMs: config.pspCallTimeoutMs,
      host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol === 'https:' ? 'https' : 'http',
    }));
  }
  if (config.adyen.apiKey !== '') {
    gateways.set('adyen', createAdyenGateway({
      apiKey: config.adyen.apiKey, merchantAccount: config.adyen.merchantAccount, hmacKeyHex: config.adyen.hmacKeyHex,
      baseUrl: config.adyen.baseUrl, timeoutMs: config.pspCallTimeoutMs,
      ...(config.adyen.sandboxLookupUrl === '' ? {} : { sandboxLookupUrl: config.adyen.sandboxLookupUrl }),
    }));
  }
  // Tenant documents (their pricing included) through one per-instance cache: a payment reads its
  // tenant's pricing from it, not from Firestore (issue 11 item 13).
  const tenantCache = createTtlCache<Tenant | undefined>({ clock, ttlMs: config.tenantCacheTtlMs, entriesMax: config.authCacheEntriesMax });
  const tenancyDeps: TenancyDeps = {
    repo, clock, tenantCache,
    defaultPricing: validateTenantPricing({ rateBps: config.platformFeeBps, fixedMinorByCurrency: config.platformFeeFixedMinorByCurrency }),
  };
  const payments: PaymentsDeps = {
    store: createFirestorePaymentsStore(db, {
      groupCommit: {
        groupsInFlightMax: config.paymentsGroupCommitInFlightMax, writesPerGroupMax: config.paymentsGroupCommitWritesMax,
        waitingWritesMax: config.paymentsGroupCommitWaitingWritesMax, stallMs: config.paymentsGroupCommitStallMs,
      },
      transaction: { attemptsMax: config.firestoreTxAttemptsMax },
    }),
    ledger,
    clock,
    timers: systemTimers,
    gateways,
    // callPsp records each call's verdict itself (pspCallVerdict), so `isFailure` is never asked;
    // keysMax bounds the keys to the PSP names.
    breaker: createCircuitBreaker({
      clock, windowMs: config.pspBreakerWindowMs, windowBucketCount: config.pspBreakerWindowBuckets, minimumCalls: config.pspBreakerMinimumCalls,
      failureRateThreshold: config.pspBreakerFailureRate, openDurationMs: config.pspBreakerOpenMs, halfOpenProbesMax: config.pspBreakerHalfOpenProbes,
      keysMax: 16, isFailure: () => true,
    }),
    limiter: createConcurrencyLimiter({ limit: config.pspConcurrencyMax, queueMax: config.pspQueueMax, queueTimeoutMs: config.pspQueueTimeoutMs, clock: systemTimers }),
    // The connector's own timeout fires first and maps to `unknown`; this is the backstop.
    pspCallTimeoutMs: config.pspCallTimeoutMs + 1_000,
    pspCallsPerRequestMax: config.pspCallsPerRequestMax,
    lookupHedge: { delayMs: config.pspLookupHedgeDelayMs, attemptsMax: config.pspLookupHedgeAttempts },
    // Each payment snapshots its tenant's pricing (or the default) over these platform terms.
    fees: { rateBps: config.platformFeeBps, fixedMinor: 0n, rounding: 'half-even', disputeFeeMinor: 0n },
    tenantPricing: (tenantId) => tenantPricing(tenancyDeps, tenantId),
    random: Math.random,
    logger,
    testHooks: {},
    eventsByPayment: createKeyedSerializer({ waitingMax: config.pspEventsWaitingMax }),
    caches: {
      // Immutable once created: the entry bound is the only limit that matters.
      paymentMethods: createTtlCache({ clock, ttlMs: config.paymentMethodCacheTtlMs, entriesMax: config.authCacheEntriesMax }),
      routingRules: createTtlCache({ clock, ttlMs: config.tenantCacheTtlMs, entriesMax: config.authCacheEntriesMax }),
      // Accounts are never deleted: an entry only saves the writes that would find them there.
      accountsEnsured: createTtlCache({ clock, ttlMs: config.paymentAccountsCacheTtlMs, entriesMax: config.authCacheEntriesMax }),
    },
  };
  const bus = createPubSubEventBus(config.projectId);
  const outbox = composeOutbox(config, db, bus, clock);
  const pspWebhook = createPspWebhookHandler({ payments, bus, logger });
  const webhooks = composeWebhooks(config, db, clock, logger);
  const billing: BillingDeps = {
    store: createFirestoreBillingStore(db, { transaction: { attemptsMax: config.firestoreTxAttemptsMax } }),
    payments, clock, idempotency, logger, limits: config.billing,
    // The built-in EU VAT engine, or the tenant's external tax hook (its URL checked like webhooks').
    tax: (settings) => createTenantTaxCalculator(settings, config.webhooks.urlProfile),
    tenant: (tenantId) => getTenant(tenancyDeps, tenantId, ''),
  };
  const analytics = composeAnalytics(config);
  const checkout: CheckoutDeps = {
    store: createFirestoreCheckoutStore(db, { transaction: { attemptsMax: config.firestoreTxAttemptsMax } }),
    payments, billing, idempotency, clock, settings: config.checkout,
    tenantName: async (tenantId) => (await billing.tenant(tenantId)).name,
  };
  const recon = composeReconService({ db, ledger, payments, clock, bus }, { uploadBytesMax: reconUploadBytesMaxOf(config.requestBodyBytesMax) });
  const api = createApiHandler({
    requestBodyBytesMax: config.requestBodyBytesMax,
    // Failures the HTTP edge itself answers as INTERNAL (before or outside any interceptor).
    onInternal: (cause) => logger.error('unexpected failure at the HTTP edge', { error: cause }),
    // HostedCheckoutService authenticates each request by its session's client secret (no Authorization).
    interceptors: [createTelemetryInterceptor(logger), createAuthInterceptor(authenticator, new Set([HostedCheckoutService.typeName]))],
    routes: (router) => {
      router.service(TenancyService, createTenancyServiceImpl({ ...tenancyDeps, idempotency, authenticator }));
      router.service(LedgerService, createLedgerServiceImpl({ ...ledger, idempotency }));
      router.service(PaymentsService, createPaymentsServiceImpl({ ...payments, idempotency, outboxEvents: outbox.store }));
      router.service(WebhookEndpointsService, createWebhooksServiceImpl({ webhooks, idempotency }));
      router.service(AnalyticsService, createAnalyticsServiceImpl(analytics));
      router.service(BillingService, createBillingServiceImpl({ ...billing, idempotency, tenantName: async (tenantId) => (await billing.tenant(tenantId)).name }));
      router.service(ReconService, createReconServiceImpl({ reconService: recon, idempotency }));
      router.service(CheckoutService, createCheckoutServiceImpl(checkout));
      router.service(HostedCheckoutService, createHostedCheckoutServiceImpl(checkout));
    },
  });
  return { config, db, clock, logger, telemetry, authenticator, idempotency, ledger, payments, bus, outbox, webhooks, billing, analytics, recon, checkout, pspWebhook, api };
}
