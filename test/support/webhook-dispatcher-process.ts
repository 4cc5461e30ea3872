/**
 * The webhookDispatcher as `npm start` runs it, in a process of its own so that a test can SIGKILL
 * it mid-delivery (test/webhooks.test.ts, "a dispatcher process killed ..."): the config from the
 * environment, the services composed as deployed, `domain-events` fed through the local Pub/Sub
 * bridge with the webhook-dispatcher subscription policy, and (when
 * TALLY_WEBHOOK_RETRIER_INTERVAL_MS is set, as npm start reads it) the retrier on that interval.
 *
 * Environment beyond the config's: TALLY_TEST_DISPATCHER_SUBSCRIPTION (the bridge's subscription,
 * created with the policy on first use, kept across processes) and TALLY_TEST_DISPATCHER_TENANT (the
 * only tenant it handles: the emulators are shared by every test file). Prints `{"ready":true}` once
 * the subscription is being pulled; SIGTERM stops it cleanly. Its retrier, like any, claims every
 * due delivery of its emulator project (GCLOUD_PROJECT), not only that tenant's: give it a project
 * whose other deliveries may be attempted (the test's own stack's).
 *
 *   spawn(process.execPath, ['--import', 'tsx', 'test/support/webhook-dispatcher-process.ts'], { env })
 */
import { bridgeTopicToHandler } from '../../emulators/pubsub-bridge.js';
import { subscriptionPolicies } from '../../functions/src/adapters/pubsub/subscription-policies.js';
import { domainEventsTopic } from '../../functions/src/app/outbox/outbox-message.js';
import { composeServices } from '../../functions/src/compose.js';
import { createWebhookDispatcherHandler, createWebhookRetrierHandler } from '../../functions/src/handlers/pubsub/webhook-dispatcher.js';
import { parseConfig } from '../../functions/src/platform/config/config.js';
import { forTenantsOf } from './webhook-rig.js';

const subscription = process.env.TALLY_TEST_DISPATCHER_SUBSCRIPTION;
const tenantId = process.env.TALLY_TEST_DISPATCHER_TENANT;
if (!subscription || !tenantId) throw new Error('webhook-dispatcher-process: set TALLY_TEST_DISPATCHER_SUBSCRIPTION and TALLY_TEST_DISPATCHER_TENANT');

const services = composeServices(parseConfig());
const bridge = await bridgeTopicToHandler({
  client: services.bus.client, projectId: services.config.projectId, topic: domainEventsTopic, subscription,
  policy: subscriptionPolicies['webhook-dispatcher'],
  handler: forTenantsOf({ tenantIds: new Set([tenantId]) }, createWebhookDispatcherHandler({ webhooks: services.webhooks, logger: services.logger })),
  onError: (error) => services.logger.warn('webhookDispatcher failed (will be redelivered)', { error }),
});
const retrierIntervalMs = Number(process.env.TALLY_WEBHOOK_RETRIER_INTERVAL_MS ?? 0);
const retry = createWebhookRetrierHandler({ webhooks: services.webhooks, logger: services.logger });
const retrier = retrierIntervalMs > 0
  ? setInterval(() => { retry().catch((error: unknown) => services.logger.error('webhook retrier failed', { error })); }, retrierIntervalMs)
  : undefined;
process.once('SIGTERM', () => {
  clearInterval(retrier);
  void bridge.stop().finally(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
