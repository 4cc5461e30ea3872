import { PubSub, type Topic } from '@google-cloud/pubsub';
import type { EventBus } from '../../ports/event-bus.js';

/**
 * Pub/Sub publisher. With PUBSUB_EMULATOR_HOST set the client talks to the emulator. Topics are
 * created by terraform in production and by `ensureTopics` locally.
 */
export function createPubSubEventBus(projectId: string): EventBus & { client: PubSub; ensureTopics(names: readonly string[]): Promise<void> } {
  const client = new PubSub({ projectId });
  const topics = new Map<string, Topic>();
  const topic = (name: string, ordered: boolean): Topic => {
    const key = `${name}:${ordered}`;
    let t = topics.get(key);
    if (!t) {
      t = client.topic(name, { messageOrdering: ordered, batching: { maxMessages: 100, maxMilliseconds: 5 } });
      topics.set(key, t);
    }
    return t;
  };
  return {
    client,
    async publish(name, data, attributes, orderingKey) {
      const t = topic(name, orderingKey !== undefined);
      try {
        return await t.publishMessage({ data: Buffer.from(data), attributes, ...(orderingKey ? { orderingKey } : {}) });
      } catch (error) {
        // After a failed publish the client pauses the ordering key (every later publish with it
        // fails at once) until resumed: the caller retries this message, so resume the key.
        if (orderingKey) t.resumePublishing(orderingKey);
        throw error;
      }
    },
    async ensureTopics(names) {
      for (const name of names) {
        const [exists] = await client.topic(name).exists();
        if (!exists) await client.createTopic(name).catch((error: { code?: number }) => { if (error.code !== 6) throw error; });
      }
    },
  };
}
