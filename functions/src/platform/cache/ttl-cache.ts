/**
 * A bounded, per-instance read-through cache with a time-to-live. Entries (misses included) live
 * at most `ttlMs`, which bounds how stale another instance's write can look here; at most
 * `entriesMax` are kept (oldest inserted evicted first). `ttlMs` or `entriesMax` of 0 disables it.
 */
import type { Clock } from '../../ports/clock.js';

export interface TtlCache<V> {
  get(key: string, load: () => Promise<V>): Promise<V>;
  delete(key: string): void;
}

export function createTtlCache<V>(options: { clock: Clock; ttlMs: number; entriesMax: number }): TtlCache<V> {
  const entries = new Map<string, { value: V; expiresAtMs: number }>();
  const enabled = options.ttlMs > 0 && options.entriesMax > 0;
  return {
    async get(key, load) {
      if (!enabled) return load();
      const nowMs = options.clock.nowMs();
      const hit = entries.get(key);
      if (hit && hit.expiresAtMs > nowMs) return hit.value;
      const value = await load();
      entries.delete(key);
      // Map iteration order is insertion order: the first key is the oldest.
      if (entries.size >= options.entriesMax) entries.delete(entries.keys().next().value as string);
      entries.set(key, { value, expiresAtMs: nowMs + options.ttlMs });
      return value;
    },
    delete(key) {
      entries.delete(key);
    },
  };
}
