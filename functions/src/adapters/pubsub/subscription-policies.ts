/**
 * Delivery policy of every Pub/Sub subscription Tally owns, in one place (issue 13 item 1, ADR
 * 0029): Terraform declares the same numbers (test/terraform.test.ts compares each
 * google_pubsub_subscription with its entry here, and back), and the local bridge
 * (emulators/pubsub-bridge.ts) creates its emulator subscriptions from these entries, so a message
 * is retried and dead-lettered locally as it is when deployed.
 *
 * Verified on the Pub/Sub emulator (gcloud 528, README "Dead letters"): it honours
 * `deadLetterPolicy` itself (deliveryAttempt 1..N, then the message goes to the dead-letter
 * topic with `CloudPubSubDeadLetterSource*` attributes), so no bridge logic counts attempts. Its
 * `retryPolicy` is only roughly honoured (the first redeliveries come early), so locally the bridge
 * holds a failed message for the exact backoff before nacking, and the emulator subscription gets
 * no retryPolicy of its own (it would add a second delay).
 */

export interface SubscriptionPolicy {
  /** Subscription name (Terraform's `name`). */
  subscription: string;
  /** The topic it reads. */
  topic: string;
  ackDeadlineSeconds: number;
  /** Retry policy: redelivery after a failure waits from the minimum, doubling to the maximum. */
  retryMinimumBackoffMs: number;
  retryMaximumBackoffMs: number;
  /** After this many deliveries a message goes to `deadLetterTopic` (Pub/Sub allows 5..100). */
  maxDeliveryAttempts: number;
  deadLetterTopic: string;
  /** The pull subscription on the dead-letter topic that keeps dead letters for `tally events dlq`. */
  deadLetterHoldSubscription: string;
  messageOrdering: boolean;
}

const ticks = (subscription: string, topic: string): SubscriptionPolicy => ({
  subscription, topic, ackDeadlineSeconds: 300, retryMinimumBackoffMs: 10_000, retryMaximumBackoffMs: 300_000,
  // A tick that keeps failing is superseded by the next one; the shared DLQ shows that it happened.
  maxDeliveryAttempts: 5, deadLetterTopic: 'ticks-dlq', deadLetterHoldSubscription: 'ticks-dlq-hold', messageOrdering: false,
});

/** Every subscription Tally owns, by subscription name. */
export const subscriptionPolicies = {
  'process-psp-event': {
    subscription: 'process-psp-event', topic: 'psp-events', ackDeadlineSeconds: 60, retryMinimumBackoffMs: 10_000, retryMaximumBackoffMs: 600_000,
    maxDeliveryAttempts: 20, deadLetterTopic: 'psp-events-dlq', deadLetterHoldSubscription: 'psp-events-dlq-hold', messageOrdering: true,
  },
  // ClickHouse down: 20 attempts from 10 s doubling to 600 s is about 2.6 hours of retries before
  // a message is dead-lettered (and replayable: the DLQ hold keeps it 7 days, the outbox longer).
  'analytics-sink': {
    subscription: 'analytics-sink', topic: 'domain-events', ackDeadlineSeconds: 60, retryMinimumBackoffMs: 10_000, retryMaximumBackoffMs: 600_000,
    maxDeliveryAttempts: 20, deadLetterTopic: 'analytics-sink-dlq', deadLetterHoldSubscription: 'analytics-sink-dlq-hold', messageOrdering: false,
  },
  // Firestore down: the deliveries of an event are recorded before the ack, so a message is
  // retried (10 s doubling to 600 s) and dead-lettered after 20 attempts, replayable from the outbox.
  'webhook-dispatcher': {
    subscription: 'webhook-dispatcher', topic: 'domain-events', ackDeadlineSeconds: 60, retryMinimumBackoffMs: 10_000, retryMaximumBackoffMs: 600_000,
    maxDeliveryAttempts: 20, deadLetterTopic: 'webhook-dispatcher-dlq', deadLetterHoldSubscription: 'webhook-dispatcher-dlq-hold', messageOrdering: false,
  },
  // A run that fails on Firestore is retried (10 s doubling to 600 s; runs are idempotent by report
  // hash + line) and dead-lettered after 10 attempts; re-upload or `tally events dlq replay` requeues it.
  'recon-run': {
    subscription: 'recon-run', topic: 'recon-requests', ackDeadlineSeconds: 540, retryMinimumBackoffMs: 10_000, retryMaximumBackoffMs: 600_000,
    maxDeliveryAttempts: 10, deadLetterTopic: 'recon-run-dlq', deadLetterHoldSubscription: 'recon-run-dlq-hold', messageOrdering: false,
  },
  'webhook-retrier': ticks('webhook-retrier', 'ticks-webhooks'),
  'ledger-maintenance': ticks('ledger-maintenance', 'ticks-ledger'),
  'payment-janitor': ticks('payment-janitor', 'ticks-janitor'),
  'outbox-sweeper': ticks('outbox-sweeper', 'ticks-outbox'),
  'billing-run': ticks('billing-run', 'ticks-billing'),
  // Monthly analytics retention (ADR 0029 decision 9): a run stopped at its bound fails, so the tick is redelivered to continue.
  'analytics-maintenance': ticks('analytics-maintenance', 'ticks-analytics'),
} as const satisfies Record<string, SubscriptionPolicy>;

export type SubscriptionName = keyof typeof subscriptionPolicies;
