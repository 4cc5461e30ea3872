import type { Role } from '../domain/tenancy/role.js';
import type { ApiKeyRecord, Tenant } from '../domain/tenancy/tenant.js';
import type { TenantPricing } from '../domain/payments/ledger-postings.js';

/** What authentication needs of a key, kept beside the hash so that it is a single read. */
export interface ApiKeyIndexEntry {
  tenantId: string;
  keyId: string;
  role: Role;
  revoked: boolean;
}

/** A page of results plus the cursor for the next one (undefined on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor: string | undefined;
}

/** Persistence of tenants and API keys. Implementations keep the hash index and keys consistent. */
export interface TenancyRepository {
  /** Writes the tenant, its owner key and the key's hash index atomically. */
  createTenant(tenant: Tenant, ownerKey: ApiKeyRecord): Promise<void>;
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  /** Replaces the tenant's pricing; the tenant as it now stands, or undefined if there is none. */
  setTenantPricing(tenantId: string, pricing: TenantPricing): Promise<Tenant | undefined>;
  /** Writes the key and its hash index atomically. */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  /** Marks the key revoked (keeping the first revocation time); undefined if not in the tenant. */
  revokeApiKey(tenantId: string, keyId: string, revokedAtMs: number): Promise<ApiKeyRecord | undefined>;
  /** Newest first. `cursor` is opaque and comes from a previous page. */
  listApiKeys(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<ApiKeyRecord>>;
  /** Looks a key up by the hash of its secret, across tenants (authentication only): one read. */
  findApiKeyByHash(secretHash: string): Promise<ApiKeyIndexEntry | undefined>;
}
