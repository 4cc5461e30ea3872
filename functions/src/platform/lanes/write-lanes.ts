/**
 * Write lanes: a bounded pool of exclusive slots a process hands to its concurrent ledger writes.
 *
 * Why: the Firestore emulator (and Firestore itself, less dramatically) serializes transactions
 * that touch the same document; the ledger's shared documents are hash-chain stripe heads and hot
 * account balance shards. If each in-flight write of this process holds its own lane, and lanes
 * map to distinct stripes and shards, writes of one process never contend with each other.
 * Correctness never depends on lanes: every transaction still reads and writes the head it uses;
 * lanes only keep two writers of one process off the same document. Other instances pick a random
 * offset, so they collide only by chance (and then merely wait).
 */
import { TallyError } from '../../domain/errors.js';

export interface WriteLanes {
  /** Number of lanes. */
  readonly count: number;
  /** Runs `work` holding a lane; waits (bounded queue) when all lanes are busy. */
  withLane<T>(work: (lane: number) => Promise<T>): Promise<T>;
}

export function createWriteLanes(options: { count: number; waitersMax: number }): WriteLanes {
  const free: number[] = Array.from({ length: options.count }, (_, i) => i);
  const waiters: ((lane: number) => void)[] = [];
  const acquire = (): Promise<number> => {
    const lane = free.pop();
    if (lane !== undefined) return Promise.resolve(lane);
    if (waiters.length >= options.waitersMax) {
      return Promise.reject(new TallyError('CONTENTION', 'too many concurrent ledger writes in this instance; retry with the same idempotency key'));
    }
    return new Promise((resolve) => waiters.push(resolve));
  };
  const release = (lane: number): void => {
    const next = waiters.shift();
    if (next) next(lane);
    else free.push(lane);
  };
  return {
    count: options.count,
    async withLane(work) {
      const lane = await acquire();
      try {
        return await work(lane);
      } finally {
        release(lane);
      }
    },
  };
}
