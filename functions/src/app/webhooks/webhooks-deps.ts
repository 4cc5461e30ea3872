/** What the webhook use cases run on (composed in compose.ts; tests pass fakes for clock and random). */
import type { Clock } from '../../ports/clock.js';
import type { SecretBox } from '../../ports/secret-box.js';
import type { WebhookSender } from '../../ports/webhook-sender.js';
import type { WebhooksStore } from '../../ports/webhooks-store.js';
import type { RetrySchedule } from '../../domain/webhooks/retry-schedule.js';
import type { WebhookEndpoint } from '../../domain/webhooks/endpoint.js';
import type { TtlCache } from '../../platform/cache/ttl-cache.js';
import type { CircuitBreaker, ConcurrencyLimiter } from '../../platform/resilience/index.js';
import type { WebhookUrlProfile } from '../../platform/net/address-policy.js';
import type { Logger } from '../../platform/telemetry/logger.js';

export interface WebhooksLimits {
  profile: WebhookUrlProfile;
  schedule: RetrySchedule;
  /** How long a claimed delivery is held by its worker (> the POST timeout plus the write). */
  leaseMs: number;
  /** Most endpoints per tenant (creation refuses beyond; the dispatcher logs an error if it ever sees more). */
  endpointsPerTenantMax: number;
  /** Most due deliveries one retrier run claims. */
  retrierBatchMax: number;
  /**
   * How long the dispatcher waits for an event's first attempt before writing the delivery as
   * claimed (then it records the outcome under the claim, two writes); an attempt that ends sooner
   * is written once, with its outcome. Until the dispatcher returns, the unacked Pub/Sub message
   * is what keeps the event.
   */
  inlineRecordMs: number;
  /** Default overlap of a rolled secret. */
  secretOverlapMsDefault: number;
  /** Longest overlap of a rolled secret. */
  secretOverlapMsMax: number;
}

export interface WebhooksDeps {
  store: WebhooksStore;
  secrets: SecretBox;
  sender: WebhookSender;
  clock: Clock;
  /** Per-endpoint concurrency (key = endpoint id), bounded queue. */
  limiter: ConcurrencyLimiter;
  /** The circuit breaker of one endpoint (one key each; kept in a bounded LRU). */
  breakerFor(endpointId: string): CircuitBreaker;
  /** Enabled endpoints per tenant, briefly cached per instance (every event looks them up). */
  endpointsCache: TtlCache<WebhookEndpoint[]>;
  /** Decrypted signing secrets by ciphertext, cached per instance. */
  secretCache: TtlCache<Uint8Array>;
  random(): number;
  logger: Logger;
  limits: WebhooksLimits;
}
