/**
 * Locally, Pub/Sub-triggered functions are fed by a pull subscription on the emulator: each
 * message becomes the same `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent that Eventarc
 * delivers in production; success acks, a throw nacks (so the emulator redelivers, as production
 * retries). Flow control bounds the messages in flight.
 *
 * The emulator redelivers a nacked message at once, so a failing handler would spin (about 40
 * error lines a second). The deployed subscriptions back off exponentially (Terraform's
 * `retry_policy`: 10 s doubling to 600 s for psp-events): the bridge does the same by holding a
 * failed message for the backoff of its delivery attempt before it nacks it.
 *
 * Given the subscription's `SubscriptionPolicy` (functions/src/adapters/pubsub/subscription-policies.ts,
 * the numbers Terraform declares), the bridge creates the emulator subscription with its ack
 * deadline, ordering and dead-letter policy, and the dead-letter topic with its hold subscription:
 * the emulator counts delivery attempts and dead-letters by itself (verified, ADR 0029), and the
 * bridge's backoff is the policy's retry policy. (The emulator subscription gets no retryPolicy: the
 * emulator honours it only roughly, and it would add its delay to the bridge's.)
 */
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { LRUCache } from 'lru-cache';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { SubscriptionPolicy } from '../functions/src/adapters/pubsub/subscription-policies.js';

/** How long acks (and nacks) wait to be sent together. */
const ackBatchMs = 5;

/** Streaming pulls for the high-volume consumers of domain-events (see `streamsMax`). */
export const highVolumeStreamsMax = 16;

export interface PubSubMessageData {
  message: { data: string; attributes: Record<string, string>; messageId: string; publishTime: string; orderingKey?: string };
  subscription: string;
  /** Pub/Sub's count of deliveries of this message to this subscription (with a dead-letter policy only), as in a push body. */
  deliveryAttempt?: number;
}

export interface Bridge { stop(): Promise<void> }

/** A subscription's retry policy: the delay before redelivery doubles per failed attempt. */
export interface RetryBackoff {
  minimumMs: number;
  maximumMs: number;
}

/** Terraform's retry_policy of the process-psp-event subscription. */
export const deployedRetryBackoff: RetryBackoff = { minimumMs: 10_000, maximumMs: 600_000 };

/** Messages whose failed attempts are remembered (beyond it the oldest restarts at the minimum). */
const attemptsRememberedMax = 10_000;

/** The hold before redelivering after failed attempt number `attempt` (1-based). */
export function retryDelayMs(attempt: number, backoff: RetryBackoff): number {
  return Math.min(backoff.maximumMs, backoff.minimumMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

export async function bridgeTopicToHandler(options: {
  client: PubSub;
  projectId: string;
  topic: string;
  subscription: string;
  handler: (event: CloudEvent<PubSubMessageData>) => Promise<void>;
  inFlightMax?: number;
  /**
   * Streaming pulls the subscriber keeps open (the client's default is 5). The emulator paces each
   * stream (measured here: about 1,900 messages/s per stream, 9,700/s with 5, 32,000/s with 20), so
   * a high-volume consumer needs more of them to be fed as fast as it can work.
   */
  streamsMax?: number;
  onError?: (error: unknown) => void;
  /** Documented default: the policy's retry policy, else `deployedRetryBackoff` (as deployed). Tests may shorten it. */
  retryBackoff?: RetryBackoff;
  /**
   * The subscription's delivery policy (ack deadline, ordering, retry, dead letters). Its dead-letter
   * topic and hold subscription keep their names when `subscription` is the policy's own; a test's
   * differently named subscription gets `<subscription>-dlq` and `<subscription>-dlq-hold`.
   */
  policy?: SubscriptionPolicy;
}): Promise<Bridge> {
  const policy = options.policy;
  const backoff = options.retryBackoff ?? (policy ? { minimumMs: policy.retryMinimumBackoffMs, maximumMs: policy.retryMaximumBackoffMs } : deployedRetryBackoff);
  if (!(backoff.minimumMs >= 0 && backoff.maximumMs >= backoff.minimumMs)) throw new Error('pubsub bridge: retryBackoff needs 0 <= minimumMs <= maximumMs');
  const failedAttempts = new LRUCache<string, number>({ max: attemptsRememberedMax });
  const held = new Map<NodeJS.Timeout, Message>();
  const topic = options.client.topic(options.topic);
  const [topicExists] = await topic.exists();
  if (!topicExists) await options.client.createTopic(options.topic).catch((e: { code?: number }) => { if (e.code !== 6) throw e; });
  let subscription: Subscription = topic.subscription(options.subscription);
  const [subExists] = await subscription.exists();
  if (!subExists && policy) {
    const ownNames = options.subscription === policy.subscription;
    const deadLetterTopic = ownNames ? policy.deadLetterTopic : `${options.subscription}-dlq`;
    const hold = ownNames ? policy.deadLetterHoldSubscription : `${options.subscription}-dlq-hold`;
    const dlq = options.client.topic(deadLetterTopic);
    if (!(await dlq.exists())[0]) await options.client.createTopic(deadLetterTopic).catch((e: { code?: number }) => { if (e.code !== 6) throw e; });
    if (!(await dlq.subscription(hold).exists())[0]) await dlq.createSubscription(hold, { ackDeadlineSeconds: 60 }).catch((e: { code?: number }) => { if (e.code !== 6) throw e; });
    [subscription] = await topic.createSubscription(options.subscription, {
      ackDeadlineSeconds: policy.ackDeadlineSeconds, enableMessageOrdering: policy.messageOrdering,
      deadLetterPolicy: { deadLetterTopic: `projects/${options.projectId}/topics/${deadLetterTopic}`, maxDeliveryAttempts: policy.maxDeliveryAttempts },
    });
  } else if (!subExists) {
    [subscription] = await topic.createSubscription(options.subscription, { ackDeadlineSeconds: 30, enableMessageOrdering: true });
  }
  subscription = options.client.subscription(options.subscription, {
    flowControl: { maxMessages: options.inFlightMax ?? 64, allowExcessMessages: false },
    // The client frees a message's flow-control slot only when its ack batch is sent (default: up
    // to 100 ms later), so a handler done in 30 ms held its slot for 130: with 80 in flight that
    // capped webhookDispatcher at about 600 events/s. A push subscription (deployed) frees the
    // request at once; 5 ms batches keep the bridge close to that.
    batching: { maxMilliseconds: ackBatchMs },
    ...(options.streamsMax === undefined ? {} : { streamingOptions: { maxStreams: options.streamsMax } }),
  });
  subscription.on('message', (message) => {
    const publishTime = message.publishTime.toISOString();
    const event: CloudEvent<PubSubMessageData> = {
      specversion: '1.0',
      id: message.id,
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      source: `//pubsub.googleapis.com/projects/${options.projectId}/topics/${options.topic}`,
      time: publishTime,
      data: {
        message: {
          data: message.data.toString('base64'), attributes: { ...message.attributes }, messageId: message.id,
          publishTime, ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
        },
        subscription: `projects/${options.projectId}/subscriptions/${options.subscription}`,
        ...(message.deliveryAttempt > 0 ? { deliveryAttempt: message.deliveryAttempt } : {}),
      },
    };
    options.handler(event).then(() => {
      failedAttempts.delete(message.id);
      message.ack();
    }, (error: unknown) => {
      options.onError?.(error);
      const attempt = (failedAttempts.get(message.id) ?? 0) + 1;
      failedAttempts.set(message.id, attempt);
      // Held messages count against flow control, as an unacked message does in production.
      const timer = setTimeout(() => {
        held.delete(timer);
        message.nack();
      }, retryDelayMs(attempt, backoff));
      held.set(timer, message);
    });
  });
  subscription.on('error', (error) => options.onError?.(error));
  return {
    stop: async () => {
      for (const [timer, message] of held) {
        clearTimeout(timer);
        message.nack();
      }
      held.clear();
      await subscription.close();
    },
  };
}
