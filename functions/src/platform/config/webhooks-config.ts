/**
 * TALLY_WEBHOOK_*: merchant webhooks (issue 16, ADR 0034). Every bound named and range-checked;
 * the `local` URL profile (http, loopback) and the in-process secret box are refused when deployed.
 */
import { ConfigError } from './config.js';

export interface WebhooksConfig {
  /** `deployed`: https on public addresses only; `local`: also http and loopback (npm start, tests). */
  urlProfile: 'deployed' | 'local';
  /** Cloud KMS CryptoKey that encrypts signing secrets; empty = an in-process key locally, refused when deployed. */
  secretsKmsKey: string;
  /** `host:port` of a plaintext KMS endpoint (the fake KMS); empty = Google's (deployed). */
  kmsEndpoint: string;
  /** One POST, all in (DNS, connect, TLS, response). */
  timeoutMs: number;
  /** Most response body bytes read. */
  responseBytesMax: number;
  /** POSTs in flight per endpoint per instance. */
  concurrencyPerEndpoint: number;
  /** Attempts waiting per endpoint per instance (beyond: deferred to the retrier). */
  queuePerEndpointMax: number;
  queueTimeoutMs: number;
  /** How long a worker holds a claimed delivery (> timeoutMs plus the writes). */
  leaseMs: number;
  retrierBatchMax: number;
  /**
   * How long the dispatcher waits for a first attempt before recording its delivery as claimed
   * (ADR 0034): an attempt that ends sooner is recorded with its outcome in one write.
   */
  inlineRecordMs: number;
  /**
   * Deliveries recorded by concurrent dispatches leave in group commits (ADR 0016's committer, ADR
   * 0034): at most this many per commit; 0 = each delivery is recorded by its own commit.
   */
  recordGroupWritesMax: number;
  /** Delivery records waiting for a group commit at most (beyond: committed alone). */
  recordGroupWaitingMax: number;
  endpointsPerTenantMax: number;
  endpointsCacheTtlMs: number;
  /** Per-endpoint breakers kept per instance (LRU). */
  breakersMax: number;
  breakerWindowMs: number;
  breakerMinimumCalls: number;
  breakerFailureRate: number;
  breakerOpenMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name}=${raw}: expected an integer in ${min}..${max}`);
  return value;
}

export function parseWebhooksConfig(env: Env, deployed: boolean): WebhooksConfig {
  const urlProfile = env.TALLY_WEBHOOK_URL_PROFILE ?? (deployed ? 'deployed' : 'local');
  if (urlProfile !== 'deployed' && urlProfile !== 'local') throw new ConfigError(`TALLY_WEBHOOK_URL_PROFILE=${urlProfile}: expected deployed or local`);
  if (deployed && urlProfile === 'local') throw new ConfigError('TALLY_WEBHOOK_URL_PROFILE=local: refused when deployed (webhooks could reach internal addresses)');
  const secretsKmsKey = (env.TALLY_WEBHOOK_SECRETS_KMS_KEY ?? '').trim();
  if (secretsKmsKey !== '' && !/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/.test(secretsKmsKey)) {
    throw new ConfigError('TALLY_WEBHOOK_SECRETS_KMS_KEY: expected projects/P/locations/L/keyRings/R/cryptoKeys/K');
  }
  // Not required at start-up (every deployable parses this config, few touch webhook secrets):
  // deployed without it, sealing or opening a secret fails with this variable's name (compose-webhooks.ts).
  const kmsEndpoint = (env.TALLY_KMS_ENDPOINT ?? '').trim();
  if (kmsEndpoint !== '' && (deployed || !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(kmsEndpoint))) {
    throw new ConfigError(`TALLY_KMS_ENDPOINT=${kmsEndpoint}: a plaintext host:port for the local fake KMS only (never deployed)`);
  }
  const timeoutMs = int(env, 'TALLY_WEBHOOK_TIMEOUT_MS', 10_000, 100, 30_000);
  const leaseMs = int(env, 'TALLY_WEBHOOK_LEASE_MS', 60_000, 1_000, 600_000);
  if (leaseMs <= timeoutMs) throw new ConfigError('TALLY_WEBHOOK_LEASE_MS must exceed TALLY_WEBHOOK_TIMEOUT_MS (a running attempt is never taken for a lost one)');
  return {
    urlProfile, secretsKmsKey, kmsEndpoint, timeoutMs, leaseMs,
    responseBytesMax: int(env, 'TALLY_WEBHOOK_RESPONSE_BYTES_MAX', 64 * 1024, 0, 1024 * 1024),
    concurrencyPerEndpoint: int(env, 'TALLY_WEBHOOK_CONCURRENCY_PER_ENDPOINT', 16, 1, 256),
    queuePerEndpointMax: int(env, 'TALLY_WEBHOOK_QUEUE_PER_ENDPOINT_MAX', 200, 0, 10_000),
    queueTimeoutMs: int(env, 'TALLY_WEBHOOK_QUEUE_TIMEOUT_MS', 5_000, 1, 60_000),
    retrierBatchMax: int(env, 'TALLY_WEBHOOK_RETRIER_BATCH_MAX', 500, 1, 5_000),
    inlineRecordMs: int(env, 'TALLY_WEBHOOK_INLINE_RECORD_MS', 1_000, 0, 30_000),
    recordGroupWritesMax: int(env, 'TALLY_WEBHOOK_RECORD_GROUP_WRITES_MAX', 200, 0, 500),
    recordGroupWaitingMax: int(env, 'TALLY_WEBHOOK_RECORD_GROUP_WAITING_MAX', 10_000, 0, 100_000),
    endpointsPerTenantMax: int(env, 'TALLY_WEBHOOK_ENDPOINTS_PER_TENANT_MAX', 50, 1, 500),
    endpointsCacheTtlMs: int(env, 'TALLY_WEBHOOK_ENDPOINTS_CACHE_TTL_MS', 5_000, 0, 60_000),
    breakersMax: int(env, 'TALLY_WEBHOOK_BREAKERS_MAX', 10_000, 1, 1_000_000),
    breakerWindowMs: int(env, 'TALLY_WEBHOOK_BREAKER_WINDOW_MS', 60_000, 1_000, 600_000),
    breakerMinimumCalls: int(env, 'TALLY_WEBHOOK_BREAKER_MINIMUM_CALLS', 10, 1, 10_000),
    breakerFailureRate: int(env, 'TALLY_WEBHOOK_BREAKER_FAILURE_PERCENT', 50, 1, 100) / 100,
    breakerOpenMs: int(env, 'TALLY_WEBHOOK_BREAKER_OPEN_MS', 30_000, 100, 600_000),
  };
}
