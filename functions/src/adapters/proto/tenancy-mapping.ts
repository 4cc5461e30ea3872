/** Domain <-> protobuf for the tenancy area. The only place that knows both shapes. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidField } from '../../domain/errors.js';
import type { Role as DomainRole } from '../../domain/tenancy/role.js';
import type { ApiKeyRecord, Tenant as DomainTenant } from '../../domain/tenancy/tenant.js';
import { ApiKeySchema, Role, TenantPricingSchema, TenantSchema, type ApiKey, type Tenant, type TenantPricing } from '../../gen/tally/tenancy/v1/tenancy_pb.js';
import type { TenantPricing as DomainPricing } from '../../domain/payments/index.js';

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

/** `pricing`: the pricing that applies to the tenant (its own or the platform's default). */
export function tenantToProto(t: DomainTenant, pricing?: DomainPricing): Tenant {
  return create(TenantSchema, { id: t.id, name: t.name, createTime: timestampFromMs(t.createdAtMs), testMode: t.testMode === true, ...(pricing && { pricing: pricingToProto(pricing) }) });
}

export function pricingToProto(p: DomainPricing): TenantPricing {
  return create(TenantPricingSchema, { rateBps: p.rateBps, fixedMinorByCurrency: { ...p.fixedMinorByCurrency } });
}

/** Unset: undefined (the use case reports it as required). */
export function pricingFromProto(p: TenantPricing | undefined): DomainPricing | undefined {
  return p && { rateBps: p.rateBps, fixedMinorByCurrency: { ...p.fixedMinorByCurrency } };
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
