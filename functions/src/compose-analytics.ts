/**
 * Composition of the `analyticsSink` deployable (ADR 0029): ClickHouse client, store and event
 * sink, from the parsed config. Apart from composeServices because the sink needs none of
 * Firestore, the PSPs or the API: an instance of it builds only this.
 */
import { createClickHouseAnalyticsEventStore } from './adapters/clickhouse/analytics-event-store.js';
import { createClickHouseClient, type ClickHouseClient } from './adapters/clickhouse/clickhouse-client.js';
import { subscriptionPolicies } from './adapters/pubsub/subscription-policies.js';
import { createEventSink, type EventSink, type EventSinkOptions } from './app/analytics/event-sink.js';
import { createAnalyticsSinkHandler } from './handlers/pubsub/analytics-sink.js';
import type { Config } from './platform/config/config.js';
import { systemTimers, type TimerClock } from './platform/resilience/clock.js';
import type { Logger } from './platform/telemetry/logger.js';

export interface AnalyticsSinkServices {
  client: ClickHouseClient;
  sink: EventSink;
  /** The `analyticsSink` CloudEvent handler. */
  handler: ReturnType<typeof createAnalyticsSinkHandler>;
  close(): Promise<void>;
}

/** Batches written at once by one sink (the event sink's flushesInFlightMax). */
export const sinkFlushesInFlightMax = 4;

/**
 * Messages a pull feeder (the local bridge) should hand the sink at once: twice what the batches
 * written at once hold, so that the next batches gather while those are written. With only one
 * set (the figure before, ADR 0029) the pipeline stopped and went: the writes held every message
 * flow control allowed, nothing arrived until their acks, and the sink's rate was about
 * 1 / (receive time + write time) instead of 1 / max of the two (bench:sink ratio 0.41 -> see
 * README). Never more than the sink holds (`waitingEventsMax`), which would refuse the excess.
 * (Deployed, push concurrency per instance plays this part: max_instance_request_concurrency.)
 */
export function sinkInFlightMax(config: Config): number {
  return Math.min(config.analyticsSink.waitingEventsMax, 2 * sinkFlushesInFlightMax * config.analyticsSink.batchRowsMax);
}

export function composeAnalyticsSink(config: Config, logger: Logger, overrides: { timers?: TimerClock; afterWrite?: EventSinkOptions['afterWrite'] } = {}): AnalyticsSinkServices {
  const timers = overrides.timers ?? systemTimers;
  const client = createClickHouseClient(config.clickhouse);
  const sink = createEventSink({
    store: createClickHouseAnalyticsEventStore(client, timers),
    timers,
    batchRowsMax: config.analyticsSink.batchRowsMax,
    batchBytesMax: config.analyticsSink.batchBytesMax,
    batchAgeMs: config.analyticsSink.batchAgeMs,
    waitingEventsMax: config.analyticsSink.waitingEventsMax,
    flushesInFlightMax: sinkFlushesInFlightMax,
    ...(overrides.afterWrite ? { afterWrite: overrides.afterWrite } : {}),
  });
  return {
    client, sink, handler: createAnalyticsSinkHandler({ sink, logger, subscription: subscriptionPolicies['analytics-sink'].subscription }),
    close: async () => {
      await sink.flush();
      await client.close();
    },
  };
}
