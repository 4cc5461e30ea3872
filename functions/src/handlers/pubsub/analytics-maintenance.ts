/**
 * `analyticsMaintenance`: a monthly scheduler tick -> the analytics retention (ADR 0029 decision 9,
 * `npx tally analytics retention` without `--dry-run`): monthly partitions older than the
 * retention are dropped, at most `partitionsMax` per run, oldest first, each logged.
 *
 * Idempotent: each run reads the partitions left from ClickHouse (`system.parts`), so a redelivered
 * or duplicated tick drops only what is still there (nothing, after a complete run). A run that hits
 * its bound fails the delivery after its drops (logged as an error): Pub/Sub redelivers the tick
 * after the subscription's backoff and the next delivery continues; after the policy's attempts it
 * is dead-lettered to `ticks-dlq`, which someone sees. Never acked with work silently left for a
 * month.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { ClickHouseClient } from '../../adapters/clickhouse/clickhouse-client.js';
import { analyticsRetentionMonthsDefault, applyAnalyticsRetention, retentionPartitionsMaxDefault, type RetentionResult } from '../../adapters/clickhouse/retention.js';
import type { Logger } from '../../platform/telemetry/logger.js';

export class RetentionBoundReachedError extends Error {
  override readonly name = 'RetentionBoundReachedError';
}

export function createAnalyticsMaintenanceHandler(deps: {
  client: ClickHouseClient;
  logger: Logger;
  nowMs: () => number;
  retentionMonths?: number;
  partitionsMax?: number;
}) {
  const retentionMonths = deps.retentionMonths ?? analyticsRetentionMonthsDefault;
  const partitionsMax = deps.partitionsMax ?? retentionPartitionsMaxDefault;
  return async (event: CloudEvent<unknown>): Promise<RetentionResult> => {
    const result = await applyAnalyticsRetention(deps.client, {
      nowMs: deps.nowMs(), retentionMonths, partitionsMax, dryRun: false,
      onPartition: (p) => deps.logger.info('analytics retention: dropping partition', { eventId: event.id, table: p.table, partition: p.partition, rows: p.rows }),
    });
    const summary = { eventId: event.id, database: result.database, keepFromMonth: result.keepFromMonth, retentionMonths, dropped: result.partitions.length, remaining: result.remaining };
    if (result.remaining > 0) {
      deps.logger.error('analytics retention: stopped at its bound with partitions left; the tick is redelivered to continue', { ...summary, partitionsMax });
      throw new RetentionBoundReachedError(`analytics retention: ${result.remaining} expired partitions left beyond ${partitionsMax} per run`);
    }
    deps.logger.info('analytics retention', summary);
    return result;
  };
}
