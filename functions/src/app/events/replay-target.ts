/**
 * How a replay reaches one consumer only (ADR 0030). A replay is published to the source topic
 * (every subscription of it receives the message) with the attribute `tallyReplayTarget` naming the
 * one subscription it is for; every consumer acks and skips a message aimed at another
 * subscription. Pub/Sub subscription filters would do this server side, but the emulator stores a
 * filter without applying it (checked with gcloud 528), so the rule lives in the consumers' code,
 * the same locally and deployed. Consumers dedupe by event id anyway: a consumer that forgot the
 * check would do redundant work, never count twice.
 */

/** Attribute naming the only subscription a replayed message is for. */
export const replayTargetAttribute = 'tallyReplayTarget';
/** Attribute saying where a replayed message came from: `outbox` or `dead-letter`. */
export const replaySourceAttribute = 'tallyReplaySource';

/** The attributes Pub/Sub adds when it dead-letters a message (documented by Google; checked on the emulator). */
export const deadLetterAttributes = {
  sourceSubscription: 'CloudPubSubDeadLetterSourceSubscription',
  sourceSubscriptionProject: 'CloudPubSubDeadLetterSourceSubscriptionProject',
  sourceDeliveryCount: 'CloudPubSubDeadLetterSourceDeliveryCount',
  sourceTopicPublishTime: 'CloudPubSubDeadLetterSourceTopicPublishTime',
} as const;

/**
 * The consumers `tally events replay --consumer` can target, by name: the subscription on
 * `domain-events` each one reads. `all` targets no subscription (every consumer gets the replay).
 */
export const replayConsumers: Readonly<Record<string, string>> = { analytics: 'analytics-sink' };

/** `projects/p/subscriptions/x` (as a push CloudEvent names it) or `x` -> `x`. */
export function subscriptionShortName(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash === -1 ? name : name.slice(slash + 1);
}

/**
 * True when the message is a replay aimed at another subscription: the consumer reading
 * `subscription` (short name or full path) must ack it and do nothing.
 */
export function isForOtherSubscription(attributes: Readonly<Record<string, string>> | undefined, subscription: string): boolean {
  const target = attributes?.[replayTargetAttribute];
  if (target === undefined || target === '') return false;
  return target !== subscriptionShortName(subscription);
}

/**
 * The attributes of a dead-lettered message re-published to its source topic: the original ones
 * without Pub/Sub's dead-letter bookkeeping (it would otherwise pile up on a second dead-lettering)
 * and without an older replay's target, plus the target (its source subscription).
 */
export function replayedDeadLetterAttributes(attributes: Readonly<Record<string, string>>, sourceSubscription: string): Record<string, string> {
  const kept = Object.entries(attributes).filter(([k]) => !k.startsWith('CloudPubSubDeadLetter') && k !== replayTargetAttribute && k !== replaySourceAttribute);
  return { ...Object.fromEntries(kept), [replayTargetAttribute]: sourceSubscription, [replaySourceAttribute]: 'dead-letter' };
}
