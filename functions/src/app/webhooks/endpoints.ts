/** Endpoint use cases (WebhookEndpointsService): create, list, get, update, delete, roll the secret. */
import { isIP } from 'node:net';
import { TallyError, invalidField } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import {
  secretsMax, urlLengthMax, validateDescription, validateEventTypes, type StoredSecret, type WebhookEndpoint,
} from '../../domain/webhooks/endpoint.js';
import { checkAddress, type WebhookUrlProfile } from '../../platform/net/address-policy.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Page } from '../../ports/tenancy-repository.js';
import { newSecret } from './signing.js';
import type { WebhooksDeps } from './webhooks-deps.js';

/** Names that resolve inside networks by convention; refused when deployed before any DNS lookup. */
const internalNameSuffixes = ['localhost', '.localhost', '.local', '.internal', '.home.arpa', '.lan', '.intranet', '.corp'];

/**
 * A webhook URL, checked as saved (deployed: https, no credentials, no internal IP literal or
 * internal-looking name; local: http allowed, loopback allowed). Every delivery checks the resolved
 * addresses again (adapters/http/webhook-sender.ts).
 */
export function validateEndpointUrl(raw: string, profile: WebhookUrlProfile, field = 'url'): string {
  if (raw === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (raw.length > urlLengthMax) throw invalidField(field, `at most ${urlLengthMax} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidField(field, 'not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(profile === 'local' && url.protocol === 'http:')) {
    throw invalidField(field, profile === 'local' ? 'must be http or https' : 'must be https');
  }
  if (url.username !== '' || url.password !== '') throw invalidField(field, 'must not carry credentials');
  if (url.hash !== '') throw invalidField(field, 'must not have a fragment');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) {
    const verdict = checkAddress(host, profile);
    if (!verdict.allowed) throw invalidField(field, `refused address (${verdict.reason})`);
  } else if (profile === 'deployed' && (internalNameSuffixes.some((s) => host === s.replace(/^\./, '') || host.endsWith(s)) || !host.includes('.'))) {
    throw invalidField(field, 'must name a public host');
  }
  return url.toString();
}

export interface CreateEndpointInput {
  url: string;
  eventTypes: string[];
  description: string;
}

export function validateCreateEndpoint(deps: Pick<WebhooksDeps, 'limits'>, input: CreateEndpointInput): CreateEndpointInput {
  return {
    url: validateEndpointUrl(input.url, deps.limits.profile),
    eventTypes: validateEventTypes(input.eventTypes),
    description: validateDescription(input.description),
  };
}

const secretContext = (tenantId: string, endpointId: string) => `tenants/${tenantId}/webhookEndpoints/${endpointId}`;

async function sealedSecret(deps: WebhooksDeps, tenantId: string, endpointId: string, nowMs: number): Promise<{ stored: StoredSecret; shown: string }> {
  const secret = newSecret();
  const ciphertext = await deps.secrets.seal(secret.raw, secretContext(tenantId, endpointId));
  return { stored: { ciphertext, createdAtMs: nowMs, expiresAtMs: null }, shown: secret.shown };
}

/** The secrets signing at `nowMs`, decrypted (cached per instance by ciphertext). */
export async function signingSecrets(deps: WebhooksDeps, endpoint: WebhookEndpoint, nowMs: number): Promise<Uint8Array[]> {
  const live = endpoint.secrets.filter((s) => s.expiresAtMs === null || s.expiresAtMs > nowMs);
  return Promise.all(live.map((s) => deps.secretCache.get(
    `${endpoint.tenantId}/${endpoint.id}/${Buffer.from(s.ciphertext).toString('base64')}`,
    () => deps.secrets.open(s.ciphertext, secretContext(endpoint.tenantId, endpoint.id)),
  )));
}

export async function createEndpoint(deps: WebhooksDeps, tenantId: string, input: CreateEndpointInput, trace: TraceIds): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const existing = await deps.store.listEndpoints(tenantId, deps.limits.endpointsPerTenantMax, undefined);
  if (existing.items.length >= deps.limits.endpointsPerTenantMax) {
    throw new TallyError('LIMIT_EXCEEDED', `a tenant has at most ${deps.limits.endpointsPerTenantMax} webhook endpoints`, { limit: String(deps.limits.endpointsPerTenantMax) });
  }
  const nowMs = deps.clock.nowMs();
  const id = newId('we');
  const { stored, shown } = await sealedSecret(deps, tenantId, id, nowMs);
  const endpoint: WebhookEndpoint = {
    id, tenantId, url: input.url, description: input.description, eventTypes: input.eventTypes, enabled: true, disabledReason: '',
    secrets: [stored], failingSinceMs: null, createdAtMs: nowMs, updatedAtMs: nowMs, ...trace,
  };
  await deps.store.createEndpoint(endpoint);
  deps.endpointsCache.delete(tenantId);
  return { endpoint, secret: shown };
}

const notFound = (endpointId: string) => new TallyError('NOT_FOUND', `webhook endpoint ${endpointId} not found`, { webhookEndpointId: endpointId });

export async function getEndpoint(deps: WebhooksDeps, tenantId: string, endpointId: string): Promise<WebhookEndpoint> {
  const endpoint = await deps.store.getEndpoint(tenantId, endpointId);
  if (!endpoint) throw notFound(endpointId);
  return endpoint;
}

export function listEndpoints(deps: WebhooksDeps, tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<WebhookEndpoint>> {
  return deps.store.listEndpoints(tenantId, pageSize, cursor);
}

export interface EndpointUpdate {
  url?: string;
  eventTypes?: string[];
  description?: string;
  enabled?: boolean;
}

const updatableFields = ['url', 'enabled_events', 'description', 'enabled'] as const;

/** Checks a masked update; the mask names proto fields. */
export function validateUpdate(deps: Pick<WebhooksDeps, 'limits'>, mask: readonly string[], input: { url: string; eventTypes: string[]; description: string; enabled: boolean }): EndpointUpdate {
  if (mask.length === 0) throw invalidField('update_mask', `name at least one of ${updatableFields.join(', ')}`, 'FIELD_REQUIRED');
  const update: EndpointUpdate = {};
  for (const field of mask) {
    if (field === 'url') update.url = validateEndpointUrl(input.url, deps.limits.profile);
    else if (field === 'enabled_events') update.eventTypes = validateEventTypes(input.eventTypes);
    else if (field === 'description') update.description = validateDescription(input.description);
    else if (field === 'enabled') update.enabled = input.enabled;
    else throw invalidField('update_mask', `unknown field (updatable: ${updatableFields.join(', ')})`);
  }
  return update;
}

export async function updateEndpoint(deps: WebhooksDeps, tenantId: string, endpointId: string, update: EndpointUpdate): Promise<WebhookEndpoint> {
  const nowMs = deps.clock.nowMs();
  const updated = await deps.store.updateEndpoint(tenantId, endpointId, (current) => {
    const next: WebhookEndpoint = {
      ...current, updatedAtMs: nowMs,
      ...(update.url !== undefined ? { url: update.url } : {}),
      ...(update.eventTypes !== undefined ? { eventTypes: update.eventTypes } : {}),
      ...(update.description !== undefined ? { description: update.description } : {}),
    };
    if (update.enabled === true && !current.enabled) Object.assign(next, { enabled: true, disabledReason: '', failingSinceMs: null });
    if (update.enabled === false && current.enabled) Object.assign(next, { enabled: false, disabledReason: 'manual' });
    return next;
  });
  if (!updated) throw notFound(endpointId);
  deps.endpointsCache.delete(tenantId);
  return updated;
}

export async function deleteEndpoint(deps: WebhooksDeps, tenantId: string, endpointId: string): Promise<WebhookEndpoint> {
  const deleted = await deps.store.deleteEndpoint(tenantId, endpointId);
  if (!deleted) throw notFound(endpointId);
  deps.endpointsCache.delete(tenantId);
  return deleted;
}

export function validateOverlapMs(deps: Pick<WebhooksDeps, 'limits'>, overlapSeconds: bigint | undefined): number {
  if (overlapSeconds === undefined) return deps.limits.secretOverlapMsDefault;
  const maxSeconds = BigInt(deps.limits.secretOverlapMsMax / 1000);
  if (overlapSeconds < 0n || overlapSeconds > maxSeconds) throw invalidField('overlap_seconds', `0..${maxSeconds}`);
  return Number(overlapSeconds) * 1000;
}

/**
 * A new current secret; the old current one keeps signing for `overlapMs` (0: stops now). Secrets
 * already expired are dropped, and beyond `secretsMax` the oldest go first.
 */
export async function rollSecret(deps: WebhooksDeps, tenantId: string, endpointId: string, overlapMs: number): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const nowMs = deps.clock.nowMs();
  // Sealed before the transaction: KMS is not called inside a retried transaction.
  const { stored, shown } = await sealedSecret(deps, tenantId, endpointId, nowMs);
  const updated = await deps.store.updateEndpoint(tenantId, endpointId, (current) => {
    const kept = current.secrets
      .map((s) => (s.expiresAtMs === null ? { ...s, expiresAtMs: nowMs + overlapMs } : s))
      .filter((s) => s.expiresAtMs !== null && s.expiresAtMs > nowMs);
    return { ...current, secrets: [...kept, stored].slice(-secretsMax), updatedAtMs: nowMs };
  });
  if (!updated) throw notFound(endpointId);
  deps.endpointsCache.delete(tenantId);
  return { endpoint: updated, secret: shown };
}
