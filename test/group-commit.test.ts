/**
 * Group commit against the real Firestore emulator: writes that arrive while a commit is in flight
 * leave together in one commit; a member that collides or is refused gets its own answer and costs
 * the others nothing (they commit, it writes nothing); the bounds on group size and on waiting hold;
 * at low load nothing waits.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { WriteBatch } from '@google-cloud/firestore';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { createGroupCommitter, type GroupCommitOptions } from '../functions/src/adapters/firestore/group-commit.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';

const db = createFirestore(`demo-groupcommit-${randomUUID().slice(0, 8)}`);
afterAll(async () => { await db.terminate(); });

// A stall bound the tests never reach, except the one about stalls.
const options: GroupCommitOptions = { groupsInFlightMax: 1, writesPerGroupMax: 500, waitingWritesMax: 10_000, stallMs: 10_000 };

/**
 * The same client, whose first batch commit is not sent until the test calls `release` (a stalled
 * RPC, for exactly as long as the test needs it stalled: no sleep to outlast).
 */
function stallingFirstCommit(): { db: typeof db; release: () => void } {
  let stalled = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  const stalling = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== 'batch') return Reflect.get(target, property, receiver) as unknown;
      return () => {
        const batch = target.batch();
        if (stalled) return batch;
        stalled = true;
        const commit = batch.commit.bind(batch);
        return Object.assign(batch, { commit: async () => { await released; return commit(); } });
      };
    },
  });
  return { db: stalling, release };
}

/** A member that creates `a/{id}` and `b/{id}` in a fresh collection pair. */
function pair(prefix: string, id: string) {
  const a = db.collection(`${prefix}-a`).doc(id);
  const b = db.collection(`${prefix}-b`).doc(id);
  return {
    write: (batch: WriteBatch) => { batch.create(a, { id }); batch.create(b, { id }); },
    exists: async () => [(await a.get()).exists, (await b.get()).exists],
  };
}

describe('group commit', () => {
  it('writes arriving while a commit is in flight leave together: the first alone, the next nine in one commit', async () => {
    const committer = createGroupCommitter(db, options);
    const prefix = `g-${randomUUID()}`;
    const members = Array.from({ length: 10 }, (_, i) => pair(prefix, `m${i}`));
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(members.map((m) => committer.commit(2, m.write))), db);
    expect(result).toEqual(Array(10).fill('committed'));
    expect(rpcs.commit).toBe(2);
    for (const m of members) expect(await m.exists()).toEqual([true, true]);
  });

  it('a member whose document exists answers already_exists and writes nothing; the others of its group commit', async () => {
    const committer = createGroupCommitter(db, options);
    const prefix = `g-${randomUUID()}`;
    const members = Array.from({ length: 5 }, (_, i) => pair(prefix, `m${i}`));
    await db.collection(`${prefix}-b`).doc('m3').create({ earlier: true }); // m3's second create collides
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(members.map((m) => committer.commit(2, m.write))), db);
    expect(result).toEqual(['committed', 'committed', 'committed', 'already_exists', 'committed']);
    // The first alone, the failed group of four, then each of the four alone.
    expect(rpcs.commit).toBe(6);
    expect(await members[3]!.exists()).toEqual([false, true]); // its first create was not made either
    expect((await db.collection(`${prefix}-b`).doc('m3').get()).data()).toEqual({ earlier: true });
    for (const i of [0, 1, 2, 4]) expect(await members[i]!.exists()).toEqual([true, true]);
  });

  it('a member refused by the client or by the server fails alone, with its own error', async () => {
    const committer = createGroupCommitter(db, options);
    const prefix = `g-${randomUUID()}`;
    const good = [pair(prefix, 'first'), pair(prefix, 'm1'), pair(prefix, 'm2')];
    const refusedByClient = (batch: WriteBatch) => { batch.create(db.collection(`${prefix}-a`).doc('bad'), { v: undefined }); };
    const refusedByServer = (batch: WriteBatch) => { batch.create(db.collection(`${prefix}-a`).doc('y'.repeat(2_000)), { v: 1 }); };
    const results = await Promise.allSettled([
      committer.commit(2, good[0]!.write), committer.commit(2, good[1]!.write), committer.commit(1, refusedByClient),
      committer.commit(1, refusedByServer), committer.commit(2, good[2]!.write),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/undefined/i);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: 3 }); // INVALID_ARGUMENT
    for (const m of good) expect(await m.exists()).toEqual([true, true]);
    expect((await db.collection(`${prefix}-a`).doc('bad').get()).exists).toBe(false);
  });

  it('a group holds at most writesPerGroupMax writes; a member bigger than that still leaves, alone', async () => {
    const committer = createGroupCommitter(db, { ...options, writesPerGroupMax: 4 });
    const prefix = `g-${randomUUID()}`;
    const members = Array.from({ length: 7 }, (_, i) => pair(prefix, `m${i}`));
    const big = Array.from({ length: 3 }, (_, i) => pair(prefix, `big${i}`));
    const bigWrite = (batch: WriteBatch) => { for (const m of big) m.write(batch); };
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all([...members.map((m) => committer.commit(2, m.write)), committer.commit(6, bigWrite)]), db);
    expect(result).toEqual(Array(8).fill('committed'));
    // m0 alone; then (m1 m2) (m3 m4) (m5 m6) and the six-write member on its own.
    expect(rpcs.commit).toBe(5);
    for (const m of [...members, ...big]) expect(await m.exists()).toEqual([true, true]);
  });

  it('beyond waitingWritesMax a member does not wait: it commits alone', async () => {
    const committer = createGroupCommitter(db, { ...options, waitingWritesMax: 0 });
    const prefix = `g-${randomUUID()}`;
    const members = Array.from({ length: 6 }, (_, i) => pair(prefix, `m${i}`));
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(members.map((m) => committer.commit(2, m.write))), db);
    expect(result).toEqual(Array(6).fill('committed'));
    expect(rpcs.commit).toBe(6);
  });

  it('at low load nothing waits: one commit per member, each leaving at once', async () => {
    const committer = createGroupCommitter(db, options);
    const prefix = `g-${randomUUID()}`;
    const { rpcs } = await countFirestoreRpcs(async () => {
      for (let i = 0; i < 4; i++) expect(await committer.commit(2, pair(prefix, `m${i}`).write)).toBe('committed');
    }, db);
    expect(rpcs.commit).toBe(4);
  });

  it('more groups in flight: the waiting members are spread over them', async () => {
    const committer = createGroupCommitter(db, { ...options, groupsInFlightMax: 3 });
    const prefix = `g-${randomUUID()}`;
    const members = Array.from({ length: 10 }, (_, i) => pair(prefix, `m${i}`));
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(members.map((m) => committer.commit(2, m.write))), db);
    expect(result).toEqual(Array(10).fill('committed'));
    // Three leave at once (one each); the seven that waited leave in the next commits.
    expect(rpcs.commit).toBeGreaterThanOrEqual(4);
    expect(rpcs.commit).toBeLessThanOrEqual(6);
  });

  it('a stalled commit does not hold up the writes behind it: after stallMs they leave anyway, and the stalled one still answers', async () => {
    const stalling = stallingFirstCommit();
    const committer = createGroupCommitter(stalling.db, { ...options, stallMs: 150 });
    const prefix = `g-${randomUUID()}`;
    const [first, ...behind] = Array.from({ length: 4 }, (_, i) => pair(prefix, `m${i}`));
    const startedMs = Date.now();
    const stalled = committer.commit(2, first!.write);
    const others = Promise.all(behind.map((m) => committer.commit(2, m.write)));
    expect(await others).toEqual(['committed', 'committed', 'committed']);
    const waitedMs = Date.now() - startedMs;
    expect(waitedMs).toBeGreaterThanOrEqual(140);
    expect(waitedMs).toBeLessThan(2_000); // the stall bound, far from the test's own timeout
    for (const m of behind) expect(await m.exists()).toEqual([true, true]);
    expect(await first!.exists()).toEqual([false, false]); // still stalled
    stalling.release();
    expect(await stalled).toBe('committed');
    expect(await first!.exists()).toEqual([true, true]);
  });

  it('refuses bounds out of range', () => {
    expect(() => createGroupCommitter(db, { ...options, groupsInFlightMax: 0 })).toThrow(/bounds/);
    expect(() => createGroupCommitter(db, { ...options, writesPerGroupMax: 501 })).toThrow(/bounds/);
    expect(() => createGroupCommitter(db, { ...options, groupsInFlightMax: 65 })).toThrow(/bounds/);
    expect(() => createGroupCommitter(db, { ...options, stallMs: 0 })).toThrow(/bounds/);
    expect(() => createGroupCommitter(db, options).commit(0, () => undefined)).toThrow(/at least once/);
  });

  it('property: whatever collides, each member answers for itself, and its writes are all made or none', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ collidesA: fc.boolean(), collidesB: fc.boolean(), duplicateOf: fc.option(fc.nat(), { nil: undefined }) }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 8 }),
      async (specs, groupsInFlightMax, writesPerGroupMax) => {
        const committer = createGroupCommitter(db, { ...options, groupsInFlightMax, writesPerGroupMax });
        const prefix = `p-${randomUUID()}`;
        // A duplicate writes the very documents of an earlier member: exactly one of them commits.
        // The first member with an id says whether its documents exist beforehand.
        const ids = specs.map((s, i) => (s.duplicateOf !== undefined && i > 0 ? `m${s.duplicateOf % i}` : `m${i}`));
        await Promise.all(specs.flatMap((s, i) => [
          s.collidesA && ids.indexOf(ids[i]!) === i ? db.collection(`${prefix}-a`).doc(ids[i]!).create({ earlier: true }) : [],
          s.collidesB && ids.indexOf(ids[i]!) === i ? db.collection(`${prefix}-b`).doc(ids[i]!).create({ earlier: true }) : [],
        ].flat()));
        const results = await Promise.all(ids.map((id) => committer.commit(2, pair(prefix, id).write)));
        for (const id of new Set(ids)) {
          const members = ids.flatMap((x, i) => (x === id ? [i] : []));
          const owner = specs[members[0]!]!;
          const committed = members.filter((i) => results[i] === 'committed');
          if (owner.collidesA || owner.collidesB) {
            expect(committed).toEqual([]);
            // Only what existed before is there.
            const [a, b] = await Promise.all([db.collection(`${prefix}-a`).doc(id).get(), db.collection(`${prefix}-b`).doc(id).get()]);
            expect([a.exists, b.exists]).toEqual([owner.collidesA, owner.collidesB]);
          } else {
            expect(committed).toHaveLength(1);
            expect(await pair(prefix, id).exists()).toEqual([true, true]);
          }
        }
      },
    ), { numRuns: 15 });
  });
});
