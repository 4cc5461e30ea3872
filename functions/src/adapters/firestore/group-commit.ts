/**
 * Group commit for blind writes (ADR 0016): writes submitted while `groupsInFlightMax` commits are
 * in flight wait, and leave together in the next commit, as a database's group commit or
 * TigerBeetle's batches do. A commit RPC costs the client far more than the documents in it
 * (measured: 0.52 ms of CPU for one checkout's four creates alone, 0.19 ms each in groups), so
 * under load this saves most of it; at low load nothing waits (a group of one leaves at once).
 *
 * A group is one atomic commit, so one member's collision (an ALREADY_EXISTS of a replayed key)
 * fails all of it and nothing of it is written. Every member then commits alone to learn its own
 * answer: a member never fails for another's sake. A stalled commit holds the writes behind it
 * for `stallMs` at most.
 */
import type { Firestore, WriteBatch } from '@google-cloud/firestore';
import { isAlreadyExists } from './run-transaction.js';

export interface GroupCommitOptions {
  /** Commits in flight at once; a write arriving while this many are out waits for the next group. */
  groupsInFlightMax: number;
  /** Writes in one commit (Firestore takes at most 500). */
  writesPerGroupMax: number;
  /** Writes waiting for a group at most; beyond that a write commits alone rather than queue without bound. */
  waitingWritesMax: number;
  /**
   * How long writes may wait behind the commits in flight. After that they leave anyway, as one
   * more group (up to `GROUPS_IN_FLIGHT_HARD_MAX`), so one stalled commit cannot hold up every
   * new payment of the instance.
   */
  stallMs: number;
}

/** No grouping: with no write allowed to wait, every write commits alone, at once. */
export const commitEachAlone: GroupCommitOptions = { groupsInFlightMax: 1, writesPerGroupMax: 1, waitingWritesMax: 0, stallMs: 1 };

/** Groups in flight at most, counting those sent past `groupsInFlightMax` because commits stalled. */
export const GROUPS_IN_FLIGHT_HARD_MAX = 64;

/** `already_exists`: one of the member's creates found its document, and none of its writes was made. */
export type GroupCommitResult = 'committed' | 'already_exists';

export interface GroupCommitter {
  /** Commits what `write` adds to the batch (`writeCount` writes), alone or with others, atomically. */
  commit(writeCount: number, write: (batch: WriteBatch) => void): Promise<GroupCommitResult>;
}

interface Member {
  writeCount: number;
  write: (batch: WriteBatch) => void;
  resolve: (result: GroupCommitResult) => void;
  reject: (error: unknown) => void;
}

export function createGroupCommitter(db: Firestore, options: GroupCommitOptions): GroupCommitter {
  if (!(options.groupsInFlightMax >= 1 && options.groupsInFlightMax <= GROUPS_IN_FLIGHT_HARD_MAX && options.writesPerGroupMax >= 1
    && options.writesPerGroupMax <= 500 && options.waitingWritesMax >= 0 && options.stallMs >= 1)) {
    throw new Error('assertion failed: group commit bounds out of range');
  }
  const waiting: Member[] = [];
  let waitingWrites = 0;
  let inFlight = 0;

  async function commitAlone(member: Pick<Member, 'write'>): Promise<GroupCommitResult> {
    const batch = db.batch();
    member.write(batch);
    try {
      await batch.commit();
      return 'committed';
    } catch (error) {
      if (isAlreadyExists(error)) return 'already_exists';
      throw error;
    }
  }

  async function commitGroup(members: readonly Member[]): Promise<void> {
    if (members.length === 1) {
      const [member] = members as [Member];
      await commitAlone(member).then(member.resolve, member.reject);
      return;
    }
    try {
      const batch = db.batch();
      for (const m of members) m.write(batch);
      await batch.commit();
    } catch {
      // Nothing of the group was written (or a member's writes were refused before it left):
      // each member finds its own answer.
      await Promise.all(members.map((m) => commitAlone(m).then(m.resolve, m.reject)));
      return;
    }
    for (const m of members) m.resolve('committed');
  }

  let stallTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Sends groups while commits may go out: each takes the waiting members in order, up to the
   * write bound. `stalled`: the waiting writes have waited `stallMs`, and one more group leaves.
   */
  function flush(stalled = false): void {
    let extra = stalled ? 1 : 0;
    while (waiting.length > 0 && (inFlight < options.groupsInFlightMax || (extra > 0 && inFlight < GROUPS_IN_FLIGHT_HARD_MAX))) {
      if (inFlight >= options.groupsInFlightMax) extra--;
      const group: Member[] = [];
      let writes = 0;
      // A member bigger than the bound still leaves, alone.
      while (waiting.length > 0 && (group.length === 0 || writes + waiting[0]!.writeCount <= options.writesPerGroupMax)) {
        const m = waiting.shift()!;
        writes += m.writeCount;
        group.push(m);
      }
      waitingWrites -= writes;
      inFlight++;
      void commitGroup(group).finally(() => {
        inFlight--;
        flush();
      });
    }
    // Armed while writes wait, from the moment the first of them began to.
    if (waiting.length === 0 && stallTimer !== undefined) {
      clearTimeout(stallTimer);
      stallTimer = undefined;
    } else if (waiting.length > 0 && stallTimer === undefined) {
      stallTimer = setTimeout(() => {
        stallTimer = undefined;
        flush(true);
      }, options.stallMs);
      stallTimer.unref();
    }
  }

  return {
    commit(writeCount, write) {
      if (!(Number.isSafeInteger(writeCount) && writeCount >= 1)) throw new Error('assertion failed: a group commit member writes at least once');
      if (waitingWrites + writeCount > options.waitingWritesMax) return commitAlone({ write });
      return new Promise<GroupCommitResult>((resolve, reject) => {
        waiting.push({ writeCount, write, resolve, reject });
        waitingWrites += writeCount;
        flush();
      });
    },
  };
}
