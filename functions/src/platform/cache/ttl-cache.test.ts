import { describe, expect, it } from 'vitest';
import { createTtlCache } from './ttl-cache.js';

describe('createTtlCache', () => {
  const setup = (ttlMs: number, entriesMax: number) => {
    // Not 0: a real clock never reads 0, and lru-cache treats a start time of 0 as "no TTL".
    let nowMs = 1_700_000_000_000;
    let loads = 0;
    const cache = createTtlCache<number>({ clock: { nowMs: () => nowMs }, ttlMs, entriesMax });
    return {
      cache,
      get: (key: string) => cache.get(key, async () => ++loads),
      advance: (ms: number) => { nowMs += ms; },
      loads: () => loads,
    };
  };

  it('serves hits for ttlMs after the load, whatever the reads in between, then reloads', async () => {
    const c = setup(1_000, 10);
    expect(await c.get('a')).toBe(1);
    c.advance(600);
    expect(await c.get('a')).toBe(1);
    c.advance(400);
    expect(await c.get('a')).toBe(1);
    c.advance(1);
    expect(await c.get('a')).toBe(2);
  });

  it('never holds more than entriesMax, evicting the least recently used', async () => {
    const c = setup(10_000, 2);
    await c.get('a'); await c.get('b'); await c.get('c');
    expect(c.loads()).toBe(3);
    await c.get('c'); await c.get('b');
    expect(c.loads()).toBe(3);
    await c.get('a');
    expect(c.loads()).toBe(4);
    // `c` was the least recently used when `a` came back.
    await c.get('b');
    expect(c.loads()).toBe(4);
    await c.get('c');
    expect(c.loads()).toBe(5);
  });

  it('caches misses (undefined) like values', async () => {
    let loads = 0;
    const cache = createTtlCache<string | undefined>({ clock: { nowMs: () => 1 }, ttlMs: 1_000, entriesMax: 10 });
    expect(await cache.get('missing', async () => { loads++; return undefined; })).toBeUndefined();
    expect(await cache.get('missing', async () => { loads++; return 'late'; })).toBeUndefined();
    expect(loads).toBe(1);
  });

  it('concurrent reads of a missing key share one load; a failed load is not cached', async () => {
    const c = setup(10_000, 10);
    let release!: (value: number) => void;
    let loads = 0;
    const slow = () => { loads++; return new Promise<number>((resolve) => { release = resolve; }); };
    const both = Promise.all([c.cache.get('k', slow), c.cache.get('k', slow)]);
    release(7);
    expect(await both).toEqual([7, 7]);
    expect(loads).toBe(1);
    await expect(c.cache.get('bad', () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    expect(await c.cache.get('bad', async () => 9)).toBe(9);
  });

  it('delete forces the next read to load; ttl 0 or entriesMax 0 disables caching', async () => {
    const c = setup(10_000, 10);
    await c.get('a');
    c.cache.delete('a');
    expect(await c.get('a')).toBe(2);
    for (const off of [setup(0, 10), setup(10_000, 0)]) {
      await off.get('a'); await off.get('a');
      expect(off.loads()).toBe(2);
    }
  });
});
