import type { Role } from '../../domain/tenancy/role.js';

/** Who is calling: a member of exactly one tenant, or the platform admin (who belongs to none). */
export type Principal =
  | { kind: 'tenant'; tenantId: string; role: Role; via: 'api_key'; keyId: string }
  | { kind: 'tenant'; tenantId: string; role: Role; via: 'id_token'; uid: string }
  | { kind: 'platform_admin' };
