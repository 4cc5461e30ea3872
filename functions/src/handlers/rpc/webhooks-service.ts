/** WebhookEndpointsService: decode, authorize (developer+), call the use cases, encode. Mutations run idempotently. */
import { clone, create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import * as endpoints from '../../app/webhooks/endpoints.js';
import { resendDelivery, sendTestEvent } from '../../app/webhooks/delivery.js';
import type { WebhooksDeps } from '../../app/webhooks/webhooks-deps.js';
import { deliveryToProto, endpointToProto } from '../../adapters/proto/webhooks-mapping.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { parseId } from '../../domain/ids.js';
import type { DeliveryStatus } from '../../domain/webhooks/endpoint.js';
import {
  CreateWebhookEndpointRequestSchema, CreateWebhookEndpointResponseSchema, DeleteWebhookEndpointRequestSchema, DeleteWebhookEndpointResponseSchema,
  ResendWebhookDeliveryRequestSchema, ResendWebhookDeliveryResponseSchema, RollWebhookEndpointSecretRequestSchema, RollWebhookEndpointSecretResponseSchema,
  SendTestWebhookEventRequestSchema, SendTestWebhookEventResponseSchema, UpdateWebhookEndpointRequestSchema, UpdateWebhookEndpointResponseSchema,
  WebhookEndpointsService,
} from '../../gen/tally/webhooks/v1/webhooks_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { idempotentRpc } from './idempotent-rpc.js';
import { principalOf } from './rpc-context.js';

export interface WebhooksServiceDeps {
  webhooks: WebhooksDeps;
  idempotency: IdempotencyOptions;
}

const statuses: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed'];
const deliveriesPageSizeDefault = 20;

/** The stored copy of a response never holds a secret (it is shown once). */
function withoutSecret<T extends { webhookEndpoint?: { secret: string } }>(schema: Parameters<typeof clone>[0]) {
  return (res: T): T => {
    const copy = clone(schema, res as never) as unknown as T;
    if (copy.webhookEndpoint) copy.webhookEndpoint.secret = '';
    return copy;
  };
}

export function createWebhooksServiceImpl(deps: WebhooksServiceDeps): ServiceImpl<typeof WebhookEndpointsService> {
  const w = deps.webhooks;
  return {
    async createWebhookEndpoint(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const input = endpoints.validateCreateEndpoint(w, { url: req.url, eventTypes: req.enabledEvents, description: req.description });
      return idempotentRpc(deps, ctx, tenantId, { schema: CreateWebhookEndpointRequestSchema, message: req },
        { schema: CreateWebhookEndpointResponseSchema, redact: withoutSecret(CreateWebhookEndpointResponseSchema) },
        async () => {
          const { endpoint, secret } = await endpoints.createEndpoint(w, tenantId, input, currentTraceIds());
          return create(CreateWebhookEndpointResponseSchema, { webhookEndpoint: endpointToProto(endpoint, secret) });
        });
    },

    async listWebhookEndpoints(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const page = await endpoints.listEndpoints(w, tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { webhookEndpoints: page.items.map((e) => endpointToProto(e)), nextPageToken: page.nextCursor ?? '' };
    },

    async getWebhookEndpoint(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      return { webhookEndpoint: endpointToProto(await endpoints.getEndpoint(w, tenantId, id)) };
    },

    async updateWebhookEndpoint(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      const update = endpoints.validateUpdate(w, req.updateMask, { url: req.url, eventTypes: req.enabledEvents, description: req.description, enabled: req.enabled });
      return idempotentRpc(deps, ctx, tenantId, { schema: UpdateWebhookEndpointRequestSchema, message: req },
        { schema: UpdateWebhookEndpointResponseSchema, redact: (res) => res },
        async () => create(UpdateWebhookEndpointResponseSchema, { webhookEndpoint: endpointToProto(await endpoints.updateEndpoint(w, tenantId, id, update)) }));
    },

    async deleteWebhookEndpoint(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: DeleteWebhookEndpointRequestSchema, message: req },
        { schema: DeleteWebhookEndpointResponseSchema, redact: (res) => res },
        async () => create(DeleteWebhookEndpointResponseSchema, { webhookEndpoint: endpointToProto(await endpoints.deleteEndpoint(w, tenantId, id)) }));
    },

    async rollWebhookEndpointSecret(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      const overlapMs = endpoints.validateOverlapMs(w, req.overlapSeconds);
      return idempotentRpc(deps, ctx, tenantId, { schema: RollWebhookEndpointSecretRequestSchema, message: req },
        { schema: RollWebhookEndpointSecretResponseSchema, redact: withoutSecret(RollWebhookEndpointSecretResponseSchema) },
        async () => {
          const { endpoint, secret } = await endpoints.rollSecret(w, tenantId, id, overlapMs);
          return create(RollWebhookEndpointSecretResponseSchema, { webhookEndpoint: endpointToProto(endpoint, secret) });
        });
    },

    async listWebhookDeliveries(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      if (req.status !== '' && !statuses.includes(req.status as DeliveryStatus)) throw invalidField('status', `one of ${statuses.join(', ')}, or empty`);
      const pageSize = req.pageSize === 0 ? deliveriesPageSizeDefault : pageSizeOf(req.pageSize);
      await endpoints.getEndpoint(w, tenantId, id);
      const page = await w.store.listDeliveries(tenantId, id, req.status === '' ? undefined : req.status as DeliveryStatus, pageSize, req.pageToken === '' ? undefined : req.pageToken);
      return { deliveries: page.items.map(deliveryToProto), nextPageToken: page.nextCursor ?? '' };
    },

    async resendWebhookDelivery(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const deliveryId = parseId('webhookDelivery', req.deliveryId, 'delivery_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: ResendWebhookDeliveryRequestSchema, message: req },
        { schema: ResendWebhookDeliveryResponseSchema, redact: (res) => res },
        async () => {
          const original = await w.store.getDelivery(tenantId, deliveryId);
          if (!original) throw new TallyError('NOT_FOUND', `webhook delivery ${deliveryId} not found`, { deliveryId });
          const endpoint = await endpoints.getEndpoint(w, tenantId, original.endpointId);
          if (!endpoint.enabled) throw new TallyError('INVALID_STATE_TRANSITION', 'the endpoint is disabled: enable it first', { webhookEndpointId: endpoint.id });
          return create(ResendWebhookDeliveryResponseSchema, { delivery: deliveryToProto(await resendDelivery(w, endpoint, original)) });
        });
    },

    async sendTestWebhookEvent(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const id = parseId('webhookEndpoint', req.webhookEndpointId, 'webhook_endpoint_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: SendTestWebhookEventRequestSchema, message: req },
        { schema: SendTestWebhookEventResponseSchema, redact: (res) => res },
        async () => {
          const endpoint = await endpoints.getEndpoint(w, tenantId, id);
          if (!endpoint.enabled) throw new TallyError('INVALID_STATE_TRANSITION', 'the endpoint is disabled: enable it first', { webhookEndpointId: endpoint.id });
          return create(SendTestWebhookEventResponseSchema, { delivery: deliveryToProto(await sendTestEvent(w, endpoint)) });
        });
    },
  };
}
