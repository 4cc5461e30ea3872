/**
 * Runs work one at a time per key, in arrival order, within this process; different keys run
 * concurrently.
 *
 * Why: two PSP events of one payment (Stripe sends a dispute and its funds withdrawal together; a
 * PSP or Pub/Sub may send an event twice) applied at once contend on the payment's document, and
 * the loser backs off for seconds on the emulator. Applied one after the other, each takes one
 * transaction. Correctness never depends on it: every transaction re-reads what it decides on, and
 * other instances are not serialized with this one.
 *
 * Bounded: when `waitingMax` works are held (queued or running) in all, work for a busy key runs at
 * once, unserialized, rather than queue without limit.
 */
export interface KeyedSerializer {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Works queued or running, for tests and diagnostics. */
  readonly pending: number;
}

export function createKeyedSerializer(options: { waitingMax: number }): KeyedSerializer {
  if (!(Number.isSafeInteger(options.waitingMax) && options.waitingMax >= 0)) throw new Error('assertion failed: waitingMax is a non-negative integer');
  /** Per key: the promise the next work waits for, and how many works hold the key. */
  const keys = new Map<string, { tail: Promise<void>; holders: number }>();
  let pending = 0;
  return {
    get pending() { return pending; },
    run<T>(key: string, work: () => Promise<T>): Promise<T> {
      const entry = keys.get(key);
      if (entry !== undefined && pending >= options.waitingMax) return work();
      const current = entry ?? { tail: Promise.resolve(), holders: 0 };
      current.holders++;
      pending++;
      keys.set(key, current);
      // After the previous work of the key, whatever it did.
      const result = current.tail.then(work);
      current.tail = result.then(() => undefined, () => undefined).finally(() => {
        pending--;
        if (--current.holders === 0) keys.delete(key);
      });
      return result;
    },
  };
}
