import type { TenantPricing } from '../payments/ledger-postings.js';
import type { Role } from './role.js';

/** A tenant: one merchant of the platform. Everything it owns lives under `tenants/{id}`. */
export interface Tenant {
  id: string;
  name: string;
  createdAtMs: number;
  traceId: string;
  spanId: string;
  /** Its pricing, set by the platform admin; absent: the platform's default (configuration). */
  pricing?: TenantPricing | null;
  /**
   * A test tenant (chosen at creation, never changed): may use billing test clocks. Absent
   * (tenants created before the flag existed): live, the safe reading.
   */
  testMode?: boolean;
}

/** An API key as stored: never the secret, only its hash and last four characters. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  role: Role;
  secretHash: string;
  secretLast4: string;
  createdAtMs: number;
  revokedAtMs: number | null;
  traceId: string;
  spanId: string;
}

export const tenantNameLengthMax = 200;
export const apiKeyNameLengthMax = 100;
