/**
 * Merchant webhook endpoints and deliveries (issue 16, ADR 0034): the shapes the app and stores
 * share, the event-type filter, and the JSON body a delivery signs. Pure.
 */
import { invalidField } from '../errors.js';

/** A signing secret as stored: KMS ciphertext only (never the secret). */
export interface StoredSecret {
  /** Cloud KMS `Encrypt` output over the secret's 24 raw bytes, AAD = the endpoint's path. */
  ciphertext: Uint8Array;
  createdAtMs: number;
  /** When a rolled-away secret stops signing; null for the current one. */
  expiresAtMs: number | null;
}

/** Why an endpoint stopped receiving deliveries. */
export type DisabledReason = '' | 'manual' | 'failing';

export interface WebhookEndpoint {
  id: string;
  tenantId: string;
  url: string;
  description: string;
  /** `['*']` (every type) or exact types and `area.*` prefixes. */
  eventTypes: string[];
  enabled: boolean;
  /** '' while enabled; `failing` when Tally disabled it after `disableAfterMs` of failures. */
  disabledReason: DisabledReason;
  /** Newest last; at most `secretsMax`. */
  secrets: StoredSecret[];
  /** Since its first failed attempt after a success; null while healthy. */
  failingSinceMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
  traceId: string;
  spanId: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** One HTTP attempt of a delivery, as shown to the merchant. */
export interface DeliveryAttempt {
  atMs: number;
  /** HTTP status, 0 when none came back (timeout, connection error, refused address). */
  statusCode: number;
  latencyMs: number;
  /** Empty on a 2xx; otherwise what went wrong, with the start of the response body. */
  error: string;
}

export interface WebhookDelivery {
  id: string;
  tenantId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  /** The exact JSON body signed and sent on every attempt. */
  body: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** When the next attempt is due (or when the current taker's lease ends); null once final. */
  nextAttemptAtMs: number | null;
  /** Retries stop after this (created + retry window). */
  deadlineAtMs: number;
  createdAtMs: number;
  /** Why it failed for good ('' otherwise): deadline, attempts_exhausted, endpoint_disabled, endpoint_deleted. */
  failureReason: string;
}

/** Most event types one endpoint lists. */
export const eventTypesMax = 64;
/** Longest description. */
export const descriptionLengthMax = 500;
/** Longest URL. */
export const urlLengthMax = 2_048;
/** Current secret plus rolled-away ones still inside their overlap window. */
export const secretsMax = 5;

const eventTypePattern = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/;

/** The event types an endpoint asked for, checked: `*` alone, or 1..64 dotted types or `area.*` prefixes. */
export function validateEventTypes(types: readonly string[], field = 'enabled_events'): string[] {
  if (types.length === 0) throw invalidField(field, 'required: list event types or "*"', 'FIELD_REQUIRED');
  if (types.length > eventTypesMax) throw invalidField(field, `at most ${eventTypesMax} event types`);
  if (types.includes('*')) {
    if (types.length !== 1) throw invalidField(field, '"*" must be the only entry');
    return ['*'];
  }
  for (const type of types) {
    if (type.length > 100 || !eventTypePattern.test(type) || !type.includes('.')) {
      throw invalidField(field, 'each entry is a dotted lower-case event type (payment.created) or prefix (payment.*), or "*" alone');
    }
  }
  return [...new Set(types)].sort();
}

/** Whether an endpoint listing `patterns` receives events of `type`. */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

export function validateDescription(description: string): string {
  if (description.length > descriptionLengthMax) throw invalidField('description', `at most ${descriptionLengthMax} characters`);
  if (/[\u0000-\u001f\u007f]/.test(description)) throw invalidField('description', 'control characters are not allowed');
  return description;
}

/** The event as a delivery sends it. */
export interface WebhookEventInput {
  id: string;
  type: string;
  /** The id of the object the event is about (payment, entry, endpoint). */
  objectId: string;
  occurredAtMs: number;
  /** The event's body as published on `domain-events` (money as decimal strings of minor units). */
  body: Record<string, unknown>;
  /**
   * The object as the API shows it, when the event carries its state: a payment event's Payment in
   * the API's JSON form, as GetPayment returns it (made from the event's `payment` snapshot).
   */
  apiObject?: Record<string, unknown>;
}

/**
 * The JSON body of a webhook (Standard Webhooks payload): `{id, type, created, data}`, `created` in
 * RFC 3339 UTC. With `apiObject` (payment events): `data.object` is that object, the payment at
 * the event as the API shows it, and `data.details` what the event says beyond it (its body
 * without the snapshot: the refund id of a refund_failed, from/to of a status change, the reason
 * of an anomaly). Otherwise `data.object` is the event's body with the object's `id` first.
 */
export function webhookBody(event: WebhookEventInput): string {
  const { payment: _snapshot, ...details } = event.body;
  return JSON.stringify({
    id: event.id, type: event.type, created: new Date(event.occurredAtMs).toISOString(),
    data: event.apiObject ? { object: event.apiObject, details } : { object: { id: event.objectId, ...event.body } },
  });
}
