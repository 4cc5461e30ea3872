import { describe, expect, it } from 'vitest';
import { createTtlCache } from './ttl-cache.js';

describe('createTtlCache', () => {
  const setup = (ttlMs: number, entriesMax: number) => {
    let nowMs = 0;
    let loads = 0;
    const cache = createTtlCache<number>({ clock: { nowMs: () => nowMs }, ttlMs, entriesMax });
    return {
      cache,
      get: (key: string) => cache.get(key, async () => ++loads),
      advance: (ms: number) => { nowMs += ms; },
      loads: () => loads,
    };
  };

  it('serves hits until the TTL passes, then reloads', async () => {
    const c = setup(1_000, 10);
    expect(await c.get('a')).toBe(1);
    c.advance(999);
    expect(await c.get('a')).toBe(1);
    c.advance(1);
    expect(await c.get('a')).toBe(2);
  });

  it('never holds more than entriesMax, evicting the oldest', async () => {
    const c = setup(10_000, 2);
    await c.get('a'); await c.get('b'); await c.get('c');
    expect(c.loads()).toBe(3);
    await c.get('c'); await c.get('b');
    expect(c.loads()).toBe(3);
    await c.get('a');
    expect(c.loads()).toBe(4);
  });

  it('delete forces the next read to load; ttl 0 disables caching', async () => {
    const c = setup(10_000, 10);
    await c.get('a');
    c.cache.delete('a');
    expect(await c.get('a')).toBe(2);
    const off = setup(0, 10);
    await off.get('a'); await off.get('a');
    expect(off.loads()).toBe(2);
  });
});
