/**
 * analyticsSink for integration tests, wired as `npm start` wires it: the local bridge on
 * `domain-events` with the deployed subscription policy (dead-letter topic included), feeding the
 * composed sink that writes to the real ClickHouse. Each call makes its own subscription (so two
 * test files never share deliveries); the retry backoff is shortened, every other number is the
 * policy's. Also: queries on ClickHouse for the assertions.
 */
import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { bridgeTopicToHandler, type Bridge, type RetryBackoff } from '../../emulators/pubsub-bridge.js';
import { createClickHouseClient, type ClickHouseClient } from '../../functions/src/adapters/clickhouse/clickhouse-client.js';
import { queryRows } from '../../functions/src/adapters/clickhouse/sql-query.js';
import { subscriptionPolicies } from '../../functions/src/adapters/pubsub/subscription-policies.js';
import { composeAnalyticsSink, sinkInFlightMax, type AnalyticsSinkServices } from '../../functions/src/compose-analytics.js';
import type { EventSinkOptions } from '../../functions/src/app/analytics/event-sink.js';
import { parseConfig } from '../../functions/src/platform/config/config.js';
import { createLogger } from '../../functions/src/platform/telemetry/logger.js';

export interface TestAnalyticsSink {
  subscription: string;
  deadLetterHold: string;
  services: AnalyticsSinkServices;
  /** Deliveries the handler got, by event id (attribute `eventId`; '' for messages without one). */
  deliveries: Map<string, number>;
  stop(): Promise<void>;
}

export const testRetryBackoff: RetryBackoff = { minimumMs: 50, maximumMs: 400 };

export async function startTestAnalyticsSink(options: {
  client: PubSub; projectId: string; clickhouseUrl?: string; env?: Record<string, string>;
  afterWrite?: EventSinkOptions['afterWrite']; retryBackoff?: RetryBackoff;
}): Promise<TestAnalyticsSink> {
  const config = parseConfig({ ...process.env, ...(options.clickhouseUrl ? { TALLY_CLICKHOUSE_URL: options.clickhouseUrl } : {}), ...options.env });
  const services = composeAnalyticsSink(config, createLogger({ projectId: options.projectId, level: 'ERROR' }), options.afterWrite ? { afterWrite: options.afterWrite } : {});
  const subscription = `analytics-sink-test-${randomUUID().slice(0, 8)}`;
  const deliveries = new Map<string, number>();
  const bridge: Bridge = await bridgeTopicToHandler({
    client: options.client, projectId: options.projectId, topic: 'domain-events', subscription,
    policy: subscriptionPolicies['analytics-sink'], retryBackoff: options.retryBackoff ?? testRetryBackoff,
    inFlightMax: sinkInFlightMax(config),
    handler: (event) => {
      const id = event.data?.message.attributes.eventId ?? '';
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      return services.handler(event);
    },
  });
  return {
    subscription, deadLetterHold: `${subscription}-dlq-hold`, services, deliveries,
    stop: async () => {
      await bridge.stop();
      await services.close();
    },
  };
}

/** A client on the test ClickHouse (database tally). */
export function testClickHouse(url = process.env.TALLY_CLICKHOUSE_URL ?? ''): ClickHouseClient {
  return createClickHouseClient(parseConfig({ ...process.env, TALLY_CLICKHOUSE_URL: url }).clickhouse);
}

/** Rows of `table` for one tenant (and one event, if given) as readers must read them (FINAL), ordered by event id. */
export async function finalRows<T = Record<string, string>>(client: ClickHouseClient, table: string, tenantId: string, eventId?: string): Promise<T[]> {
  return queryRows<T>(client, eventId === undefined
    ? { sql: `SELECT * FROM ${table} FINAL WHERE tenant_id = {tenantId:String} ORDER BY event_id`, params: { tenantId } }
    : { sql: `SELECT * FROM ${table} FINAL WHERE tenant_id = {tenantId:String} AND event_id = {eventId:String} ORDER BY event_id`, params: { tenantId, eventId } });
}
