import { describe, expect, it } from 'vitest';
import { createKeyedSerializer } from './keyed-serializer.js';

/** A promise resolved or rejected from outside. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('keyed serializer', () => {
  it('runs works of one key one at a time, in arrival order; other keys meanwhile', async () => {
    const s = createKeyedSerializer({ waitingMax: 100 });
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const works = [
      s.run('pay_a', async () => { log.push('a1 start'); await gates[0]!.promise; log.push('a1 end'); return 1; }),
      s.run('pay_a', async () => { log.push('a2 start'); await gates[1]!.promise; log.push('a2 end'); return 2; }),
      s.run('pay_b', async () => { log.push('b1 start'); await gates[2]!.promise; log.push('b1 end'); return 3; }),
    ];
    await tick();
    expect(log).toEqual(['a1 start', 'b1 start']);
    expect(s.pending).toBe(3);
    gates[1]!.resolve(); // a2 may not start before a1 ends, whatever its own gate says
    await tick();
    expect(log).toEqual(['a1 start', 'b1 start']);
    gates[0]!.resolve();
    gates[2]!.resolve();
    expect(await Promise.all(works)).toEqual([1, 2, 3]);
    expect(log.indexOf('a2 start')).toBeGreaterThan(log.indexOf('a1 end'));
    await tick();
    expect(s.pending).toBe(0);
  });

  it("a failing work fails alone: its caller gets the error, the key's next work runs", async () => {
    const s = createKeyedSerializer({ waitingMax: 100 });
    const first = s.run('k', async () => { throw new Error('boom'); });
    const second = s.run('k', async () => 'ran');
    await expect(first).rejects.toThrow('boom');
    expect(await second).toBe('ran');
  });

  it('when waitingMax works are held, work for a busy key runs at once instead of waiting', async () => {
    const s = createKeyedSerializer({ waitingMax: 1 });
    const gate = deferred();
    const log: string[] = [];
    const first = s.run('k', async () => { log.push('1 start'); await gate.promise; log.push('1 end'); });
    await tick();
    const second = s.run('k', async () => { log.push('2 start'); });
    await second;
    expect(log).toEqual(['1 start', '2 start']);
    gate.resolve();
    await first;
    await tick();
    expect(s.pending).toBe(0);
  });

  it('refuses a bad bound', () => {
    expect(() => createKeyedSerializer({ waitingMax: -1 })).toThrow(/waitingMax/);
  });
});
