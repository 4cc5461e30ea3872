/**
 * Composition of the merchant webhooks (issue 16): store, KMS secret box (the fake KMS locally
 * when TALLY_KMS_ENDPOINT is set), the SSRF-checking sender, and the per-endpoint limiter and
 * breakers, all bounded by config.webhooks. Called from compose.ts.
 */
import type { Firestore } from '@google-cloud/firestore';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { grpc } from 'google-gax';
import { LRUCache } from 'lru-cache';
import { createFirestoreWebhooksStore } from './adapters/firestore/webhooks-store.js';
import { createWebhookSender } from './adapters/http/webhook-sender.js';
import { createKmsSecretBox } from './adapters/kms/kms-secret-box.js';
import { createLocalSecretBox } from './adapters/kms/local-secret-box.js';
import type { WebhooksDeps } from './app/webhooks/webhooks-deps.js';
import { defaultRetrySchedule } from './domain/webhooks/retry-schedule.js';
import type { WebhookEndpoint } from './domain/webhooks/endpoint.js';
import { createTtlCache } from './platform/cache/ttl-cache.js';
import type { Config } from './platform/config/config.js';
import { createCircuitBreaker, createConcurrencyLimiter, systemTimers, type CircuitBreaker } from './platform/resilience/index.js';
import type { Logger } from './platform/telemetry/logger.js';
import type { Clock } from './ports/clock.js';
import type { SecretBox } from './ports/secret-box.js';

const dayMs = 86_400_000;
/**
 * Domain events one dispatcher instance works on at once: terraform's
 * `max_instance_request_concurrency` of webhookDispatcher (push requests in flight per instance);
 * npm start's bridge and bench:webhooks hand it as many messages at once.
 */
export const webhookDispatcherConcurrency = 80;
/** How long a decrypted signing secret stays in one instance's memory. */
const secretCacheTtlMs = 5 * 60_000;

function secretBoxOf(config: Config['webhooks']): SecretBox {
  if (config.secretsKmsKey === '' && config.urlProfile === 'deployed') {
    // Never an in-process key when deployed: the RPC fails (INTERNAL, logged) naming what is missing.
    const missing = async (): Promise<never> => { throw new Error('webhook secrets need TALLY_WEBHOOK_SECRETS_KMS_KEY (a Cloud KMS CryptoKey) when deployed'); };
    return { seal: missing, open: missing };
  }
  if (config.secretsKmsKey === '') return createLocalSecretBox();
  const [host, port] = config.kmsEndpoint === '' ? [undefined, undefined] : config.kmsEndpoint.split(':');
  const client = host === undefined
    ? new KeyManagementServiceClient()
    // The fake KMS: plaintext gRPC, no OAuth token (TALLY_KMS_ENDPOINT is refused when deployed).
    : new KeyManagementServiceClient({ apiEndpoint: host, port: Number(port), sslCreds: grpc.credentials.createInsecure() });
  return createKmsSecretBox({ client, cryptoKeyName: config.secretsKmsKey });
}

export function composeWebhooks(config: Config, db: Firestore, clock: Clock, logger: Logger, overrides: { secrets?: SecretBox } = {}): WebhooksDeps {
  const c = config.webhooks;
  const breakers = new LRUCache<string, CircuitBreaker>({ max: c.breakersMax });
  return {
    store: createFirestoreWebhooksStore(db, {
      transaction: { attemptsMax: config.firestoreTxAttemptsMax },
      // One commit in flight, the others' records wait for it and leave together (as ADR 0016's
      // first writes do); a stalled commit holds them 250 ms at most.
      ...(c.recordGroupWritesMax === 0 ? {} : { recordGroupCommit: { groupsInFlightMax: 1, writesPerGroupMax: c.recordGroupWritesMax, waitingWritesMax: c.recordGroupWaitingMax, stallMs: 250 } }),
    }),
    secrets: overrides.secrets ?? secretBoxOf(c),
    sender: createWebhookSender({ profile: c.urlProfile, timeoutMs: c.timeoutMs, responseBytesMax: c.responseBytesMax, socketsPerHostMax: c.concurrencyPerEndpoint }),
    clock,
    limiter: createConcurrencyLimiter({ limit: c.concurrencyPerEndpoint, queueMax: c.queuePerEndpointMax, queueTimeoutMs: c.queueTimeoutMs, clock: systemTimers }),
    // One breaker per endpoint (one key each), so the kit's key bound never trips; an evicted
    // (least recently used) endpoint starts closed again.
    breakerFor: (endpointId) => {
      let breaker = breakers.get(endpointId);
      if (!breaker) {
        breaker = createCircuitBreaker({
          clock, windowMs: Math.ceil(c.breakerWindowMs / 10) * 10, windowBucketCount: 10, minimumCalls: c.breakerMinimumCalls, failureRateThreshold: c.breakerFailureRate,
          openDurationMs: c.breakerOpenMs, halfOpenProbesMax: 1, keysMax: 1, isFailure: () => true,
        });
        breakers.set(endpointId, breaker);
      }
      return breaker;
    },
    endpointsCache: createTtlCache<WebhookEndpoint[]>({ clock, ttlMs: c.endpointsCacheTtlMs, entriesMax: 10_000 }),
    secretCache: createTtlCache<Uint8Array>({ clock, ttlMs: secretCacheTtlMs, entriesMax: 10_000 }),
    random: Math.random,
    logger,
    limits: {
      profile: c.urlProfile, schedule: defaultRetrySchedule, leaseMs: c.leaseMs, endpointsPerTenantMax: c.endpointsPerTenantMax,
      retrierBatchMax: c.retrierBatchMax, inlineRecordMs: c.inlineRecordMs, secretOverlapMsDefault: dayMs, secretOverlapMsMax: 7 * dayMs,
    },
  };
}
