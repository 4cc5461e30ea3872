/**
 * Running aggregates of metered usage (issue 14, ADR 0035), pure. Each usage record is folded into
 * its period's aggregate when it is written (in the same transaction), so a renewal reads a few
 * aggregate documents instead of every record: its cost stays flat however much usage a period has.
 * The aggregate is kept in `USAGE_AGGREGATE_SHARDS` shards (a record's shard is chosen by its id) so
 * that concurrent reports of one subscription do not all contend for one document; a renewal merges
 * the shards. Every aggregation `aggregateUsage` offers (sum, max, last) merges exactly.
 */
import { createHash } from 'node:crypto';
import type { UsageAggregation } from './catalog.js';

/** Shards per (subscription, price, period): 8 writers at once each at the emulator's ~20 tx/s per document. */
export const USAGE_AGGREGATE_SHARDS = 8;

/** What the aggregate needs of a usage record. */
export interface UsageSample { readonly id: string; readonly quantity: bigint; readonly atMs: number; readonly createdAtMs: number }

/** The aggregate of some records of one period. */
export interface UsageAggregate {
  readonly count: number;
  readonly sum: bigint;
  readonly max: bigint;
  /** The latest record: by usage time, then by report time, then by id (ties: the later reported, as `aggregateUsage`); null when none. */
  readonly last: UsageSample | null;
}

export const emptyUsageAggregate: UsageAggregate = Object.freeze({ count: 0, sum: 0n, max: 0n, last: null });

const later = (a: UsageSample, b: UsageSample): boolean =>
  a.atMs !== b.atMs ? a.atMs > b.atMs : a.createdAtMs !== b.createdAtMs ? a.createdAtMs > b.createdAtMs : a.id > b.id;

/** `aggregate` with `record` folded in (the caller makes sure a record is folded once: its creation is idempotent). */
export function addUsage(aggregate: UsageAggregate, record: UsageSample): UsageAggregate {
  return {
    count: aggregate.count + 1,
    sum: aggregate.sum + record.quantity,
    max: record.quantity > aggregate.max ? record.quantity : aggregate.max,
    last: aggregate.last === null || later(record, aggregate.last) ? record : aggregate.last,
  };
}

/** The aggregate of the union of the shards' records. */
export function mergeUsageAggregates(shards: readonly UsageAggregate[]): UsageAggregate {
  return shards.reduce((a, b) => ({
    count: a.count + b.count, sum: a.sum + b.sum, max: b.max > a.max ? b.max : a.max,
    last: a.last === null ? b.last : b.last === null ? a.last : later(b.last, a.last) ? b.last : a.last,
  }), emptyUsageAggregate);
}

/** The billed quantity of a period from its aggregate: 0 when no record. */
export function usageQuantity(aggregate: UsageAggregate, aggregation: UsageAggregation): bigint {
  switch (aggregation) {
    case 'sum': return aggregate.sum;
    case 'max': return aggregate.max;
    case 'last': return aggregate.last?.quantity ?? 0n;
  }
}

/** The shard a record's aggregate lives in: stable, from its id. */
export function usageShardOf(recordId: string): number {
  return createHash('sha256').update(recordId).digest().readUInt32BE(0) % USAGE_AGGREGATE_SHARDS;
}
