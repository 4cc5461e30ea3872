/**
 * Cloud Scheduler's billing tick, locally (issue 14, ADR 0035). Deployed, a scheduler job publishes
 * to `ticks-billing` every five minutes and the `billing-run` push subscription delivers it to the
 * `billingRun` function (terraform/billing.tf). Here a timer publishes the same tick to the Pub/Sub
 * emulator and the bridge delivers it, with the subscription's deployed policy (ack deadline, dead
 * letters to `ticks-dlq`), to the same handler: renewals and charges due on real time happen by
 * themselves under `npm start`. Test clocks still walk their own subscriptions on demand.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import type { Services } from '../functions/src/compose.js';
import { createBillingRunHandler } from '../functions/src/handlers/pubsub/billing-run.js';
import { bridgeTopicToHandler, type Bridge, type PubSubMessageData } from './pubsub-bridge.js';

/** Default local tick interval: every 30 s (deployed: every 5 minutes), `TALLY_BILLING_TICK_INTERVAL_MS` overrides. */
export const BILLING_TICK_INTERVAL_MS_DEFAULT = 30_000;

export interface BillingTicks {
  /** Ticks handled to the end (each a full `billingRun`). */
  handled(): number;
  stop(): Promise<void>;
}

export async function startBillingTicks(options: {
  services: Pick<Services, 'billing' | 'bus' | 'config' | 'logger'>;
  intervalMs: number;
  /** Test hook: the bridge's retry backoff (default: the subscription's deployed policy). */
  retryBackoff?: { minimumMs: number; maximumMs: number };
}): Promise<BillingTicks> {
  const { services } = options;
  if (!(Number.isSafeInteger(options.intervalMs) && options.intervalMs >= 100)) throw new Error('billing ticks: intervalMs must be an integer >= 100');
  const policy = subscriptionPolicies['billing-run'];
  const run = createBillingRunHandler({ billing: services.billing });
  let inFlight = 0;
  let handled = 0;
  const bridge: Bridge = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: policy.topic, subscription: policy.subscription, policy,
    ...(options.retryBackoff && { retryBackoff: options.retryBackoff }),
    // One run at a time, as one tick is small work: a tick arriving during a run waits for it.
    inFlightMax: 1,
    handler: async (event: CloudEvent<PubSubMessageData>) => {
      inFlight += 1;
      try {
        await run(event);
        handled += 1;
      } finally {
        inFlight -= 1;
      }
    },
    onError: (error) => services.logger.warn('billingRun failed (the tick is redelivered)', { error }),
  });
  const timer = setInterval(() => {
    // A run still going when the next tick is due: skipped (the run catches up; bounded work per run).
    if (inFlight > 0) return;
    services.bus.publish(policy.topic, new TextEncoder().encode(JSON.stringify({ tick: new Date().toISOString() })), {})
      .catch((error: unknown) => services.logger.error('billing tick: publish failed', { error }));
  }, options.intervalMs);
  return {
    handled: () => handled,
    async stop() {
      clearInterval(timer);
      await bridge.stop();
    },
  };
}
