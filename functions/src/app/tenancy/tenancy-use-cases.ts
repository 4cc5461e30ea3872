/**
 * Tenancy use cases: validate, decide, persist through the repository port. No transport here:
 * the RPC handler decodes requests and applies idempotency around the mutating calls.
 */
import { randomBytes } from 'node:crypto';
import { TallyError, invalidField } from '../../domain/errors.js';
import { idPrefixes, newId } from '../../domain/ids.js';
import { apiKeySecretFromBytes, hashApiKeySecret } from '../../domain/tenancy/api-key-secret.js';
import type { Role } from '../../domain/tenancy/role.js';
import { apiKeyNameLengthMax, tenantNameLengthMax, type ApiKeyRecord, type Tenant } from '../../domain/tenancy/tenant.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { TtlCache } from '../../platform/cache/ttl-cache.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import type { Clock } from '../../ports/clock.js';
import { validateTenantPricing, type TenantPricing } from '../../domain/payments/index.js';
import type { Page, TenancyRepository } from '../../ports/tenancy-repository.js';


export interface TenancyDeps {
  repo: TenancyRepository;
  clock: Clock;
  /**
   * Per-instance cache of tenant documents. Tenants are immutable after creation today, so a hit
   * is never stale; an UpdateTenant must delete the entry in its instance and accept ttl staleness
   * elsewhere (see README, "Caches").
   */
  tenantCache?: TtlCache<Tenant | undefined>;
  /** The platform's default pricing (configuration), for tenants the platform admin set none for. */
  defaultPricing: TenantPricing;
}

/** A key as returned once at creation: the record plus its secret. */
export interface CreatedApiKey {
  record: ApiKeyRecord;
  secret: string;
}

function requireName(field: string, value: string, lengthMax: number): string {
  const name = value.trim();
  if (name === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (name.length > lengthMax) throw invalidField(field, `at most ${lengthMax} characters`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalidField(field, 'must not contain control characters');
  return name;
}

function mintKey(tenantId: string, name: string, role: Role, nowMs: number, trace: TraceIds): CreatedApiKey {
  const secret = apiKeySecretFromBytes(randomBytes(32));
  return {
    secret,
    record: {
      id: newId(idPrefixes.apiKey),
      tenantId,
      name,
      role,
      secretHash: hashApiKeySecret(secret),
      secretLast4: secret.slice(-4),
      createdAtMs: nowMs,
      revokedAtMs: null,
      ...trace,
    },
  };
}

/** Validates CreateTenant input; separate so that bad input is refused before idempotency. */
export function validateCreateTenant(input: { name: string }): { name: string } {
  return { name: requireName('name', input.name, tenantNameLengthMax) };
}

export async function createTenant(deps: TenancyDeps, input: { name: string; testMode?: boolean }, trace: TraceIds): Promise<{ tenant: Tenant; ownerKey: CreatedApiKey }> {
  const { name } = validateCreateTenant(input);
  const nowMs = deps.clock.nowMs();
  const tenant: Tenant = { id: newId(idPrefixes.tenant), name, createdAtMs: nowMs, ...trace, testMode: input.testMode === true };
  const ownerKey = mintKey(tenant.id, 'owner (created with tenant)', 'owner', nowMs, trace);
  await deps.repo.createTenant(tenant, ownerKey.record);
  return { tenant, ownerKey };
}

export async function getTenant(deps: TenancyDeps, tenantId: string, requestedId: string): Promise<Tenant> {
  // Another tenant's id answers NOT_FOUND, exactly like an id that does not exist: no probing.
  if (requestedId !== '' && requestedId !== tenantId) throw new TallyError('NOT_FOUND', `tenant ${requestedId} not found`, { field: 'tenant_id' });
  const load = () => deps.repo.getTenant(tenantId);
  const tenant = deps.tenantCache ? await deps.tenantCache.get(tenantId, load) : await load();
  if (!tenant) throw new TallyError('NOT_FOUND', `tenant ${tenantId} not found`);
  return tenant;
}

export function validateCreateApiKey(input: { name: string; role: Role | undefined }): { name: string; role: Role } {
  const name = requireName('name', input.name, apiKeyNameLengthMax);
  if (input.role === undefined) throw invalidField('role', 'required: ROLE_OWNER, ROLE_DEVELOPER or ROLE_VIEWER', 'FIELD_REQUIRED');
  return { name, role: input.role };
}

export async function createApiKey(deps: TenancyDeps, tenantId: string, input: { name: string; role: Role }, trace: TraceIds): Promise<CreatedApiKey> {
  const key = mintKey(tenantId, input.name, input.role, deps.clock.nowMs(), trace);
  await deps.repo.createApiKey(key.record);
  return key;
}

export function validateApiKeyId(keyId: string): string {
  if (keyId === '') throw invalidField('api_key_id', 'required', 'FIELD_REQUIRED');
  if (!/^key_[A-Za-z0-9_-]{1,64}$/.test(keyId)) throw invalidField('api_key_id', 'not an API key id (key_...)');
  return keyId;
}

export async function revokeApiKey(deps: TenancyDeps, tenantId: string, keyId: string): Promise<ApiKeyRecord> {
  const revoked = await deps.repo.revokeApiKey(tenantId, validateApiKeyId(keyId), deps.clock.nowMs());
  if (!revoked) throw new TallyError('NOT_FOUND', `API key ${keyId} not found`, { field: 'api_key_id' });
  return revoked;
}

export async function listApiKeys(deps: TenancyDeps, tenantId: string, input: { pageSize: number; pageToken: string }): Promise<Page<ApiKeyRecord>> {
  const pageSize = pageSizeOf(input.pageSize);
  return deps.repo.listApiKeys(tenantId, pageSize, input.pageToken === '' ? undefined : input.pageToken);
}

/** The pricing a tenant's payments get: its own, or the platform's default. */
export function pricingOf(deps: Pick<TenancyDeps, 'defaultPricing'>, tenant: Tenant): TenantPricing {
  return tenant.pricing ?? deps.defaultPricing;
}

/**
 * A tenant's pricing through the instance's tenant cache (no read per payment; a change made on
 * another instance applies here within the cache's time to live). An unknown tenant gets the default.
 */
export async function tenantPricing(deps: TenancyDeps, tenantId: string): Promise<TenantPricing> {
  const load = () => deps.repo.getTenant(tenantId);
  const tenant = deps.tenantCache ? await deps.tenantCache.get(tenantId, load) : await load();
  return tenant ? pricingOf(deps, tenant) : deps.defaultPricing;
}

/** Validates SetTenantPricing input; separate so that bad input is refused before idempotency. */
export function validateSetTenantPricing(input: { tenantId: string; pricing: TenantPricing | undefined }): { tenantId: string; pricing: TenantPricing } {
  if (input.tenantId === '') throw invalidField('tenant_id', 'required', 'FIELD_REQUIRED');
  if (!/^ten_[A-Za-z0-9_-]{1,64}$/.test(input.tenantId)) throw invalidField('tenant_id', 'not a tenant id (ten_...)');
  if (input.pricing === undefined) throw invalidField('pricing', 'required', 'FIELD_REQUIRED');
  return { tenantId: input.tenantId, pricing: validateTenantPricing(input.pricing) };
}

/** Sets a tenant's pricing (platform admin); payments created afterwards snapshot it. */
export async function setTenantPricing(deps: TenancyDeps, input: { tenantId: string; pricing: TenantPricing | undefined }): Promise<Tenant> {
  const { tenantId, pricing } = validateSetTenantPricing(input);
  const tenant = await deps.repo.setTenantPricing(tenantId, pricing);
  if (!tenant) throw new TallyError('NOT_FOUND', `tenant ${tenantId} not found`, { field: 'tenant_id' });
  deps.tenantCache?.delete(tenantId); // this instance applies it at once; others within the TTL
  return tenant;
}
