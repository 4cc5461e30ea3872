/**
 * Every consumer of `domain-events` skips a replay aimed at another subscription (ADR 0030) and
 * handles one aimed at itself or at nobody (the analytics sink's own test covers the sink).
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { describe, expect, it, vi } from 'vitest';
import type { WebhooksDeps } from '../../app/webhooks/webhooks-deps.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { createWebhookDispatcherHandler } from './webhook-dispatcher.js';

const logger = () => {
  const error = vi.fn<(message: string, fields?: Record<string, unknown>) => void>();
  const log: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error };
  return { log, error };
};

/** A message that is not a DomainEvent: a consumer that handles it refuses it (the sink throws, the dispatcher logs). */
const message = (subscription: string | undefined, attributes: Record<string, string>): CloudEvent<never> => ({
  specversion: '1.0', id: 'm1', type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//pubsub.googleapis.com/projects/p/topics/domain-events',
  data: {
    message: { data: Buffer.from('not a DomainEvent').toString('base64'), messageId: 'm1', attributes },
    ...(subscription === undefined ? {} : { subscription: `projects/p/subscriptions/${subscription}` }),
  } as never,
});

describe('consumers of domain-events and replay targets', () => {
  it('webhookDispatcher: acks a replay aimed at another subscription without looking at it; handles its own and untargeted ones', async () => {
    const { log, error } = logger();
    const handler = createWebhookDispatcherHandler({ webhooks: {} as WebhooksDeps, logger: log });
    await handler(message('webhook-dispatcher', { eventId: 'e1', tallyReplayTarget: 'analytics-sink' }));
    expect(error).not.toHaveBeenCalled();
    await handler(message('webhook-dispatcher', { eventId: 'e1', tallyReplayTarget: 'webhook-dispatcher' }));
    await handler(message('webhook-dispatcher', { eventId: 'e1' }));
    expect(error).toHaveBeenCalledTimes(2);
    // Deployed, a push request's CloudEvent may not name the subscription: it is the dispatcher's own.
    await handler(message(undefined, { eventId: 'e1', tallyReplayTarget: 'analytics-sink' }));
    expect(error).toHaveBeenCalledTimes(2);
    await handler(message(undefined, { eventId: 'e1', tallyReplayTarget: 'webhook-dispatcher' }));
    expect(error).toHaveBeenCalledTimes(3);
  });
});
