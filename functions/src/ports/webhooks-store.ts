/**
 * Webhook endpoints and deliveries as the app needs them (ADR 0034). Delivery claims are leases:
 * a claim moves the delivery's `nextAttemptAtMs` past the lease and returns a fence; recording an
 * attempt succeeds only while nobody claimed the delivery since (else `false`, the result is dropped).
 */
import type { DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint } from '../domain/webhooks/endpoint.js';
import type { OutboxEvent } from './ledger-store.js';
import type { Page } from './tenancy-repository.js';

/** A delivery taken by one worker until `leaseUntilMs`. */
export interface ClaimedDelivery {
  delivery: WebhookDelivery;
  /** Opaque: the document version the claim wrote; the attempt's record is conditional on it. */
  fence: unknown;
}

/** The outcome of one attempt, to record on a claimed delivery. */
export interface AttemptRecord {
  attempt: DeliveryAttempt;
  status: DeliveryStatus;
  nextAttemptAtMs: number | null;
  failureReason: string;
}

/** What an endpoint's health becomes after an attempt (ADR 0034: written only when it changes). */
export type EndpointHealthChange =
  | { kind: 'recovered' }
  | { kind: 'failing'; sinceMs: number }
  /** Disable, if it is still failing since `failingSinceAtMostMs` or earlier (re-read in the transaction). */
  | { kind: 'disabled'; failingSinceAtMostMs: number; event: OutboxEvent };

export interface WebhooksStore {
  createEndpoint(endpoint: WebhookEndpoint): Promise<void>;
  getEndpoint(tenantId: string, endpointId: string): Promise<WebhookEndpoint | undefined>;
  listEndpoints(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<WebhookEndpoint>>;
  /** The tenant's enabled endpoints, at most `limit` (+1 tells the caller the bound was hit). */
  enabledEndpoints(tenantId: string, limit: number): Promise<WebhookEndpoint[]>;
  /** Read-modify-write in a transaction; `change` returning undefined writes nothing. NOT_FOUND-free: undefined when absent. */
  updateEndpoint(tenantId: string, endpointId: string, change: (current: WebhookEndpoint) => WebhookEndpoint | undefined): Promise<WebhookEndpoint | undefined>;
  deleteEndpoint(tenantId: string, endpointId: string): Promise<WebhookEndpoint | undefined>;
  /** Applies a health change if the endpoint still is in the state it was decided on (transaction). */
  changeEndpointHealth(tenantId: string, endpointId: string, change: EndpointHealthChange, nowMs: number): Promise<void>;

  /**
   * Creates deliveries already claimed by the caller until `leaseUntilMs` (one batch). A delivery
   * whose id exists already (a redelivered event) is not created again and not returned.
   */
  createClaimedDeliveries(deliveries: readonly WebhookDelivery[], leaseUntilMs: number): Promise<ClaimedDelivery[]>;
  /**
   * Creates one delivery as given (its first attempt already made and recorded in it): one write.
   * False, and nothing written, when a delivery with its id exists (a redelivered event).
   */
  createDelivery(delivery: WebhookDelivery): Promise<boolean>;
  getDelivery(tenantId: string, deliveryId: string): Promise<WebhookDelivery | undefined>;
  listDeliveries(tenantId: string, endpointId: string, status: DeliveryStatus | undefined, pageSize: number, cursor: string | undefined): Promise<Page<WebhookDelivery>>;
  /** Pending deliveries due at `nowMs` across tenants, oldest due first, each claimed until `leaseUntilMs`; at most `limit`. */
  claimDue(nowMs: number, leaseUntilMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt if the claim still holds; false when another worker claimed it since. */
  recordAttempt(claim: ClaimedDelivery, record: AttemptRecord): Promise<boolean>;
  /** Ends a claimed delivery without an attempt (endpoint gone or disabled), or pushes it back (circuit open). */
  release(claim: ClaimedDelivery, change: { status: DeliveryStatus; nextAttemptAtMs: number | null; failureReason: string }): Promise<boolean>;
}
