import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usageAggregations } from './catalog.js';
import { aggregateUsage } from './pricing.js';
import { USAGE_AGGREGATE_SHARDS, addUsage, emptyUsageAggregate, mergeUsageAggregates, usageQuantity, usageShardOf, type UsageAggregate } from './usage-aggregate.js';

const period = { startMs: 1_000_000, endMs: 2_000_000 };

describe('usage aggregates', () => {
  it('folded per shard and merged, they bill exactly what aggregating every record does (sum, max, last; ties: the later reported)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ quantity: fc.bigInt({ min: 0n, max: 10n ** 12n }), atMs: fc.integer({ min: period.startMs, max: period.startMs + 20 }) }), { maxLength: 300 }),
      (raw) => {
        // Reported in array order (createdAtMs increasing), ids unique.
        const records = raw.map((r, i) => ({ id: `ur_${i}`, quantity: r.quantity, atMs: r.atMs, createdAtMs: 5_000_000 + i }));
        const shards: UsageAggregate[] = Array.from({ length: USAGE_AGGREGATE_SHARDS }, () => emptyUsageAggregate);
        for (const r of records) shards[usageShardOf(r.id)] = addUsage(shards[usageShardOf(r.id)]!, r);
        const merged = mergeUsageAggregates(shards);
        expect(merged.count).toBe(records.length);
        for (const aggregation of usageAggregations) {
          const expected = aggregateUsage(records.map((r) => ({ idempotencyKey: r.id, subscriptionItemId: 'si_0', quantity: r.quantity, timestampMs: r.atMs })), aggregation, period);
          expect(usageQuantity(merged, aggregation)).toBe(expected);
        }
      },
    ), { seed: 20_261_207, numRuns: 200 });
  });

  it('shards are stable and spread', () => {
    expect(usageShardOf('ur_abc')).toBe(usageShardOf('ur_abc'));
    const used = new Set(Array.from({ length: 200 }, (_, i) => usageShardOf(`ur_${i}`)));
    expect(used.size).toBe(USAGE_AGGREGATE_SHARDS);
    expect(usageQuantity(emptyUsageAggregate, 'last')).toBe(0n);
  });
});
