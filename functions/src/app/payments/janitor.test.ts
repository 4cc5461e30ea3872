/**
 * The janitor's queue walk (issue 12 item 3, ADR 0023): pages through the queue, settles each page's
 * items at most `concurrencyMax` at once, stops at `paymentsMax` or the run deadline, moves what it
 * could not settle to the back and drops nothing. Driven on a fake clock: each settlement takes 14 ms
 * of fake time, so time and parallelism are exact.
 */
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../platform/resilience/fake-clock.js';
import { drainQueue, type DrainOptions, type DrainPage } from './janitor.js';

interface Item { id: number; queuedAtMs: number }

/** A queue of `n` due items (queued at 0..n-1) and a walk over it; `unsettled` ids answer "still unresolved", `throwing` ids throw. */
function harness(n: number, opts: { unsettled?: Set<number>; throwing?: Set<number>; settleMs?: number } = {}) {
  const clock = createFakeClock({ startMs: 1_000_000 });
  const cutoffMs = 1_000_000;
  const queue = new Map<number, Item>(Array.from({ length: n }, (_, id) => [id, { id, queuedAtMs: id }]));
  const settledIds: number[] = [];
  const pages: DrainPage[] = [];
  const failures: number[] = [];
  let inFlight = 0;
  let inFlightMax = 0;
  const options = (o: Partial<DrainOptions<Item>>): DrainOptions<Item> => ({
    fetchPage: async (after, limit) => [...queue.values()]
      .filter((i) => i.queuedAtMs <= cutoffMs && (after === undefined || i.queuedAtMs > after.queuedAtMs))
      .sort((a, b) => a.queuedAtMs - b.queuedAtMs).slice(0, limit),
    settle: async (item) => {
      inFlight++;
      inFlightMax = Math.max(inFlightMax, inFlight);
      try {
        await clock.sleep(opts.settleMs ?? 14);
        if (opts.throwing?.has(item.id)) throw new Error(`cannot read ${item.id}`);
        if (opts.unsettled?.has(item.id)) return false;
        queue.delete(item.id);
        settledIds.push(item.id);
        return true;
      } finally {
        inFlight--;
      }
    },
    requeue: async (item) => {
      const queued = queue.get(item.id);
      if (queued) queued.queuedAtMs = clock.nowMs() + 1; // behind every due one (past the cutoff)
    },
    onFailure: (item) => failures.push(item.id),
    onPage: (page) => pages.push(page),
    clock, concurrencyMax: 16, paymentsMax: 2_000, pageSize: 100, runMs: 60_000,
    ...o,
  });
  /** Runs the walk to its end, advancing fake time 1 ms at a time (bounded). */
  const run = async (o: Partial<DrainOptions<Item>> = {}) => {
    const startMs = clock.nowMs();
    let result: Awaited<ReturnType<typeof drainQueue>> | undefined;
    let error: unknown;
    void drainQueue(options(o)).then((r) => { result = r; }, (e: unknown) => { error = e; });
    for (let i = 0; i < 100_000 && result === undefined && error === undefined; i++) await clock.advance(1);
    if (error !== undefined) throw error;
    return { ...result!, elapsedMs: clock.nowMs() - startMs };
  };
  return { clock, queue, settledIds, pages, failures, run, inFlightMax: () => inFlightMax };
}

describe('drainQueue (the janitor\'s bounded parallel settle loop)', () => {
  it('settles 300 due payments in one walk, 16 at once, in a fraction of the sequential time, logging each page', async () => {
    const h = harness(300);
    const r = await h.run();
    expect(r).toMatchObject({ examined: 300, resolved: 300, stoppedBy: 'empty' });
    expect(h.queue.size).toBe(0);
    expect(h.inFlightMax()).toBe(16);
    // Sequential: 300 x 14 ms = 4,200 ms. Three pages of 100 at 16 at once: 3 x ceil(100/16) x 14 = 294 ms.
    expect(r.elapsedMs).toBeLessThanOrEqual(300);
    expect(h.pages.slice(0, 3).map((p) => [p.examined, p.resolved, p.requeued, p.failed, p.remainingInPage])).toEqual([[100, 100, 0, 0, 0], [100, 100, 0, 0, 0], [100, 100, 0, 0, 0]]);
    expect(h.pages.map((p) => p.elapsedMs)).toEqual([...h.pages.map((p) => p.elapsedMs)].sort((a, b) => a - b));
  });

  it('never runs more than concurrencyMax at once (1 is sequential)', async () => {
    for (const concurrencyMax of [1, 5, 64]) {
      const h = harness(120);
      const r = await h.run({ concurrencyMax });
      expect(r.resolved).toBe(120);
      expect(h.inFlightMax()).toBe(Math.min(concurrencyMax, 100));
    }
  });

  it('stops at paymentsMax and leaves the rest where they were in the queue', async () => {
    const h = harness(300);
    const r = await h.run({ paymentsMax: 250 });
    expect(r).toMatchObject({ examined: 250, resolved: 250, stoppedBy: 'payments_max' });
    expect([...h.queue.keys()]).toEqual(Array.from({ length: 50 }, (_, i) => 250 + i));
    expect([...h.queue.values()].every((i) => i.queuedAtMs === i.id)).toBe(true);
  });

  it('starts nothing after the run deadline; what it read and did not start stays in place, counted in the page', async () => {
    const h = harness(300);
    const r = await h.run({ runMs: 100, concurrencyMax: 4 });
    expect(r.stoppedBy).toBe('deadline');
    // 4 at once, 14 ms each: 8 rounds start before 100 ms (0, 14, ..., 98).
    expect(r.examined).toBe(32);
    expect(h.pages).toHaveLength(1);
    expect(h.pages[0]).toMatchObject({ examined: 32, resolved: 32, remainingInPage: 68 });
    expect(h.queue.size).toBe(268);
    expect([...h.queue.values()].every((i) => i.queuedAtMs === i.id)).toBe(true);
  });

  it('moves what it could not settle (answered or thrown) to the back, reports the failures and drops nothing', async () => {
    const h = harness(200, { unsettled: new Set([0, 1, 2]), throwing: new Set([3, 150]) });
    const r = await h.run({ pageSize: 50 });
    expect(r).toMatchObject({ examined: 200, resolved: 195, stoppedBy: 'empty' });
    expect(h.failures.sort((a, b) => a - b)).toEqual([3, 150]);
    expect([...h.queue.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 150]);
    // Moved behind every due payment: the next walk's cutoff (before this run) no longer finds them first.
    expect([...h.queue.values()].every((i) => i.queuedAtMs > 1_000_000)).toBe(true);
    expect(h.pages[0]).toMatchObject({ examined: 50, resolved: 46, requeued: 4, failed: 1 });
    expect(h.pages.reduce((n, p) => n + p.requeued, 0)).toBe(5);
  });

  it('refuses unbounded options', async () => {
    const h = harness(1);
    await expect(h.run({ concurrencyMax: 0 })).rejects.toThrow(/assertion failed: concurrencyMax/);
    await expect(h.run({ runMs: Number.POSITIVE_INFINITY })).rejects.toThrow(/assertion failed: concurrencyMax/);
  });
});
