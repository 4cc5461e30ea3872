/** TenancyService: decode, authorize, call the use cases, encode. Mutations run idempotently. */
import { clone, create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { requirePlatformAdmin, requireTenantRole, type Authenticator } from '../../app/auth/authenticate.js';
import * as tenancy from '../../app/tenancy/tenancy-use-cases.js';
import { apiKeyToProto, pricingFromProto, roleFromProto, tenantToProto } from '../../adapters/proto/tenancy-mapping.js';
import {
  CreateApiKeyRequestSchema,
  CreateApiKeyResponseSchema,
  CreateTenantRequestSchema,
  RevokeApiKeyRequestSchema,
  CreateTenantResponseSchema,
  RevokeApiKeyResponseSchema,
  SetTenantPricingRequestSchema,
  SetTenantPricingResponseSchema,
  TenancyService,
} from '../../gen/tally/tenancy/v1/tenancy_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { idempotentRpc } from './idempotent-rpc.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { parseId, parseOptionalId } from '../../domain/ids.js';
import { principalOf } from './rpc-context.js';

export interface TenancyServiceDeps extends tenancy.TenancyDeps {
  idempotency: IdempotencyOptions;
  authenticator: Authenticator;
}

/** API key secrets are shown once: the stored copy of a response never holds one. */
function withoutSecret<S extends DescMessage, F extends string>(schema: S, field: F) {
  return (res: MessageShape<S>): MessageShape<S> => {
    const copy = clone(schema, res) as MessageShape<S> & Record<F, { secret: string } | undefined>;
    const key = copy[field];
    if (key) key.secret = '';
    return copy;
  };
}

export function createTenancyServiceImpl(deps: TenancyServiceDeps): ServiceImpl<typeof TenancyService> {
  return {
    async createTenant(req, ctx) {
      requirePlatformAdmin(principalOf(ctx));
      tenancy.validateCreateTenant(req);
      return idempotentRpc(
        deps, ctx, '_platform',
        { schema: CreateTenantRequestSchema, message: req },
        { schema: CreateTenantResponseSchema, redact: withoutSecret(CreateTenantResponseSchema, 'ownerApiKey') },
        async () => {
          const { tenant, ownerKey } = await tenancy.createTenant(deps, req, currentTraceIds());
          return create(CreateTenantResponseSchema, { tenant: tenantToProto(tenant, tenancy.pricingOf(deps, tenant)), ownerApiKey: apiKeyToProto(ownerKey.record, ownerKey.secret) });
        },
      );
    },

    async getTenant(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const tenant = await tenancy.getTenant(deps, tenantId, parseOptionalId('tenant', req.tenantId, 'tenant_id') ?? '');
      return { tenant: tenantToProto(tenant, tenancy.pricingOf(deps, tenant)) };
    },

    async setTenantPricing(req, ctx) {
      requirePlatformAdmin(principalOf(ctx));
      const input = tenancy.validateSetTenantPricing({ tenantId: req.tenantId, pricing: pricingFromProto(req.pricing) });
      return idempotentRpc(
        deps, ctx, '_platform',
        { schema: SetTenantPricingRequestSchema, message: req },
        { schema: SetTenantPricingResponseSchema, redact: (res) => res },
        async () => {
          const tenant = await tenancy.setTenantPricing(deps, input);
          return create(SetTenantPricingResponseSchema, { tenant: tenantToProto(tenant, tenancy.pricingOf(deps, tenant)) });
        },
      );
    },

    async createApiKey(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'owner');
      const input = tenancy.validateCreateApiKey({ name: req.name, role: roleFromProto(req.role) });
      return idempotentRpc(
        deps, ctx, tenantId,
        { schema: CreateApiKeyRequestSchema, message: req },
        { schema: CreateApiKeyResponseSchema, redact: withoutSecret(CreateApiKeyResponseSchema, 'apiKey') },
        async () => {
          const key = await tenancy.createApiKey(deps, tenantId, input, currentTraceIds());
          return create(CreateApiKeyResponseSchema, { apiKey: apiKeyToProto(key.record, key.secret) });
        },
      );
    },

    async revokeApiKey(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'owner');
      parseId('apiKey', req.apiKeyId, 'api_key_id');
      return idempotentRpc(
        deps, ctx, tenantId,
        { schema: RevokeApiKeyRequestSchema, message: req },
        { schema: RevokeApiKeyResponseSchema, redact: (res) => res },
        async () => {
          const key = await tenancy.revokeApiKey(deps, tenantId, req.apiKeyId);
          deps.authenticator.forget(key.secretHash);
          return create(RevokeApiKeyResponseSchema, { apiKey: apiKeyToProto(key) });
        },
      );
    },

    async listApiKeys(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const page = await tenancy.listApiKeys(deps, tenantId, req);
      return { apiKeys: page.items.map((k) => apiKeyToProto(k)), nextPageToken: page.nextCursor ?? '' };
    },
  };
}
