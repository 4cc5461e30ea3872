/** Domain <-> protobuf for merchant webhooks. Secrets appear only when the caller passes one (shown once). */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { WebhookDelivery as DomainDelivery, WebhookEndpoint as DomainEndpoint } from '../../domain/webhooks/endpoint.js';
import {
  WebhookDeliveryAttemptSchema, WebhookDeliverySchema, WebhookEndpointSchema, type WebhookDelivery, type WebhookEndpoint,
} from '../../gen/tally/webhooks/v1/webhooks_pb.js';

export function endpointToProto(e: DomainEndpoint, secret = ''): WebhookEndpoint {
  const previous = e.secrets.filter((s) => s.expiresAtMs !== null).map((s) => s.expiresAtMs!).sort((a, b) => b - a)[0];
  return create(WebhookEndpointSchema, {
    id: e.id, url: e.url, enabledEvents: [...e.eventTypes], description: e.description, enabled: e.enabled, disabledReason: e.disabledReason,
    secret, createTime: timestampFromMs(e.createdAtMs), updateTime: timestampFromMs(e.updatedAtMs),
    ...(e.failingSinceMs !== null ? { failingSince: timestampFromMs(e.failingSinceMs) } : {}),
    ...(previous !== undefined ? { previousSecretExpireTime: timestampFromMs(previous) } : {}),
  });
}

export function deliveryToProto(d: DomainDelivery): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    id: d.id, endpointId: d.endpointId, eventId: d.eventId, eventType: d.eventType, status: d.status,
    attempts: d.attempts.map((a) => create(WebhookDeliveryAttemptSchema, {
      attemptTime: timestampFromMs(a.atMs), responseStatus: a.statusCode, latencyMs: BigInt(a.latencyMs), error: a.error,
    })),
    ...(d.nextAttemptAtMs !== null && d.status === 'pending' ? { nextAttemptTime: timestampFromMs(d.nextAttemptAtMs) } : {}),
    createTime: timestampFromMs(d.createdAtMs), failureReason: d.failureReason, payloadJson: d.body,
  });
}
