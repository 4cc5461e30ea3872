/**
 * A bounded, per-instance read-through cache with a time-to-live, on `lru-cache`. Entries (misses
 * included) are served for at most `ttlMs` after they were loaded, which bounds how stale another
 * instance's write can look here; at most `entriesMax` are kept (least recently used evicted
 * first). Concurrent reads of a missing key share one load (lru-cache's `fetch`); a load that
 * fails is not cached. `ttlMs` or `entriesMax` of 0 disables it.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../ports/clock.js';

export interface TtlCache<V> {
  get(key: string, load: () => Promise<V>): Promise<V>;
  delete(key: string): void;
}

/** lru-cache refuses `undefined` values, and a cached miss is one: every value is boxed. */
interface Boxed<V> {
  readonly value: V;
}

export function createTtlCache<V>(options: { clock: Clock; ttlMs: number; entriesMax: number }): TtlCache<V> {
  if (!(options.ttlMs > 0 && options.entriesMax > 0)) return { get: (_key, load) => load(), delete: () => {} };
  const cache = new LRUCache<string, Boxed<V>, () => Promise<V>>({
    max: options.entriesMax,
    ttl: options.ttlMs,
    // Read the injected clock on every check (lru-cache otherwise keeps a reading for 1 ms on a
    // timer), so tests with a fake clock and production see the same expiry.
    ttlResolution: 0,
    perf: { now: () => options.clock.nowMs() },
    // The entry's age counts from its load, not from its last read: the TTL bounds staleness.
    updateAgeOnGet: false,
    allowStale: false,
    fetchMethod: async (_key, _stale, { context }) => ({ value: await context() }),
  });
  return {
    async get(key, load) {
      const boxed = await cache.fetch(key, { context: load });
      // fetchMethod always returns a box; undefined would mean lru-cache dropped the fetch.
      if (boxed === undefined) throw new Error(`assertion failed: ttl cache fetch of ${key} returned nothing`);
      return boxed.value;
    },
    delete(key) {
      cache.delete(key);
    },
  };
}
