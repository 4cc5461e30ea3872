import { describe, expect, it } from 'vitest';
import { createWriteLanes } from './write-lanes.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('write lanes', () => {
  it('never gives one lane to two concurrent holders, and serves waiters in order', async () => {
    const lanes = createWriteLanes({ count: 3, waitersMax: 100 });
    const inUse = new Set<number>();
    let maxConcurrent = 0;
    await Promise.all(Array.from({ length: 30 }, () => lanes.withLane(async (lane) => {
      expect(inUse.has(lane)).toBe(false);
      inUse.add(lane);
      maxConcurrent = Math.max(maxConcurrent, inUse.size);
      await tick();
      inUse.delete(lane);
    })));
    expect(maxConcurrent).toBe(3);
  });

  it('releases the lane when the work throws', async () => {
    const lanes = createWriteLanes({ count: 1, waitersMax: 1 });
    await expect(lanes.withLane(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await lanes.withLane(async (lane) => lane)).toBe(0);
  });

  it('refuses with CONTENTION beyond the waiter bound', async () => {
    const lanes = createWriteLanes({ count: 1, waitersMax: 1 });
    let release!: () => void;
    const holder = lanes.withLane(() => new Promise<void>((r) => { release = r; }));
    const waiter = lanes.withLane(async () => 'waited');
    await expect(lanes.withLane(async () => 'x')).rejects.toMatchObject({ reason: 'CONTENTION' });
    release();
    await holder;
    expect(await waiter).toBe('waited');
  });
});
