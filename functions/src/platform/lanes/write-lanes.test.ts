import { describe, expect, it } from 'vitest';
import { createWriteLanes } from './write-lanes.js';

/** Lets every other ready holder run before this one goes on (a turn of the event loop, no timer). */
const yieldTurn = () => new Promise((r) => setImmediate(r));

describe('write lanes', () => {
  it('never gives one lane to two concurrent holders, and serves waiters in order', async () => {
    const lanes = createWriteLanes({ count: 3, waitersMax: 100 });
    const inUse = new Set<number>();
    let maxConcurrent = 0;
    const started: number[] = [];
    const shared: number[] = [];
    await Promise.all(Array.from({ length: 30 }, (_, i) => lanes.withLane(async (lane) => {
      if (inUse.has(lane)) shared.push(lane);
      started.push(i);
      inUse.add(lane);
      maxConcurrent = Math.max(maxConcurrent, inUse.size);
      await yieldTurn();
      inUse.delete(lane);
    })));
    expect(shared).toEqual([]);
    expect(maxConcurrent).toBe(3);
    expect(started).toEqual(Array.from({ length: 30 }, (_, i) => i)); // waiters served first come, first served
  });

  it('a lane passed on to a waiter is not also free: a later caller waits for it', async () => {
    const lanes = createWriteLanes({ count: 1, waitersMax: 2 });
    let releaseFirst!: () => void;
    let releaseSecond!: () => void;
    const first = lanes.withLane(() => new Promise<void>((r) => { releaseFirst = r; }));
    const second = lanes.withLane(() => new Promise<void>((r) => { releaseSecond = r; }));
    await yieldTurn();
    releaseFirst();
    await first;
    let lateRan = false;
    const late = lanes.withLane(async () => { lateRan = true; });
    await yieldTurn();
    expect(lateRan).toBe(false); // the second holder still has the only lane
    releaseSecond();
    await Promise.all([second, late]);
    expect(lateRan).toBe(true);
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
