/**
 * AnalyticsEventStore on ClickHouse: one INSERT per table a batch has rows for (JSONEachRow, all
 * tables at once). An INSERT that ClickHouse acknowledged is written to its parts; a failed one
 * fails the batch, which the sink's caller retries whole (rows are keyed by event id: a retry that
 * writes some table twice leaves one row as FINAL / argMax reads see it).
 */
import type { AnalyticsEventStore, PreparedEvent } from '../../ports/analytics-events.js';
import type { Clock } from '../../ports/clock.js';
import type { ClickHouseClient } from './clickhouse-client.js';
import { analyticsTables, eventRows, mergeRows, type EventRows } from './event-rows.js';

export function createClickHouseAnalyticsEventStore(client: ClickHouseClient, clock: Clock): AnalyticsEventStore {
  return {
    prepare(event) {
      // The version column: when the sink took the event (which of identical copies survives a merge does not matter).
      const rows = eventRows(event, clock.nowMs());
      // The raw row dominates the size: its payload plus the envelope's strings, twice over for the typed rows at most.
      const sizeBytes = 2 * (event.payloadJson.length + event.eventId.length + event.tenantId.length + event.aggregateId.length + event.type.length + 160);
      return { eventId: event.eventId, sizeBytes, rows };
    },
    async insert(events: readonly PreparedEvent[]) {
      const rows = mergeRows(events.map((e) => e.rows as EventRows));
      await Promise.all(analyticsTables.filter((table) => rows[table].length > 0).map((table) =>
        client.insert({ table, values: rows[table], format: 'JSONEachRow' })));
    },
  };
}
