/** Domain <-> protobuf for the tenancy area. The only place that knows both shapes. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidField } from '../../domain/errors.js';
import type { Role as DomainRole } from '../../domain/tenancy/role.js';
import type { ApiKeyRecord, Tenant as DomainTenant } from '../../domain/tenancy/tenant.js';
import { ApiKeySchema, Role, TenantSchema, type ApiKey, type Tenant } from '../../gen/tally/tenancy/v1/tenancy_pb.js';

const roleToProto: Record<DomainRole, Role> = { owner: Role.OWNER, developer: Role.DEVELOPER, viewer: Role.VIEWER };

/** Unset (0) maps to undefined (the use case reports it as required); unknown numbers are refused. */
export function roleFromProto(role: Role, field = 'role'): DomainRole | undefined {
  switch (role) {
    case Role.UNSPECIFIED: return undefined;
    case Role.OWNER: return 'owner';
    case Role.DEVELOPER: return 'developer';
    case Role.VIEWER: return 'viewer';
    default: throw invalidField(field, `unknown role ${String(role)}`);
  }
}

export function tenantToProto(t: DomainTenant): Tenant {
  return create(TenantSchema, { id: t.id, name: t.name, createTime: timestampFromMs(t.createdAtMs) });
}

export function apiKeyToProto(k: ApiKeyRecord, secret = ''): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    name: k.name,
    role: roleToProto[k.role],
    secret,
    secretLast4: k.secretLast4,
    createTime: timestampFromMs(k.createdAtMs),
    ...(k.revokedAtMs === null ? {} : { revokeTime: timestampFromMs(k.revokedAtMs) }),
  });
}
