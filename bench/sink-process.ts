/**
 * analyticsSink in its own process for bench:sink, wired as `npm start` wires it (the bridge on
 * `domain-events` with the deployed subscription policy, the composed sink, the real ClickHouse),
 * so that its peak RSS is the sink's alone. Prints `sink ready` once subscribed; on SIGTERM it
 * stops and prints `sink peakRssMb <n>` (process.resourceUsage().maxRSS) before exiting.
 */
import { PubSub } from '@google-cloud/pubsub';
import { bridgeTopicToHandler } from '../emulators/pubsub-bridge.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { composeAnalyticsSink, sinkInFlightMax } from '../functions/src/compose-analytics.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { createLogger } from '../functions/src/platform/telemetry/logger.js';

const config = parseConfig();
const logger = createLogger({ projectId: config.projectId, level: 'WARNING' });
const client = new PubSub({ projectId: config.projectId });
const analytics = composeAnalyticsSink(config, logger);
const bridge = await bridgeTopicToHandler({
  client, projectId: config.projectId, topic: 'domain-events', subscription: process.env.BENCH_SINK_SUBSCRIPTION ?? 'analytics-sink',
  policy: subscriptionPolicies['analytics-sink'], inFlightMax: sinkInFlightMax(config),
  handler: analytics.handler,
  onError: (error) => logger.warn('analyticsSink failed (will be redelivered)', { error }),
});
process.stdout.write('sink ready\n');
process.once('SIGTERM', () => {
  void (async () => {
    await bridge.stop();
    await analytics.close();
    await client.close();
    process.stdout.write(`sink peakRssMb ${Math.round(process.resourceUsage().maxRSS / 1024)}\n`);
    process.exit(0);
  })();
});
