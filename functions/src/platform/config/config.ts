/**
 * Configuration, parsed once at start-up from the environment. Every limit has an explicit bound
 * (TIGER_STYLE: put a limit on everything); a value outside its bound stops start-up with a message
 * naming the variable, instead of surfacing later as odd behaviour.
 */
import { parseWebhooksConfig, type WebhooksConfig } from './webhooks-config.js';

export interface Config {
  /** GCP project id; `demo-*` keeps the emulators offline. */
  projectId: string;
  /** Largest request body the API accepts, in bytes. */
  requestBodyBytesMax: number;
  /** How long an idempotency record is kept (Firestore TTL); at least 24 h. */
  idempotencyRetentionMs: number;
  /** How long a request holds its idempotency key before another may take over. */
  idempotencyLeaseMs: number;
  /** How long a duplicate waits for the first request with its key to finish. */
  idempotencyWaitMs: number;
  /** How long a verified API key stays cached in one instance (bounds revocation delay elsewhere). */
  authCacheTtlMs: number;
  /** Most API keys cached per instance. */
  authCacheEntriesMax: number;
  /** How long a tenant document, and its payment routing rules, stay cached in one instance (every RPC resolves its tenant). */
  tenantCacheTtlMs: number;
  /**
   * `host:port` of the Firebase Auth emulator (FIREBASE_AUTH_EMULATOR_HOST), or empty in
   * production. Only for `demo-*` projects, never deployed (ADR 0019).
   */
  authEmulatorHost: string;
  /** SHA-256 (hex) of the platform admin key, or empty when admin calls are disabled. */
  platformAdminKeySha256: string;
  /** Where spans go: `none`, `memory` (tests) or `cloud-trace` (deployed). */
  traceExporter: 'none' | 'memory' | 'cloud-trace';
  /**
   * Fraction of new traces whose spans are recorded and exported (callers' sampled flags win).
   * Unsampled requests still get trace and span ids: logs and stored entities always carry them.
   */
  traceSampleRatio: number;
  /** Hash-chain stripes per tenant: more stripes, fewer writers contending for one chain head. */
  ledgerChainStripes: number;
  /** Concurrent ledger writes per instance that never contend with each other (write lanes). */
  ledgerWriteLanes: number;
  /** Most ledger writes waiting for a lane before CONTENTION. */
  ledgerLaneWaitersMax: number;
  /** Most pending entries one sweep expires. */
  ledgerSweepBatchMax: number;
  /** Most tenants one maintenance run checkpoints. */
  ledgerMaintenanceTenantsMax: number;
  /** Most records an "as of" balance replays after the account's nearest balance snapshot (ADR 0025). */
  ledgerAsOfRecordsMax: number;
  /** A balance snapshot every this many records of an account (ADR 0025). */
  ledgerSnapshotEveryRecords: number;
  /** Snapshots end at least this long before now (a record may commit this late with an earlier time). */
  ledgerSnapshotSettleMs: number;
  /** Most accounts of one tenant one maintenance run checks for due snapshots. */
  ledgerSnapshotAccountsPerTenantMax: number;
  /** Most balance snapshots one maintenance run writes. */
  ledgerSnapshotsPerRunMax: number;
  /** Who signs ledger checkpoints: a local Ed25519 key (development) or Cloud KMS. */
  signer: 'local' | 'kms';
  /** PEM file of the local signing key (created if absent); empty: a fresh key per process. */
  localSigningKeyFile: string;
  /** Cloud KMS key version that signs checkpoints when `signer` is `kms`. */
  kmsKeyVersion: string;
  /** Deadline of one PSP call; after it the outcome is unknown and the janitor settles it. */
  pspCallTimeoutMs: number;
  /** The janitor's PSP lookups: a second starts alongside a first still running after this long. */
  pspLookupHedgeDelayMs: number;
  /** Lookups started in all per settlement (1: no hedging). */
  pspLookupHedgeAttempts: number;
  /**
   * The PSP circuit breaker (one per PSP, shared by every tenant; only what the PSP itself causes
   * counts, ADR 0021): it opens when, over the last `pspBreakerWindowMs` (kept as
   * `pspBreakerWindowBuckets` buckets), at least `pspBreakerMinimumCalls` calls were judged and
   * at least `pspBreakerFailureRate` of them failed; it stays open `pspBreakerOpenMs`, then admits
   * `pspBreakerHalfOpenProbes` probe calls.
   */
  pspBreakerWindowMs: number;
  pspBreakerWindowBuckets: number;
  pspBreakerMinimumCalls: number;
  pspBreakerFailureRate: number;
  pspBreakerOpenMs: number;
  pspBreakerHalfOpenProbes: number;
  /** Concurrent calls per PSP per instance; `pspQueueMax` more wait at most `pspQueueTimeoutMs`, the rest are refused. */
  pspConcurrencyMax: number;
  pspQueueMax: number;
  pspQueueTimeoutMs: number;
  /** PSP calls one API request may make (authorize, failovers, automatic capture). */
  pspCallsPerRequestMax: number;
  /** PSP events of one payment waiting for their turn per instance (applied one at a time per payment). */
  pspEventsWaitingMax: number;
  /** How long a payment method (immutable once created) stays cached per instance. */
  paymentMethodCacheTtlMs: number;
  /** How long "this tenant's payment accounts exist" stays cached per instance (accounts are never deleted). */
  paymentAccountsCacheTtlMs: number;
  /** Records and checkpoints read per page when a chain is verified. */
  ledgerVerifyPageSize: number;
  /** Most records (and checkpoint signatures) one VerifyChain request checks before answering complete=false (ADR 0026). */
  ledgerVerifyChunkRecordsMax: number;
  /** How long an attempt may stay unsettled before the janitor asks the PSP (> the call deadline). */
  janitorGraceMs: number;
  /** Most payments one janitor run examines (it pages through its queue until this or `janitorRunMs`). */
  janitorPaymentsMax: number;
  /** Payments one janitor run settles at once (each PSP call still goes through that PSP's limiter and breaker). */
  janitorConcurrencyMax: number;
  /** How long one janitor run starts new settlements; what is left waits for the next run (reported as `left`). */
  janitorRunMs: number;
  /**
   * A new payment's first write (a one-call checkout's, or CreatePayment's alone) commits with
   * others arriving meanwhile (ADR 0016): this many group commits in flight at once, each of at
   * most `paymentsGroupCommitWritesMax` writes, with at most `paymentsGroupCommitWaitingWritesMax`
   * writes waiting (0: grouping off, each commits alone). Writes that waited
   * `paymentsGroupCommitStallMs` behind commits in flight leave anyway (a stalled commit).
   */
  paymentsGroupCommitInFlightMax: number;
  paymentsGroupCommitWritesMax: number;
  paymentsGroupCommitWaitingWritesMax: number;
  paymentsGroupCommitStallMs: number;
  /** Attempts of one Firestore read-write transaction in all, retries included (1..10); then ABORTED/CONTENTION. */
  firestoreTxAttemptsMax: number;
  /** Outbox events younger than this are left to their trigger; the sweeper republishes older unsent ones. */
  outboxSweepAgeMs: number;
  /** Most outbox events one sweep (or one `outbox drain` batch) publishes. */
  outboxSweepBatchMax: number;
  /** Aggregates (ordering keys) of one batch published at once. */
  outboxPublishConcurrencyMax: number;
  /** billingRun bounds (issue 14, ADR 0032): due items per round, rounds per run, invoices per finalization transaction, parallelism, test clock steps. */
  billing: { runBatchMax: number; runRoundsMax: number; finalizeChunkMax: number; concurrencyMax: number; clockStepsMax: number };
  /** Stripe connector: API key, webhook secret, API base URL (the sandbox locally); off without a key. */
  stripe: { apiKey: string; webhookSecret: string; apiUrl: string };
  /** Adyen connector: API key, merchant account, webhook HMAC key (hex), Checkout base URL; off without a key. */
  adyen: { apiKey: string; merchantAccount: string; hmacKeyHex: string; baseUrl: string; sandboxLookupUrl: string };
  /** Lowest log severity written. */
  logLevel: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
  /**
   * The platform's default pricing, for tenants the platform admin set none for (SetTenantPricing):
   * the fee's percentage in basis points (0..10000) and its fixed part per currency in minor units
   * (`EUR:25,USD:30`; 0 for a currency not listed).
   */
  platformFeeBps: number;
  platformFeeFixedMinorByCurrency: Readonly<Record<string, bigint>>;
  /**
   * The analytics ClickHouse server (ADR 0029): its HTTP URL (empty: analytics off, the sink
   * refuses to start), database, user and password (Secret Manager when deployed), and the
   * deadline of one request.
   */
  clickhouse: { url: string; database: string; username: string; password: string; requestTimeoutMs: number };
  /** Longest one AnalyticsService report query may run (ClickHouse max_execution_time and a client deadline), ADR 0030. */
  analyticsQueryTimeoutMs: number;
  /**
   * `analyticsSink` batching (ADR 0029): a batch is written when it holds `batchRowsMax` events or
   * `batchBytesMax` bytes of them, or its oldest event waited `batchAgeMs`; at most
   * `waitingEventsMax` events wait per instance (beyond it a delivery is refused and redelivered).
   */
  analyticsSink: { batchRowsMax: number; batchBytesMax: number; batchAgeMs: number; waitingEventsMax: number };
  /** Merchant webhooks (issue 16): TALLY_WEBHOOK_* (webhooks-config.ts). */
  webhooks: WebhooksConfig;
  /**
   * Hosted checkout (issue 17, ADR 0036): the origin its app is served from (TALLY_CHECKOUT_BASE_URL;
   * session URLs are `<base>/checkout/#<secret>`), the PSP's hosted card fields page
   * (TALLY_CHECKOUT_CARD_FIELDS_URL) and how long one payment attempt holds its session.
   */
  checkout: { baseUrl: string; cardFieldsUrl: string; attemptLeaseMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function intInRange(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name}=${raw}: expected an integer`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name}=${raw}: must be in [${min}, ${max}]`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}=${raw}: must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

/** `CUR:amount,...` (three-letter codes, minor units 0..1000000, at most 50 currencies; start-up checks the codes against ISO 4217); '' is none. */
function fixedMinorByCurrency(env: Env, name: string): Record<string, bigint> {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return {};
  const byCurrency: Record<string, bigint> = {};
  const pairs = raw.split(',');
  if (pairs.length > 50) throw new ConfigError(`${name}: at most 50 currencies`);
  for (const pair of pairs) {
    const match = /^\s*([A-Z]{3}):(\d{1,7})\s*$/.exec(pair);
    if (!match) throw new ConfigError(`${name}=${raw}: expected CUR:amount pairs (ISO 4217 code, minor units), e.g. EUR:25,USD:30`);
    const amountMinor = BigInt(match[2]!);
    if (amountMinor > 1_000_000n) throw new ConfigError(`${name}=${raw}: ${match[1]} amount must be in [0, 1000000]`);
    if (match[1]! in byCurrency) throw new ConfigError(`${name}=${raw}: ${match[1]} appears twice`);
    byCurrency[match[1]!] = amountMinor;
  }
  return byCurrency;
}

function ratio(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(raw)) throw new ConfigError(`${name}=${raw}: must be a number in [0, 1]`);
  return Number(raw);
}

/** Record everything in tests (memory), a tenth when deployed, nothing when spans go nowhere. */
function traceSampleDefault(env: Env, deployed: boolean): number {
  const exporter = env.TALLY_TRACE_EXPORTER ?? (deployed ? 'cloud-trace' : 'none');
  return exporter === 'memory' ? 1 : exporter === 'cloud-trace' ? 0.1 : 0;
}

const hourMs = 3_600_000;

/**
 * Secrets fail closed (ADR 0019): a connector that is switched on (its API key set) without the
 * secret that authenticates its webhooks would verify with an empty HMAC key, which anyone can
 * compute; the Auth emulator accepts unsigned ID tokens, so it is for `demo-*` projects on a
 * developer's machine only. Each refusal names the variable to set.
 */
function checkSecrets(env: Env, projectId: string): void {
  const set = (name: string) => (env[name] ?? '').trim() !== '';
  if (set('TALLY_STRIPE_API_KEY') && !set('TALLY_STRIPE_WEBHOOK_SECRET')) {
    throw new ConfigError('TALLY_STRIPE_WEBHOOK_SECRET: required when TALLY_STRIPE_API_KEY is set (webhooks would be verified with an empty key)');
  }
  if (set('TALLY_ADYEN_API_KEY')) {
    if (!/^(?:[0-9a-fA-F]{2}){16,}$/.test(env.TALLY_ADYEN_HMAC_KEY_HEX ?? '')) {
      throw new ConfigError('TALLY_ADYEN_HMAC_KEY_HEX: required when TALLY_ADYEN_API_KEY is set, as hex of at least 16 bytes (webhooks would be verified with an empty key)');
    }
    if (!set('TALLY_ADYEN_MERCHANT_ACCOUNT')) throw new ConfigError('TALLY_ADYEN_MERCHANT_ACCOUNT: required when TALLY_ADYEN_API_KEY is set');
  }
  // Cloud Run sets K_SERVICE; Cloud Functions also FUNCTION_TARGET.
  const deployed = env.K_SERVICE !== undefined || env.FUNCTION_TARGET !== undefined;
  if (set('FIREBASE_AUTH_EMULATOR_HOST') && (deployed || !projectId.startsWith('demo-'))) {
    throw new ConfigError(`FIREBASE_AUTH_EMULATOR_HOST: the Auth emulator accepts unsigned ID tokens; refused ${deployed ? 'when deployed (K_SERVICE/FUNCTION_TARGET set)' : `for project ${projectId} (only demo-* projects)`}`);
  }
  if (deployed && env.TALLY_SIGNER === 'local') {
    throw new ConfigError('TALLY_SIGNER=local: refused when deployed (checkpoints would be signed by a key on the instance); use kms');
  }
}

/** The PSP breaker's terms: the window must split into whole buckets, the rate lie in (0, 1]. */
function pspBreakerConfig(env: Env): Pick<Config, 'pspBreakerWindowMs' | 'pspBreakerWindowBuckets' | 'pspBreakerMinimumCalls' | 'pspBreakerFailureRate' | 'pspBreakerOpenMs' | 'pspBreakerHalfOpenProbes'> {
  const pspBreakerWindowMs = intInRange(env, 'TALLY_PSP_BREAKER_WINDOW_MS', 30_000, 1_000, 600_000);
  const pspBreakerWindowBuckets = intInRange(env, 'TALLY_PSP_BREAKER_WINDOW_BUCKETS', 10, 1, 100);
  if (pspBreakerWindowMs % pspBreakerWindowBuckets !== 0) {
    throw new ConfigError(`TALLY_PSP_BREAKER_WINDOW_MS=${pspBreakerWindowMs}: must be a multiple of TALLY_PSP_BREAKER_WINDOW_BUCKETS (${pspBreakerWindowBuckets})`);
  }
  const pspBreakerFailureRate = ratio(env, 'TALLY_PSP_BREAKER_FAILURE_RATE', 0.5);
  if (pspBreakerFailureRate === 0) throw new ConfigError('TALLY_PSP_BREAKER_FAILURE_RATE=0: must be above 0 (0 would open on any call)');
  return {
    pspBreakerWindowMs, pspBreakerWindowBuckets, pspBreakerFailureRate,
    pspBreakerMinimumCalls: intInRange(env, 'TALLY_PSP_BREAKER_MINIMUM_CALLS', 20, 1, 10_000),
    pspBreakerOpenMs: intInRange(env, 'TALLY_PSP_BREAKER_OPEN_MS', 10_000, 100, 600_000),
    pspBreakerHalfOpenProbes: intInRange(env, 'TALLY_PSP_BREAKER_HALF_OPEN_PROBES', 2, 1, 64),
  };
}

export function parseConfig(env: Env = process.env): Config {
  const adminHash = env.TALLY_PLATFORM_ADMIN_KEY_SHA256 ?? '';
  if (adminHash !== '' && !/^[0-9a-f]{64}$/.test(adminHash)) {
    throw new ConfigError('TALLY_PLATFORM_ADMIN_KEY_SHA256: expected 64 lowercase hex characters');
  }
  const deployed = env.K_SERVICE !== undefined;
  checkSecrets(env, env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? 'demo-tally');
  if ((env.TALLY_JANITOR_GRACE_MS !== undefined || env.TALLY_PSP_CALL_TIMEOUT_MS !== undefined)
    && Number(env.TALLY_JANITOR_GRACE_MS ?? 60_000) <= Number(env.TALLY_PSP_CALL_TIMEOUT_MS ?? 10_000)) {
    throw new ConfigError('TALLY_JANITOR_GRACE_MS must exceed TALLY_PSP_CALL_TIMEOUT_MS (a running call is never taken for a lost one)');
  }
  if ((env.TALLY_SIGNER ?? (deployed ? 'kms' : 'local')) === 'kms' && !/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/.test(env.TALLY_KMS_KEY_VERSION ?? '')) {
    throw new ConfigError('TALLY_KMS_KEY_VERSION: required with TALLY_SIGNER=kms, as projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V');
  }
  return {
    projectId: env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? 'demo-tally',
    requestBodyBytesMax: intInRange(env, 'TALLY_REQUEST_BODY_BYTES_MAX', 256 * 1024, 1024, 10 * 1024 * 1024),
    idempotencyRetentionMs: intInRange(env, 'TALLY_IDEMPOTENCY_RETENTION_MS', 48 * hourMs, 24 * hourMs, 30 * 24 * hourMs),
    idempotencyLeaseMs: intInRange(env, 'TALLY_IDEMPOTENCY_LEASE_MS', 60_000, 1_000, 600_000),
    idempotencyWaitMs: intInRange(env, 'TALLY_IDEMPOTENCY_WAIT_MS', 10_000, 0, 60_000),
    authCacheTtlMs: intInRange(env, 'TALLY_AUTH_CACHE_TTL_MS', 5_000, 0, 60_000),
    authCacheEntriesMax: intInRange(env, 'TALLY_AUTH_CACHE_ENTRIES_MAX', 10_000, 0, 1_000_000),
    tenantCacheTtlMs: intInRange(env, 'TALLY_TENANT_CACHE_TTL_MS', 1_000, 0, 60_000),
    platformFeeBps: intInRange(env, 'TALLY_PLATFORM_FEE_BPS', 290, 0, 10_000),
    platformFeeFixedMinorByCurrency: fixedMinorByCurrency(env, 'TALLY_PLATFORM_FEE_FIXED_MINOR'),
    authEmulatorHost: (env.FIREBASE_AUTH_EMULATOR_HOST ?? '').trim(),
    platformAdminKeySha256: adminHash,
    traceExporter: oneOf(env, 'TALLY_TRACE_EXPORTER', deployed ? 'cloud-trace' : 'none', ['none', 'memory', 'cloud-trace'] as const),
    traceSampleRatio: ratio(env, 'TALLY_TRACE_SAMPLE_RATIO', traceSampleDefault(env, deployed)),
    ledgerChainStripes: intInRange(env, 'TALLY_LEDGER_CHAIN_STRIPES', 256, 1, 1024),
    ledgerWriteLanes: intInRange(env, 'TALLY_LEDGER_WRITE_LANES', 64, 1, 1024),
    ledgerLaneWaitersMax: intInRange(env, 'TALLY_LEDGER_LANE_WAITERS_MAX', 10_000, 0, 1_000_000),
    ledgerSweepBatchMax: intInRange(env, 'TALLY_LEDGER_SWEEP_BATCH_MAX', 100, 1, 1_000),
    ledgerMaintenanceTenantsMax: intInRange(env, 'TALLY_LEDGER_MAINTENANCE_TENANTS_MAX', 200, 1, 10_000),
    ledgerAsOfRecordsMax: intInRange(env, 'TALLY_LEDGER_ASOF_RECORDS_MAX', 10_000, 1, 100_000),
    ledgerSnapshotEveryRecords: intInRange(env, 'TALLY_LEDGER_SNAPSHOT_EVERY_RECORDS', 1_000, 1, 10_000),
    // Firestore transactions live at most 270 s: a record's time is at most that far behind its commit.
    ledgerSnapshotSettleMs: intInRange(env, 'TALLY_LEDGER_SNAPSHOT_SETTLE_MS', 300_000, 0, 3_600_000),
    ledgerSnapshotAccountsPerTenantMax: intInRange(env, 'TALLY_LEDGER_SNAPSHOT_ACCOUNTS_PER_TENANT_MAX', 1_000, 1, 100_000),
    ledgerSnapshotsPerRunMax: intInRange(env, 'TALLY_LEDGER_SNAPSHOTS_PER_RUN_MAX', 200, 1, 10_000),
    signer: oneOf(env, 'TALLY_SIGNER', deployed ? 'kms' : 'local', ['local', 'kms'] as const),
    localSigningKeyFile: env.TALLY_LOCAL_SIGNING_KEY_FILE ?? '',
    kmsKeyVersion: env.TALLY_KMS_KEY_VERSION ?? '',
    pspCallTimeoutMs: intInRange(env, 'TALLY_PSP_CALL_TIMEOUT_MS', 10_000, 50, 60_000),
    pspLookupHedgeDelayMs: intInRange(env, 'TALLY_PSP_LOOKUP_HEDGE_DELAY_MS', 1_000, 0, 60_000),
    pspLookupHedgeAttempts: intInRange(env, 'TALLY_PSP_LOOKUP_HEDGE_ATTEMPTS', 2, 1, 3),
    ...pspBreakerConfig(env),
    pspConcurrencyMax: intInRange(env, 'TALLY_PSP_CONCURRENCY_MAX', 64, 1, 1_024),
    pspQueueMax: intInRange(env, 'TALLY_PSP_QUEUE_MAX', 1_000, 0, 100_000),
    pspQueueTimeoutMs: intInRange(env, 'TALLY_PSP_QUEUE_TIMEOUT_MS', 5_000, 1, 60_000),
    pspCallsPerRequestMax: intInRange(env, 'TALLY_PSP_CALLS_PER_REQUEST_MAX', 6, 2, 20),
    pspEventsWaitingMax: intInRange(env, 'TALLY_PSP_EVENTS_WAITING_MAX', 10_000, 1, 1_000_000),
    paymentMethodCacheTtlMs: intInRange(env, 'TALLY_PAYMENT_METHOD_CACHE_TTL_MS', 10 * 60_000, 0, 24 * hourMs),
    paymentAccountsCacheTtlMs: intInRange(env, 'TALLY_PAYMENT_ACCOUNTS_CACHE_TTL_MS', hourMs, 0, 24 * hourMs),
    ledgerVerifyPageSize: intInRange(env, 'TALLY_LEDGER_VERIFY_PAGE_SIZE', 500, 1, 1_000),
    ledgerVerifyChunkRecordsMax: intInRange(env, 'TALLY_LEDGER_VERIFY_CHUNK_RECORDS_MAX', 20_000, 1, 1_000_000),
    janitorGraceMs: intInRange(env, 'TALLY_JANITOR_GRACE_MS', 60_000, 100, 3_600_000),
    // 2,000 a run: a PSP incident's backlog clears in one run at 16 at once (ADR 0023).
    janitorPaymentsMax: intInRange(env, 'TALLY_JANITOR_PAYMENTS_MAX', 2_000, 1, 10_000),
    janitorConcurrencyMax: intInRange(env, 'TALLY_JANITOR_CONCURRENCY_MAX', 16, 1, 64),
    // The scheduler ticks each minute: 45 s plus the settlements still in flight (one PSP call
    // deadline) end before the next tick, so runs do not pile up on the one janitor instance.
    janitorRunMs: intInRange(env, 'TALLY_JANITOR_RUN_MS', 45_000, 1_000, 480_000),
    paymentsGroupCommitInFlightMax: intInRange(env, 'TALLY_PAYMENTS_GROUP_COMMIT_IN_FLIGHT_MAX', 1, 1, 64),
    paymentsGroupCommitWritesMax: intInRange(env, 'TALLY_PAYMENTS_GROUP_COMMIT_WRITES_MAX', 200, 1, 500),
    paymentsGroupCommitWaitingWritesMax: intInRange(env, 'TALLY_PAYMENTS_GROUP_COMMIT_WAITING_WRITES_MAX', 10_000, 0, 100_000),
    paymentsGroupCommitStallMs: intInRange(env, 'TALLY_PAYMENTS_GROUP_COMMIT_STALL_MS', 250, 1, 10_000),
    firestoreTxAttemptsMax: intInRange(env, 'TALLY_FIRESTORE_TX_ATTEMPTS_MAX', 5, 1, 10),
    outboxSweepAgeMs: intInRange(env, 'TALLY_OUTBOX_SWEEP_AGE_MS', 60_000, 1_000, 24 * hourMs),
    outboxSweepBatchMax: intInRange(env, 'TALLY_OUTBOX_SWEEP_BATCH_MAX', 200, 1, 1_000),
    outboxPublishConcurrencyMax: intInRange(env, 'TALLY_OUTBOX_PUBLISH_CONCURRENCY_MAX', 16, 1, 256),
    billing: {
      runBatchMax: intInRange(env, 'TALLY_BILLING_RUN_BATCH_MAX', 500, 1, 5_000),
      runRoundsMax: intInRange(env, 'TALLY_BILLING_RUN_ROUNDS_MAX', 50, 1, 1_000),
      // Each invoice is about 10 writes in its transaction (Firestore allows 500).
      finalizeChunkMax: intInRange(env, 'TALLY_BILLING_FINALIZE_CHUNK_MAX', 20, 1, 40),
      concurrencyMax: intInRange(env, 'TALLY_BILLING_CONCURRENCY_MAX', 32, 1, 256),
      clockStepsMax: intInRange(env, 'TALLY_BILLING_CLOCK_STEPS_MAX', 500, 1, 10_000),
    },
    stripe: {
      apiKey: env.TALLY_STRIPE_API_KEY ?? '',
      webhookSecret: env.TALLY_STRIPE_WEBHOOK_SECRET ?? '',
      apiUrl: env.TALLY_STRIPE_API_URL ?? 'https://api.stripe.com',
    },
    adyen: {
      apiKey: env.TALLY_ADYEN_API_KEY ?? '',
      merchantAccount: env.TALLY_ADYEN_MERCHANT_ACCOUNT ?? '',
      hmacKeyHex: env.TALLY_ADYEN_HMAC_KEY_HEX ?? '',
      baseUrl: env.TALLY_ADYEN_BASE_URL ?? 'https://checkout-test.adyen.com/v71',
      // Sandbox only: real Adyen has no payment lookup (outcomes arrive by webhook).
      sandboxLookupUrl: env.TALLY_ADYEN_SANDBOX_LOOKUP_URL ?? '',
    },
    logLevel: oneOf(env, 'TALLY_LOG_LEVEL', 'INFO', ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const),
    clickhouse: clickhouseConfig(env),
    analyticsQueryTimeoutMs: intInRange(env, 'TALLY_ANALYTICS_QUERY_TIMEOUT_MS', 10_000, 1_000, 60_000),
    analyticsSink: {
      batchRowsMax: intInRange(env, 'TALLY_ANALYTICS_BATCH_ROWS_MAX', 1_000, 1, 100_000),
      batchBytesMax: intInRange(env, 'TALLY_ANALYTICS_BATCH_BYTES_MAX', 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      batchAgeMs: intInRange(env, 'TALLY_ANALYTICS_BATCH_AGE_MS', 200, 0, 60_000),
      waitingEventsMax: intInRange(env, 'TALLY_ANALYTICS_WAITING_EVENTS_MAX', 20_000, 1, 1_000_000),
    },
    webhooks: parseWebhooksConfig(env, deployed),
    checkout: {
      baseUrl: env.TALLY_CHECKOUT_BASE_URL ?? '',
      cardFieldsUrl: env.TALLY_CHECKOUT_CARD_FIELDS_URL ?? '',
      // Longer than one confirm (PSP call deadlines, a failover, the capture) so a live attempt keeps it.
      attemptLeaseMs: intInRange(env, 'TALLY_CHECKOUT_ATTEMPT_LEASE_MS', 60_000, 1_000, 600_000),
    },
  };
}

/** TALLY_CLICKHOUSE_*: an http(s) URL without credentials in it (they have their own variables). */
function clickhouseConfig(env: Env): Config['clickhouse'] {
  const url = (env.TALLY_CLICKHOUSE_URL ?? '').trim();
  if (url !== '') {
    let parsed: URL;
    try { parsed = new URL(url); } catch { throw new ConfigError(`TALLY_CLICKHOUSE_URL=${url}: not a URL`); }
    if (!/^https?:$/.test(parsed.protocol) || parsed.username !== '' || parsed.password !== '') {
      throw new ConfigError('TALLY_CLICKHOUSE_URL: expected http(s)://host:port without credentials (use TALLY_CLICKHOUSE_USER / TALLY_CLICKHOUSE_PASSWORD)');
    }
  }
  const database = env.TALLY_CLICKHOUSE_DATABASE ?? 'tally';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(database)) throw new ConfigError(`TALLY_CLICKHOUSE_DATABASE=${database}: expected an identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64)`);
  return {
    url, database,
    username: env.TALLY_CLICKHOUSE_USER ?? 'default',
    password: env.TALLY_CLICKHOUSE_PASSWORD ?? '',
    requestTimeoutMs: intInRange(env, 'TALLY_CLICKHOUSE_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
  };
}
