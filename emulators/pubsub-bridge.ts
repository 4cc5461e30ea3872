/**
 * Locally, Pub/Sub-triggered functions are fed by a pull subscription on the emulator: each
 * message becomes the same `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent that Eventarc
 * delivers in production; success acks, a throw nacks (so the emulator redelivers, as production
 * retries). Flow control bounds the messages in flight.
 */
import type { PubSub, Subscription } from '@google-cloud/pubsub';
import type { CloudEvent } from '@google-cloud/functions-framework';

export interface PubSubMessageData {
  message: { data: string; attributes: Record<string, string>; messageId: string; publishTime: string; orderingKey?: string };
  subscription: string;
}

export interface Bridge { stop(): Promise<void> }

export async function bridgeTopicToHandler(options: {
  client: PubSub;
  projectId: string;
  topic: string;
  subscription: string;
  handler: (event: CloudEvent<PubSubMessageData>) => Promise<void>;
  inFlightMax?: number;
  onError?: (error: unknown) => void;
}): Promise<Bridge> {
  const topic = options.client.topic(options.topic);
  const [topicExists] = await topic.exists();
  if (!topicExists) await options.client.createTopic(options.topic).catch((e: { code?: number }) => { if (e.code !== 6) throw e; });
  let subscription: Subscription = topic.subscription(options.subscription);
  const [subExists] = await subscription.exists();
  if (!subExists) {
    [subscription] = await topic.createSubscription(options.subscription, { ackDeadlineSeconds: 30, enableMessageOrdering: true });
  }
  subscription = options.client.subscription(options.subscription, { flowControl: { maxMessages: options.inFlightMax ?? 64, allowExcessMessages: false } });
  subscription.on('message', (message) => {
    const event: CloudEvent<PubSubMessageData> = {
      specversion: '1.0',
      id: message.id,
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      source: `//pubsub.googleapis.com/projects/${options.projectId}/topics/${options.topic}`,
      time: message.publishTime.toISOString(),
      data: {
        message: {
          data: message.data.toString('base64'), attributes: { ...message.attributes }, messageId: message.id,
          publishTime: message.publishTime.toISOString(), ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
        },
        subscription: `projects/${options.projectId}/subscriptions/${options.subscription}`,
      },
    };
    options.handler(event).then(() => message.ack(), (error: unknown) => {
      options.onError?.(error);
      message.nack();
    });
  });
  subscription.on('error', (error) => options.onError?.(error));
  return { stop: () => subscription.close() };
}
