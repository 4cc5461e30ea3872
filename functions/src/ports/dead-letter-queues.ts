/**
 * Dead-letter queues as `tally events dlq` sees them (ADR 0030): every subscription with a
 * dead-letter policy sends what it gave up on to its dead-letter topic, where a pull subscription
 * (the hold) keeps it. Messages pulled from a hold are leased: `ack` removes them, `release` hands
 * them back at once for the next reader.
 */

/** A subscription with a dead-letter policy, and where its dead letters wait. */
export interface DeadLetterRoute {
  /** Short name of the subscription that gave up (what `CloudPubSubDeadLetterSourceSubscription` says). */
  sourceSubscription: string;
  /** Short name of the topic it reads: a replay is published there. */
  sourceTopic: string;
  /** Short name of its dead-letter topic (several subscriptions may share one). */
  deadLetterTopic: string;
  /** Short names of the pull subscriptions on the dead-letter topic (normally one, the hold). */
  holdSubscriptions: string[];
  maxDeliveryAttempts: number;
}

/** One dead-lettered message, leased by the reader until acked or released. */
export interface DeadLetterMessage {
  /** The lease handle (ack / release). */
  ackId: string;
  /** Message id on the dead-letter topic. */
  messageId: string;
  data: Uint8Array;
  attributes: Record<string, string>;
  orderingKey: string;
  /** When it was published to the dead-letter topic, ms since the epoch. */
  publishTimeMs: number;
}

export interface DeadLetterQueues {
  /** Every subscription of the project with a dead-letter policy, by name (bounded pages). */
  routes(): Promise<DeadLetterRoute[]>;
  /** At most `max` messages waiting on a hold subscription, leased for `leaseSeconds`; [] when none. */
  pull(holdSubscription: string, max: number, leaseSeconds: number): Promise<DeadLetterMessage[]>;
  /** Removes leased messages for good (after their replay is published). */
  ack(holdSubscription: string, ackIds: readonly string[]): Promise<void>;
  /** Hands leased messages back at once (listed, or not this reader's to replay). */
  release(holdSubscription: string, ackIds: readonly string[]): Promise<void>;
}
