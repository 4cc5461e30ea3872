/**
 * Model-based property tests: random operation sequences run against an in-memory ledger that
 * uses the domain functions exactly as the Firestore adapter will (validate, decide replay, compute
 * changes, check limits on the whole balance, apply to shards, link into a chain stripe, all or
 * nothing), and the ledger's invariants are checked after every operation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { type Account, type AccountFlags, closeAccount, createAccount, hasBalanceLimit } from './account.js';
import { type Balance, type BalanceChange, ZERO_BALANCE, applyDelta, balanceChangesOf, checkLimits, pickShard, sumShards } from './balance.js';
import { type EntryInput, type Posting, decideReplay, entryContentHash, validateEntry, validateEntryShape } from './entry.js';
import { type ChainedRecord, type StripeHead, chainStripeFor, emptyStripeHead, genesisHash, linkRecord, verifyChain } from './hash-chain.js';
import { type JournalRecord, createEntryRecord, createResolutionRecord } from './journal-record.js';
import { replayBalances } from './replay.js';
import { type PendingEntry, type PendingTransition, createPendingEntry, expirePending, isExpired, postPending, voidPending } from './two-phase.js';

const tenantId = 'ten_model';
const context = { tenantId, traceId: 'trace', spanId: 'span' };
const STRIPE_COUNT = 4;
const SWEEP_BATCH_MAX = 3;
const currencies = ['USD', 'EUR', 'JPY'] as const;

const debitLimit: Partial<AccountFlags> = { debitsMustNotExceedCredits: true };
const creditLimit: Partial<AccountFlags> = { creditsMustNotExceedDebits: true };
const accountSpecs: [string, (typeof currencies)[number], Partial<AccountFlags>, number][] = [
  ['acc_usd_bank', 'USD', creditLimit, 1],
  ['acc_usd_wallet', 'USD', debitLimit, 1],
  ['acc_usd_payable', 'USD', {}, 8],
  ['acc_usd_revenue', 'USD', {}, 4],
  ['acc_usd_expense', 'USD', {}, 1],
  ['acc_eur_bank', 'EUR', {}, 2],
  ['acc_eur_wallet', 'EUR', debitLimit, 1],
  ['acc_eur_equity', 'EUR', {}, 1],
  ['acc_jpy_bank', 'JPY', creditLimit, 1],
  ['acc_jpy_payable', 'JPY', {}, 3],
];

/** What happened, over all runs: the properties must have exercised every path. */
const seen = new Map<string, number>();
const count = (what: string): void => void seen.set(what, (seen.get(what) ?? 0) + 1);

class Model {
  accounts = new Map<string, Account>();
  shards = new Map<string, Balance[]>();
  unsharded = new Map<string, Balance>();
  records: ChainedRecord[] = [];
  heads = new Map<number, StripeHead>();
  contentHashes = new Map<string, string>();
  inputs: EntryInput[] = [];
  pendings = new Map<string, PendingEntry>();
  nowMs = 1_700_000_000_000;

  constructor() {
    for (const [id, currency, flags, shardCount] of accountSpecs) {
      const allFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false, ...flags };
      const account = createAccount({ code: id, name: id, currency, type: 'asset', flags: allFlags, shardCount }, { id, tenantId, createdAtMs: this.nowMs });
      this.accounts.set(id, account);
      this.shards.set(id, new Array<Balance>(shardCount).fill(ZERO_BALANCE));
      this.unsharded.set(id, ZERO_BALANCE);
    }
  }

  /** CreateEntry as the adapter runs it. */
  createEntry(input: EntryInput): 'created' | 'replayed' {
    validateEntryShape(input);
    if (decideReplay(this.contentHashes.get(input.id), entryContentHash(input), input.id) === 'replay') return 'replayed';
    const entry = validateEntry(input, this.accounts);
    const record = createEntryRecord(entry, this.nowMs, context);
    this.commit(record, balanceChangesOf(record));
    this.contentHashes.set(input.id, entryContentHash(input));
    this.inputs.push(input);
    if (record.pending !== null) this.pendings.set(record.id, createPendingEntry(record));
    return 'created';
  }

  resolve(id: string, transition: (pending: PendingEntry) => PendingTransition): void {
    const pending = this.pendings.get(id);
    expect(pending).toBeDefined();
    const t = transition(pending as PendingEntry);
    this.commit(createResolutionRecord(t.resolution, context), t.changes);
    this.pendings.set(id, t.pending);
  }

  /** The bounded expiry sweep. */
  sweep(): void {
    const due = [...this.pendings.values()].filter((p) => p.state === 'pending' && isExpired(p, this.nowMs)).slice(0, SWEEP_BATCH_MAX);
    for (const pending of due) {
      this.resolve(pending.id, (p) => expirePending(p, this.nowMs));
      count('expire: ok');
    }
  }

  /** One transaction: stage every change, check limits on whole balances, then write everything or nothing. */
  commit(record: JournalRecord, changes: readonly BalanceChange[]): void {
    const stagedShards = new Map<string, Balance[]>();
    const stagedUnsharded = new Map<string, Balance>();
    for (const change of changes) {
      const account = this.accounts.get(change.accountId) as Account;
      const shards = stagedShards.get(account.id) ?? [...(this.shards.get(account.id) as Balance[])];
      const shard = pickShard(account.id, change.shardKey, account.shardCount);
      shards[shard] = applyDelta(shards[shard] as Balance, change.delta);
      stagedShards.set(account.id, shards);
      stagedUnsharded.set(account.id, applyDelta(stagedUnsharded.get(account.id) ?? (this.unsharded.get(account.id) as Balance), change.delta));
    }
    for (const [accountId, shards] of stagedShards) {
      const account = this.accounts.get(accountId) as Account;
      if (hasBalanceLimit(account)) checkLimits(account, sumShards(shards));
    }
    const stripe = chainStripeFor(record.id, STRIPE_COUNT);
    const linked = linkRecord(record, this.heads.get(stripe) ?? emptyStripeHead(tenantId, stripe));
    this.records.push(linked.record);
    this.heads.set(stripe, linked.head);
    for (const [id, shards] of stagedShards) this.shards.set(id, shards);
    for (const [id, balance] of stagedUnsharded) this.unsharded.set(id, balance);
  }

  snapshot(): unknown {
    return structuredClone({
      accounts: this.accounts,
      shards: this.shards,
      unsharded: this.unsharded,
      records: this.records,
      heads: this.heads,
      pendings: this.pendings,
      contentHashes: this.contentHashes,
    });
  }
}

// Operations are data; `run` interprets them against the model's current state.
const groupArb = fc.record({
  currency: fc.constantFrom(...currencies),
  offset: fc.nat(),
  accounts: fc.integer({ min: 2, max: 4 }),
  debits: fc.integer({ min: 1, max: 3 }),
  amounts: fc.array(fc.bigInt({ min: 3n, max: 100_000n }), { minLength: 3, maxLength: 3 }),
  weights: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 3, maxLength: 3 }),
});
const opArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('entry' as const),
      groups: fc.array(groupArb, { minLength: 1, maxLength: 2 }),
      pendingMs: fc.oneof(fc.constant(null), fc.constantFrom(1_000, 30_000, 3_600_000)),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      pick: fc.nat(),
      percent: fc.oneof(fc.constant(null), fc.constant(0), fc.integer({ min: 1, max: 100 })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('void' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(500, 20_000, 600_000, 7_200_000), sweep: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat(), sameContent: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resolveAgain' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
);
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;
type Group = typeof groupArb extends fc.Arbitrary<infer T> ? T : never;

/** Balanced postings for one currency group: some debits, and credits splitting their total. */
function groupPostings(model: Model, group: Group, used: Set<string>): Posting[] {
  const candidates = [...model.accounts.values()].filter((a) => a.currency === group.currency && !used.has(a.id));
  const n = Math.min(group.accounts, candidates.length);
  if (n < 2) return []; // A second group of an exhausted currency adds nothing.
  const chosen = Array.from({ length: n }, (_, i) => candidates[(group.offset + i) % candidates.length] as Account);
  const debitCount = Math.max(1, Math.min(group.debits, n - 1));
  const debitAmounts = group.amounts.slice(0, debitCount);
  const total = debitAmounts.reduce((a, b) => a + b, 0n);
  const creditCount = n - debitCount;
  const weights = group.weights.slice(0, creditCount).map(BigInt);
  const weightTotal = weights.reduce((a, b) => a + b, 0n);
  const spare = total - BigInt(creditCount);
  const credits = weights.map((w) => 1n + (spare * w) / weightTotal);
  credits[credits.length - 1] = (credits[credits.length - 1] ?? 0n) + total - credits.reduce((a, b) => a + b, 0n);
  chosen.forEach((a) => used.add(a.id));
  return chosen.map((account, i) => ({
    accountId: account.id,
    direction: i < debitCount ? 'debit' : 'credit',
    amountMinor: i < debitCount ? (debitAmounts[i] as bigint) : (credits[i - debitCount] as bigint),
    currency: account.currency,
  }));
}

/** Balanced partial amounts: debits scaled by `percent`, credits filled greedily up to that total. */
function partialAmounts(postings: readonly Posting[], percent: number): bigint[] {
  const amounts = postings.map((p) => (p.direction === 'debit' ? (p.amountMinor * BigInt(percent)) / 100n : 0n));
  for (const currency of new Set(postings.map((p) => p.currency))) {
    let remaining = postings.reduce((sum, p, i) => (p.currency === currency ? sum + (amounts[i] as bigint) : sum), 0n);
    postings.forEach((p, i) => {
      if (p.currency !== currency || p.direction !== 'credit') return;
      const take = remaining < p.amountMinor ? remaining : p.amountMinor;
      amounts[i] = take;
      remaining -= take;
    });
  }
  return amounts;
}

/** Runs `action`; a typed refusal must leave the model exactly as it was. */
function attempt(model: Model, label: string, action: () => unknown, allowed: readonly string[]): void {
  const before = model.snapshot();
  try {
    action();
    count(`${label}: ok`);
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    expect(allowed, `${label} refused with ${error.reason}: ${error.message}`).toContain(error.reason);
    expect(model.snapshot()).toEqual(before);
    count(`${label}: ${error.reason}`);
  }
}

function run(model: Model, op: Op, nextId: () => string): void {
  const pendingIds = [...model.pendings.values()].filter((p) => p.state === 'pending').map((p) => p.id);
  const pick = <T>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);
  switch (op.kind) {
    case 'entry': {
      const used = new Set<string>();
      const postings = op.groups.flatMap((g) => groupPostings(model, g, used));
      const input: EntryInput = { id: nextId(), postings, description: 'model', metadata: { n: String(postings.length) }, pending: op.pendingMs === null ? null : { timeoutMs: op.pendingMs } };
      attempt(model, op.pendingMs === null ? 'entry' : 'pending entry', () => model.createEntry(input), ['LIMIT_EXCEEDED', 'ACCOUNT_CLOSED']);
      return;
    }
    case 'post': {
      const id = pick(pendingIds, op.pick);
      if (id === undefined) return;
      const pending = model.pendings.get(id) as PendingEntry;
      const amounts = op.percent === null ? undefined : partialAmounts(pending.postings, op.percent);
      // Never LIMIT_EXCEEDED: resolutions only relax limits.
      attempt(model, op.percent === null ? 'post' : 'partial post', () => model.resolve(id, (p) => postPending(p, amounts, model.nowMs)), [
        'INVALID_STATE_TRANSITION',
        'AMOUNT_OUT_OF_RANGE',
      ]);
      return;
    }
    case 'void': {
      const id = pick(pendingIds, op.pick);
      if (id !== undefined) attempt(model, 'void', () => model.resolve(id, (p) => voidPending(p, model.nowMs)), ['INVALID_STATE_TRANSITION']);
      return;
    }
    case 'advance':
      // The sweep is periodic: time may pass without it, leaving timed-out entries still held.
      model.nowMs += op.ms;
      if (op.sweep) model.sweep();
      return;
    case 'retry': {
      const input = pick(model.inputs, op.pick);
      if (input === undefined) return;
      const before = model.snapshot();
      if (op.sameContent) {
        // Same content, metadata keys in another order: a replay that changes nothing.
        expect(model.createEntry({ ...input, metadata: Object.fromEntries(Object.entries(input.metadata).reverse()) })).toBe('replayed');
        count('retry: replayed');
      } else {
        expect(() => model.createEntry({ ...input, description: `${input.description}!` })).toThrow(expect.objectContaining({ reason: 'ENTRY_ID_REUSED' }));
        count('retry: ENTRY_ID_REUSED');
      }
      expect(model.snapshot()).toEqual(before);
      return;
    }
    case 'resolveAgain': {
      const resolved = [...model.pendings.values()].filter((p) => p.state !== 'pending');
      const pending = pick(resolved, op.pick);
      if (pending === undefined) return;
      attempt(model, 'resolve again', () => model.resolve(pending.id, (p) => postPending(p, undefined, model.nowMs)), ['INVALID_STATE_TRANSITION']);
      return;
    }
    case 'close': {
      // Rarely, or most later entries would be refused.
      const account = pick([...model.accounts.values()], op.pick) as Account;
      if (op.pick % 4 === 0 && !account.closed) model.accounts.set(account.id, closeAccount(account));
      return;
    }
  }
}

function checkInvariants(model: Model): void {
  // Debits equal credits per currency, posted and pending.
  for (const currency of currencies) {
    const total = sumShards([...model.unsharded.entries()].filter(([id]) => model.accounts.get(id)?.currency === currency).map(([, b]) => b));
    expect(total.postedDebitsMinor).toBe(total.postedCreditsMinor);
    expect(total.pendingDebitsMinor).toBe(total.pendingCreditsMinor);
  }
  const replayed = replayBalances(model.records);
  for (const account of model.accounts.values()) {
    const sharded = sumShards(model.shards.get(account.id) as Balance[]);
    // Sharded sums equal the unsharded balance and the replay of the journal.
    expect(sharded).toEqual(model.unsharded.get(account.id));
    expect(sharded).toEqual(replayed.get(account.id) ?? ZERO_BALANCE);
    // Limits hold, checked directly rather than through checkLimits.
    if (account.flags.debitsMustNotExceedCredits) expect(sharded.postedDebitsMinor + sharded.pendingDebitsMinor <= sharded.postedCreditsMinor).toBe(true);
    if (account.flags.creditsMustNotExceedDebits) expect(sharded.postedCreditsMinor + sharded.pendingCreditsMinor <= sharded.postedDebitsMinor).toBe(true);
    // Pending amounts are exactly the holds of still-pending entries.
    const holds = [...model.pendings.values()].filter((p) => p.state === 'pending').flatMap((p) => p.postings.filter((q) => q.accountId === account.id));
    const held = (direction: string): bigint => holds.filter((q) => q.direction === direction).reduce((sum, q) => sum + q.amountMinor, 0n);
    expect([sharded.pendingDebitsMinor, sharded.pendingCreditsMinor]).toEqual([held('debit'), held('credit')]);
  }
}

function checkChains(model: Model): void {
  let total = 0;
  for (let stripe = 0; stripe < STRIPE_COUNT; stripe++) {
    const records = model.records.filter((r) => r.chain.stripe === stripe);
    const head = model.heads.get(stripe) ?? emptyStripeHead(tenantId, stripe);
    expect(verifyChain(records, genesisHash(tenantId, stripe), head)).toEqual({ ok: true, count: head.entryCount, headHash: head.headHash });
    total += records.length;
  }
  expect(total).toBe(model.records.length);
}

describe('ledger invariants over random operation sequences', () => {
  // Bounded by numRuns (about 5.5 s quiet); the timeout only catches a hang. 30 s failed under a load
  // average of 20 on this 2-core machine.
  it('hold after every operation', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        const model = new Model();
        let n = 0;
        for (const op of ops) {
          run(model, op, () => `je_${(n += 1)}`);
          checkInvariants(model);
        }
        checkChains(model);
      }),
      { numRuns: 200 },
    );
    // Every path was exercised, including refusals by limit and closed accounts and expiry.
    for (const what of [
      'entry: ok',
      'entry: LIMIT_EXCEEDED',
      'entry: ACCOUNT_CLOSED',
      'pending entry: ok',
      'pending entry: LIMIT_EXCEEDED',
      'post: ok',
      'partial post: ok',
      'partial post: AMOUNT_OUT_OF_RANGE',
      'void: ok',
      'expire: ok',
      'resolve again: INVALID_STATE_TRANSITION',
      'retry: replayed',
      'retry: ENTRY_ID_REUSED',
    ]) {
      expect(seen.get(what) ?? 0, what).toBeGreaterThan(0);
    }
    // Timed out but not yet swept: posting or voiding is refused.
    const refusedAfterTimeout = ['post', 'partial post', 'void'].reduce((sum, label) => sum + (seen.get(`${label}: INVALID_STATE_TRANSITION`) ?? 0), 0);
    expect(refusedAfterTimeout).toBeGreaterThan(0);
  });
});
