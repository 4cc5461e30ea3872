/**
 * analyticsSink in its own process for bench:sink, wired as `npm start` wires it (the bridge on
 * `domain-events` with the deployed subscription policy, the composed sink, the real ClickHouse),
 * so that its peak RSS is the sink's alone. Prints `sink ready` once subscribed. On stdin,
 * `pause` closes the subscriber (the subscription keeps what is published meanwhile: a backlog)
 * and prints `sink paused`; `resume` subscribes again and prints `sink resumed`, so the bench can
 * time the sink draining a backlog with its JIT and ClickHouse connections warm. On SIGTERM it
 * stops and prints `sink peakRssMb <n>` (process.resourceUsage().maxRSS) before exiting.
 */
import { createInterface } from 'node:readline';
import { PubSub } from '@google-cloud/pubsub';
import { bridgeTopicToHandler, highVolumeStreamsMax, type Bridge } from '../emulators/pubsub-bridge.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { composeAnalyticsSink, sinkInFlightMax } from '../functions/src/compose-analytics.js';
import { parseConfig } from '../functions/src/platform/config/config.js';
import { createLogger } from '../functions/src/platform/telemetry/logger.js';

const config = parseConfig();
const logger = createLogger({ projectId: config.projectId, level: 'WARNING' });
const client = new PubSub({ projectId: config.projectId });
const analytics = composeAnalyticsSink(config, logger);
const subscribe = () => bridgeTopicToHandler({
  client, projectId: config.projectId, topic: 'domain-events', subscription: process.env.BENCH_SINK_SUBSCRIPTION ?? 'analytics-sink',
  policy: subscriptionPolicies['analytics-sink'], inFlightMax: sinkInFlightMax(config), streamsMax: Number(process.env.BENCH_SINK_STREAMS ?? highVolumeStreamsMax),
  handler: analytics.handler,
  onError: (error) => logger.warn('analyticsSink failed (will be redelivered)', { error }),
});
let bridge: Bridge | undefined = await subscribe();
process.stdout.write('sink ready\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  void (async () => {
    if (line === 'pause' && bridge) {
      await bridge.stop();
      bridge = undefined;
      process.stdout.write('sink paused\n');
    } else if (line === 'resume' && !bridge) {
      bridge = await subscribe();
      process.stdout.write('sink resumed\n');
    }
  })();
});
process.once('SIGTERM', () => {
  void (async () => {
    await bridge?.stop();
    await analytics.close();
    await client.close();
    process.stdout.write(`sink peakRssMb ${Math.round(process.resourceUsage().maxRSS / 1024)}\n`);
    process.exit(0);
  })();
});
// BENCH_SINK_TRACE=1: the sink's progress every 250 ms on stderr (is it fed, or writing?).
if (process.env.BENCH_SINK_TRACE) {
  let lastEvents = 0;
  let lastAtMs = performance.now();
  setInterval(() => {
    const stats = analytics.sink.stats();
    const nowMs = performance.now();
    const perSec = Math.round((stats.eventsWritten - lastEvents) / ((nowMs - lastAtMs) / 1000));
    process.stderr.write(`bench:sink: [sink] waiting ${stats.waitingEvents}, batches ${stats.batchesWritten}, events ${stats.eventsWritten}, ${perSec}/s\n`);
    lastEvents = stats.eventsWritten;
    lastAtMs = nowMs;
  }, 250).unref();
}
