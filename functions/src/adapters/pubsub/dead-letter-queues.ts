/**
 * Dead-letter queues on Pub/Sub (or its emulator): routes come from the subscriptions' own
 * dead-letter policies, so whatever Terraform or the local stack names them, `tally events dlq`
 * finds them. Messages are read with synchronous pull (v1 SubscriberClient), leased, then acked
 * or released (ack deadline 0).
 */
import { v1, type PubSub } from '@google-cloud/pubsub';
import type { DeadLetterMessage, DeadLetterQueues, DeadLetterRoute } from '../../ports/dead-letter-queues.js';

/** Subscriptions listed per page, and pages at most: a project with more is refused loudly. */
const subscriptionsPageSize = 1_000;
const subscriptionPagesMax = 20;
/** One pull RPC is bounded in time: an unanswered pull is an empty one. */
const pullTimeoutMs = 10_000;

const shortName = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

interface SubscriptionMetadata { name?: string | null; topic?: string | null; pushConfig?: { pushEndpoint?: string | null } | null;
  deadLetterPolicy?: { deadLetterTopic?: string | null; maxDeliveryAttempts?: number | null } | null }

export function createPubSubDeadLetterQueues(client: PubSub): DeadLetterQueues & { close(): Promise<void> } {
  let subscriber: v1.SubscriberClient | undefined;
  // The same endpoint and credentials as the PubSub client (the emulator's when PUBSUB_EMULATOR_HOST is set).
  const rpc = (): v1.SubscriberClient => (subscriber ??= new v1.SubscriberClient(client.options as ConstructorParameters<typeof v1.SubscriberClient>[0]));
  const path = (subscription: string): string => `projects/${client.projectId}/subscriptions/${shortName(subscription)}`;

  async function allSubscriptions(): Promise<SubscriptionMetadata[]> {
    const found: SubscriptionMetadata[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < subscriptionPagesMax; page++) {
      const [subs, , response] = await rpc().listSubscriptions({ project: `projects/${client.projectId}`, pageSize: subscriptionsPageSize, ...(pageToken ? { pageToken } : {}) }, { autoPaginate: false });
      found.push(...subs);
      pageToken = response?.nextPageToken ?? undefined;
      if (!pageToken) return found;
    }
    throw new Error(`more than ${subscriptionsPageSize * subscriptionPagesMax} subscriptions in project ${client.projectId}: refusing to guess the dead-letter routes`);
  }

  return {
    async routes() {
      const subs = await allSubscriptions();
      const pullSubsByTopic = new Map<string, string[]>();
      for (const s of subs) {
        if (!s.topic || !s.name || s.pushConfig?.pushEndpoint) continue;
        pullSubsByTopic.set(shortName(s.topic), [...(pullSubsByTopic.get(shortName(s.topic)) ?? []), shortName(s.name)]);
      }
      const routes: DeadLetterRoute[] = [];
      for (const s of subs) {
        const dlq = s.deadLetterPolicy?.deadLetterTopic;
        if (!dlq || !s.name || !s.topic) continue;
        routes.push({
          sourceSubscription: shortName(s.name), sourceTopic: shortName(s.topic), deadLetterTopic: shortName(dlq),
          holdSubscriptions: (pullSubsByTopic.get(shortName(dlq)) ?? []).sort(), maxDeliveryAttempts: s.deadLetterPolicy?.maxDeliveryAttempts ?? 5,
        });
      }
      return routes.sort((a, b) => a.sourceSubscription.localeCompare(b.sourceSubscription));
    },

    async pull(holdSubscription, max, leaseSeconds) {
      const [response] = await rpc().pull({ subscription: path(holdSubscription), maxMessages: max, returnImmediately: true }, { timeout: pullTimeoutMs })
        .catch((error: { code?: number }) => {
          // DEADLINE_EXCEEDED: nothing came within the bound, which is an empty pull.
          if (error.code === 4) return [{ receivedMessages: [] }] as const;
          throw error;
        });
      const received = response.receivedMessages ?? [];
      const ackIds = received.map((r) => r.ackId ?? '').filter((id) => id !== '');
      // The hold's own ack deadline may be short (10 s by default): lease for the caller's need.
      if (ackIds.length > 0) await rpc().modifyAckDeadline({ subscription: path(holdSubscription), ackIds, ackDeadlineSeconds: leaseSeconds });
      return received.map((r): DeadLetterMessage => {
        const m = r.message ?? {};
        const seconds = Number(m.publishTime?.seconds ?? 0);
        return {
          ackId: r.ackId ?? '', messageId: m.messageId ?? '', data: m.data instanceof Uint8Array ? m.data : Buffer.from(String(m.data ?? ''), 'base64'),
          attributes: { ...(m.attributes ?? {}) }, orderingKey: m.orderingKey ?? '', publishTimeMs: seconds * 1000 + Math.floor((m.publishTime?.nanos ?? 0) / 1e6),
        };
      });
    },

    async ack(holdSubscription, ackIds) {
      if (ackIds.length > 0) await rpc().acknowledge({ subscription: path(holdSubscription), ackIds: [...ackIds] });
    },

    async release(holdSubscription, ackIds) {
      if (ackIds.length > 0) await rpc().modifyAckDeadline({ subscription: path(holdSubscription), ackIds: [...ackIds], ackDeadlineSeconds: 0 });
    },

    async close() {
      await subscriber?.close();
    },
  };
}
