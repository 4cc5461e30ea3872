/**
 * Ledger use cases: each mutation is one transaction through the LedgerStore port that reads what
 * it needs, decides with the pure domain code, and writes the record(s), balance shards, chain head,
 * pending state and outbox event together. See README "Ledger" for why this is correct under
 * concurrency.
 */
import { LRUCache } from 'lru-cache';
import { TallyError, invalidField } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import {
  applyShardChange, balanceChangesOf, balanceOfShards, checkLimits, releaseExpiredHolds, stateAt, checkpointHeadFor, closeAccount as closeAccountDomain,
  createAccount as createAccountDomain, createChainVerifier, createCheckpoint, createWatermark, emptyStripeHead, genesisWatermark, signWatermark,
  verifyWatermarkSignature, watermarkEntryCount, watermarkHeadFor, createEntryRecord, createPendingEntry,
  createResolutionRecord, decideReplay, entryContentHash, expirePending, genesisHash, hasBalanceLimit, linkRecord,
  pickShard, postPending, signCheckpoint, validateCreateAccount, validateEntry, validateEntryShape,
  verifyCheckpointSignature, voidPending,
} from '../../domain/ledger/index.js';
import {
  type ReservedLedgerNamespace, checkAccountCodeNotReserved, checkAccountIdNotReserved, checkEntryIdNotReserved, isReservedAccountId,
} from '../../domain/ledger/namespace.js';
import { paymentsLedgerNamespace } from '../../domain/payments/ledger-postings.js';
import { billingLedgerNamespace } from '../../domain/billing/invoice-postings.js';
import { reconLedgerNamespace } from '../../domain/recon/ledger-namespace.js';
import type { Account, CreateAccountInput } from '../../domain/ledger/account.js';
import type { Balance, BalanceChange } from '../../domain/ledger/balance.js';
import type { EntryInput } from '../../domain/ledger/entry.js';
import type { SignedCheckpoint } from '../../domain/ledger/checkpoint.js';
import type { ChainedRecord } from '../../domain/ledger/hash-chain.js';
import type { VerificationMode } from '../../domain/ledger/verification.js';
import type { JournalRecord } from '../../domain/ledger/journal-record.js';
import type { Signer } from '../../ports/signer.js';
import type { PendingEntry, PendingTransition } from '../../domain/ledger/two-phase.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { WriteLanes } from '../../platform/lanes/write-lanes.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { balanceAsOf, emptySnapshot } from '../../domain/ledger/snapshot.js';
import type { Clock } from '../../ports/clock.js';
import type { LedgerStore, LedgerTx, OutboxEvent } from '../../ports/ledger-store.js';
import type { Page } from '../../ports/tenancy-repository.js';

export interface LedgerLimits {
  /** Hash-chain stripes per tenant (may grow, never shrink). */
  chainStripes: number;
  /**
   * Most records an "as of" balance replays after its nearest balance snapshot before refusing
   * (snapshots behind: maintenance has not caught up). With snapshots current it replays at most
   * about `snapshotEveryRecords` plus the records of the last `snapshotSettleMs` (ADR 0025).
   */
  asOfRecordsMax: number;
  /** A balance snapshot every this many records of an account (ADR 0025). */
  snapshotEveryRecords: number;
  /** Snapshots end at least this long before now: a record may commit this late with an earlier time. */
  snapshotSettleMs: number;
  /** Most accounts one maintenance run checks per tenant (the walk resumes from a cursor). */
  snapshotAccountsPerTenantMax: number;
  /** Most balance snapshots one maintenance run writes (each reads at most `snapshotEveryRecords` + 1 records). */
  snapshotsPerRunMax: number;
  /** Most records read per page while verifying a stripe. */
  verifyPageSize: number;
  /** Most records (and checkpoint signatures) one VerifyChain request checks (ADR 0026). */
  verifyChunkRecordsMax: number;
  /** Most pending entries one sweep expires. */
  sweepBatchMax: number;
}

export interface LedgerDeps {
  store: LedgerStore;
  clock: Clock;
  signer: Signer;
  limits: LedgerLimits;
  /** Exclusive slots for concurrent writes of this process (see platform/lanes). */
  lanes: WriteLanes;
  /** Random per instance: which block of stripes and which shard rotation this instance uses. */
  instanceSalt: number;
}

const safeMax = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Names the system paths derive and must always be able to write (ADR 0017): the public use cases
 * below (what the LedgerService RPCs call) refuse them with RESERVED_NAMESPACE; `planEntry` and the
 * store's `createAccount`, which the payments path uses, do not check them.
 */
const reservedNamespaces: readonly ReservedLedgerNamespace[] = [paymentsLedgerNamespace, billingLedgerNamespace, reconLedgerNamespace];

/** Most attempts at an account id outside every reserved namespace (a clash is a 1 in 2^24 event). */
const accountIdAttemptsMax = 8;

function newPublicAccountId(): string {
  for (let attempt = 0; attempt < accountIdAttemptsMax; attempt++) {
    const id = newId('acc');
    if (!reservedNamespaces.some((ns) => isReservedAccountId(ns, id))) return id;
  }
  throw new Error(`assertion failed: ${accountIdAttemptsMax} random account ids in a reserved namespace`);
}

// ---- accounts -------------------------------------------------------------------------------

export async function createAccount(deps: LedgerDeps, tenantId: string, input: CreateAccountInput): Promise<Account> {
  const valid = validateCreateAccount(input);
  checkAccountCodeNotReserved(reservedNamespaces, valid.code);
  const account = createAccountDomain(valid, { id: newPublicAccountId(), tenantId, createdAtMs: deps.clock.nowMs() });
  const result = await deps.store.createAccount(account);
  if (!result.created) {
    throw new TallyError('ALREADY_EXISTS', `account code ${valid.code} is taken by ${result.account.id}`, { field: 'code', accountId: result.account.id });
  }
  return result.account;
}

export async function getAccount(deps: LedgerDeps, tenantId: string, accountId: string): Promise<Account> {
  const account = accountId === '' ? undefined : await deps.store.getAccount(tenantId, accountId);
  if (!account) throw new TallyError('NOT_FOUND', `account ${accountId} not found`, { field: 'account_id' });
  return account;
}

export async function closeAccount(deps: LedgerDeps, tenantId: string, accountId: string): Promise<Account> {
  checkAccountIdNotReserved(reservedNamespaces, accountId, 'account_id');
  return deps.store.transaction(tenantId, async (tx) => {
    const account = (await tx.getAccounts([accountId])).get(accountId);
    if (!account) throw new TallyError('NOT_FOUND', `account ${accountId} not found`, { field: 'account_id' });
    if (account.closed) return account;
    const closed = closeAccountDomain(account);
    tx.setAccount(closed);
    return closed;
  });
}

export function listAccounts(deps: LedgerDeps, tenantId: string, pageSize: number, pageToken: string): Promise<Page<Account>> {
  return deps.store.listAccounts(tenantId, pageSizeOf(pageSize), pageToken === '' ? undefined : pageToken);
}

// ---- writing records --------------------------------------------------------------------------

/**
 * The shard a write on `lane` uses. Any shard is correct for an account without limits: its
 * balance is the sum of its shards and changes are additions (a release may land on another shard
 * than its hold; only the sum is ever read). Limited accounts have one shard. Choosing by lane
 * keeps this instance's concurrent writers on distinct shards of a hot account.
 */
function shardForLane(deps: LedgerDeps, account: Pick<Account, 'id' | 'shardCount'>, lane: number): number {
  if (account.shardCount === 1) return 0;
  return (lane + deps.instanceSalt + pickShard(account.id, 'lane-rotation', account.shardCount)) % account.shardCount;
}

/**
 * Plans balance changes. The shard of a one-shard account, and the shard a hold opens or is
 * released on, is read in the transaction: the change is applied with its overflow check
 * (BALANCE_OVERFLOW, ADR 0017) and, for limited accounts (one shard), the limit is checked against
 * the balance as of now (holds past their timeout released). Posted amounts on sharded accounts
 * are blind increments. A change keyed to a hold goes to the hold's shard (`holdShardOf`), so the
 * hold opens and is released on the same document; other changes go to the lane's shard.
 */
async function planBalanceWrites(
  deps: LedgerDeps, lane: number, tx: LedgerTx, accounts: ReadonlyMap<string, Account>, changes: readonly BalanceChange[],
  holdShardOf: (change: BalanceChange, index: number) => number | undefined = () => undefined,
): Promise<{ shards: number[]; commit: () => void }> {
  const writes: (() => void)[] = [];
  const shards: number[] = [];
  const nowMs = deps.clock.nowMs();
  for (const [index, change] of changes.entries()) {
    const account = accounts.get(change.accountId);
    if (!account) throw new Error(`assertion failed: change for unread account ${change.accountId}`);
    const shard = holdShardOf(change, index) ?? shardForLane(deps, account, lane);
    shards.push(shard);
    if (account.shardCount > 1 && change.hold === undefined) {
      // A sharded (hot) account takes posted amounts as blind increments: no read, so concurrent
      // writers do not wait on each other. The price: no overflow check here (ADR 0017); its
      // balance refuses to be read past int64 instead of being reported capped.
      writes.push(() => tx.incrementShard(account.id, shard, change.delta));
      continue;
    }
    const after = applyShardChange(await tx.getShard(account.id, shard), change, account.shardCount);
    if (hasBalanceLimit(account)) checkLimits(account, releaseExpiredHolds(after.balance, after.holds.values(), nowMs));
    tx.noteShard(account.id, shard, after);
    const hold = change.hold === undefined ? null
      : change.hold.action === 'release' ? { releaseEntryId: change.shardKey }
        : { open: after.holds.get(change.shardKey)! };
    writes.push(() => tx.writeShard(account.id, shard, after, hold));
  }
  return { shards, commit: () => writes.forEach((w) => w()) };
}

/**
 * Links the record into the chain stripe of its lane (any stripe is valid: the link records it);
 * returns the chained record and the write to make.
 */
/** The chain stripe a lane writes (distinct lanes of one instance never share one). */
function stripeOfLane(deps: LedgerDeps, lane: number): number {
  return (deps.instanceSalt * deps.lanes.count + lane) % deps.limits.chainStripes;
}

async function planChainLink(deps: LedgerDeps, lane: number, tx: LedgerTx, record: JournalRecord): Promise<{ chained: ChainedRecord; write: () => void }> {
  const { record: chained, head } = linkRecord(record, await tx.getStripeHead(stripeOfLane(deps, lane)));
  tx.noteStripeHead(head);
  return { chained, write: () => { tx.createRecord(chained); tx.setStripeHead(head); } };
}

function outboxEvent(type: string, record: ChainedRecord, payload: Record<string, unknown>): OutboxEvent {
  return {
    id: `evt_${record.id}`, type, aggregateId: record.kind === 'entry' ? record.id : record.pendingEntryId,
    payload: { recordId: record.id, chainHash: record.chain.hash, ...payload },
    createdAtMs: record.createdAtMs, traceId: record.traceId, spanId: record.spanId,
  };
}

export interface EntryView {
  record: ChainedRecord;
  pending: PendingEntry | undefined;
}

/** A planned entry write: reads done, decision made; `commit` performs the writes. */
export interface PlannedEntry {
  view: EntryView;
  /** False for a replay: nothing to write. */
  isNew: boolean;
  commit(): void;
}

/**
 * The reads planning entry `entryId` on `accountIds` makes, issued together so the store reads
 * them in one round trip (the head is wasted only on a replay).
 */
function entryReads(deps: LedgerDeps, tx: LedgerTx, lane: number, entryId: string, accountIds: readonly string[]) {
  // The balance shards the entry will write, when this instance knows the accounts' shard counts:
  // read in the same round trip (planBalanceWrites reads them again from the transaction's reader).
  for (const accountId of accountIds) {
    const shardCount = shardCounts.get(accountId);
    // Only one-shard accounts are read for a posted entry (sharded ones take blind increments).
    if (shardCount === 1) void tx.getShard(accountId, shardForLane(deps, { id: accountId, shardCount }, lane)).catch(() => undefined);
  }
  return Promise.all([tx.getRecord(entryId), tx.getAccounts(accountIds), tx.getStripeHead(stripeOfLane(deps, lane))]);
}

/**
 * Shard counts by account id, as last read. A shard count never changes, and a wrong or missing
 * value (an evicted entry, two tenants' accounts with one id) only costs a read in a second round
 * trip: the prefetch above is a guess, the transaction reads what it uses. Bounded (LRU).
 */
const shardCounts = new LRUCache<string, number>({ max: 10_000 });

/**
 * Starts `planEntry`'s reads of entry `entryId` on `accountIds` without waiting: a caller issues
 * them with its own reads so that all leave in one round trip (the transaction's reader keeps each
 * snapshot for the later `planEntry`). A wrong guess costs reads, nothing else; errors are left to
 * the real reads.
 */
export function prefetchEntryReads(deps: LedgerDeps, tx: LedgerTx, lane: number, entryId: string, accountIds: readonly string[]): void {
  void entryReads(deps, tx, lane, entryId, accountIds).catch(() => undefined);
}

/**
 * Plans an entry inside a transaction another use case owns (e.g. a payment capture writing its
 * ledger entry with its state change): does every read and the decision, returns the writes to
 * perform after the caller's own reads. Several entries may be planned in one transaction: each
 * links after the previous one (the transaction view remembers planned heads and shards).
 */
export async function planEntry(deps: LedgerDeps, tx: LedgerTx, lane: number, tenantId: string, input: EntryInput, trace: TraceIds): Promise<PlannedEntry> {
  const shape = validateEntryShape(input);
  shape.postings.forEach((p, i) => {
    // Balance shards add with FieldValue.increment, which takes a JS number.
    if (p.amountMinor > safeMax) throw new TallyError('AMOUNT_OUT_OF_RANGE', `postings[${i}].amount_minor: at most ${safeMax}`, { field: `postings[${i}].amount_minor` });
  });
  const contentHash = entryContentHash(input);
  const [existing, accounts] = await entryReads(deps, tx, lane, shape.id, shape.postings.map((p) => p.accountId));
  if (existing) {
    if (existing.kind !== 'entry') throw new Error('assertion failed: entry id names a resolution');
    decideReplay(entryContentHash(existing), contentHash, shape.id);
    const pending = existing.pending ? await tx.getPending(existing.id) : undefined;
    return { view: { record: existing, pending }, isNew: false, commit: () => {} };
  }
  for (const account of accounts.values()) shardCounts.set(account.id, account.shardCount);
  const valid = validateEntry(input, accounts);
  if (valid.reversesEntryId !== null) {
    const reversed = await tx.getRecord(valid.reversesEntryId);
    if (!reversed || reversed.kind !== 'entry') {
      throw new TallyError('NOT_FOUND', `entry ${valid.reversesEntryId} to reverse not found`, { field: 'reverses_entry_id' });
    }
  }
  const record = createEntryRecord(valid, deps.clock.nowMs(), { tenantId, ...trace });
  const balanceWrites = await planBalanceWrites(deps, lane, tx, accounts, balanceChangesOf(record));
  const writeBalances = balanceWrites.commit;
  const { chained, write: writeChain } = await planChainLink(deps, lane, tx, record);
  tx.notePlannedRecord(chained);
  const pending = record.pending ? createPendingEntry(record, balanceWrites.shards) : undefined;
  return {
    view: { record: chained, pending },
    isNew: true,
    commit: () => {
      writeChain();
      writeBalances();
      if (pending) tx.setPending(pending);
      tx.createOutboxEvent(outboxEvent(pending ? 'ledger.entry.pending' : 'ledger.entry.posted', chained, {
        entryId: record.id,
        postings: record.postings.map((p) => ({ accountId: p.accountId, direction: p.direction, amountMinor: p.amountMinor.toString(), currency: p.currency })),
      }));
    },
  };
}

/**
 * Creates an entry. The entry id is the idempotency key: a retry with the same content returns the
 * stored entry (even if an account was closed since); other content fails with ENTRY_ID_REUSED.
 */
export async function createEntry(deps: LedgerDeps, tenantId: string, input: EntryInput, trace: TraceIds): Promise<EntryView> {
  const shape = validateEntryShape(input);
  checkEntryIdNotReserved(reservedNamespaces, shape.id, 'entry_id');
  shape.postings.forEach((p, i) => checkAccountIdNotReserved(reservedNamespaces, p.accountId, `postings[${i}].account_id`));
  // One-shard accounts are read by the transaction (limits, overflow): this instance's writers of
  // one such account queue here instead of aborting each other in Firestore.
  const readAccounts = shape.postings.map((p) => p.accountId).filter((id) => shardCounts.get(id) === 1);
  return withAccountTurns(tenantId, readAccounts, () => deps.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const plan = await planEntry(deps, tx, lane, tenantId, input, trace);
    plan.commit();
    return plan.view;
  })));
}

/** The tail of each account's queue of this instance's writers (see `withAccountTurns`). */
const accountTurns = new Map<string, Promise<void>>();

/**
 * Runs `work` once every earlier writer of this instance to any of `accountIds` has finished:
 * a per-account FIFO (accounts taken in sorted order, so two writers never wait on each other in
 * a cycle). Bounded by the write lanes' own bound on concurrent writes. Correctness never depends
 * on it: the transaction still reads and checks what it writes; it only spares Firestore the
 * contention of one instance's writers on one document.
 */
async function withAccountTurns<T>(tenantId: string, accountIds: readonly string[], work: () => Promise<T>): Promise<T> {
  const keys = [...new Set(accountIds.map((id) => `${tenantId}/${id}`))].sort();
  const releases: (() => void)[] = [];
  try {
    for (const key of keys) {
      const previous = accountTurns.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => { release = resolve; });
      const tail = previous.then(() => mine);
      accountTurns.set(key, tail);
      releases.push(() => {
        release();
        if (accountTurns.get(key) === tail) accountTurns.delete(key);
      });
      await previous;
    }
    return await work();
  } finally {
    for (const release of releases) release();
  }
}

async function resolvePending(
  deps: LedgerDeps, tenantId: string, entryId: string, trace: TraceIds,
  decide: (pending: PendingEntry, nowMs: number) => PendingTransition,
): Promise<EntryView> {
  return deps.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const pending = await tx.getPending(entryId);
    if (!pending) throw new TallyError('NOT_FOUND', `pending entry ${entryId} not found`, { field: 'entry_id' });
    const transition = decide(pending, deps.clock.nowMs());
    const accounts = await tx.getAccounts(pending.postings.map((p) => p.accountId));
    const record = createResolutionRecord(transition.resolution, { tenantId, ...trace });
    // The release goes to the shard that keeps the hold (older entries: the lane's, as before).
    const { commit: writeBalances } = await planBalanceWrites(deps, lane, tx, accounts, transition.changes, (_change, i) => pending.holdShards?.[i]);
    const { chained, write: writeChain } = await planChainLink(deps, lane, tx, record);
    const entry = await tx.getRecord(entryId);
    if (!entry) throw new Error(`assertion failed: pending ${entryId} without its entry record`);
    writeChain();
    writeBalances();
    tx.setPending(transition.pending);
    tx.createOutboxEvent(outboxEvent(`ledger.pending.${transition.resolution.outcome}`, chained, {
      entryId, postedAmountsMinor: transition.resolution.postings.map((p) => p.postedAmountMinor.toString()),
    }));
    return { record: entry, pending: transition.pending };
  }));
}

export function postPendingEntry(deps: LedgerDeps, tenantId: string, entryId: string, amountsMinor: readonly bigint[] | undefined, trace: TraceIds): Promise<EntryView> {
  checkEntryIdNotReserved(reservedNamespaces, entryId, 'entry_id');
  return resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => postPending(p, amountsMinor, nowMs));
}

export function voidPendingEntry(deps: LedgerDeps, tenantId: string, entryId: string, trace: TraceIds): Promise<EntryView> {
  checkEntryIdNotReserved(reservedNamespaces, entryId, 'entry_id');
  return resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => voidPending(p, nowMs));
}

/**
 * Expires pending entries whose timeout passed, releasing their holds: at most `sweepBatchMax`
 * per call (the scheduler calls again). Each expiry is its own transaction, so a crash mid-sweep
 * loses nothing and a concurrent post/void simply wins or loses the race cleanly. `scope.tenantId`
 * limits it to one tenant (tests; per-tenant upkeep); the scheduler sweeps all tenants.
 */
export async function sweepExpiredPendings(deps: LedgerDeps, trace: TraceIds, scope: { tenantId?: string } = {}): Promise<{ expired: number; skipped: number }> {
  const due = await deps.store.findExpiredPendings(deps.clock.nowMs(), deps.limits.sweepBatchMax, scope.tenantId);
  let expired = 0;
  let skipped = 0;
  const failures: { entryId: string; error: unknown }[] = [];
  for (const { tenantId, entryId } of due) {
    try {
      await resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => expirePending(p, nowMs));
      expired++;
    } catch (error) {
      // Resolved meanwhile by a post or void: nothing to release.
      if (error instanceof TallyError && error.reason === 'INVALID_STATE_TRANSITION') skipped++;
      // One entry that cannot be expired (contention, a bug) must not stop the rest of the batch;
      // it is reported loudly below, after the others are written down.
      else failures.push({ entryId, error });
    }
  }
  if (failures.length > 0) {
    throw new Error(`ledger sweep: ${failures.length} of ${due.length} expired pending entries could not be written down (first: ${failures[0]!.entryId}); ${expired} were`, { cause: failures[0]!.error });
  }
  return { expired, skipped };
}

// ---- reading ---------------------------------------------------------------------------------

export async function getEntry(deps: LedgerDeps, tenantId: string, entryId: string): Promise<EntryView> {
  return deps.store.transaction(tenantId, async (tx) => {
    const record = entryId === '' ? undefined : await tx.getRecord(entryId);
    if (!record || record.kind !== 'entry') throw new TallyError('NOT_FOUND', `entry ${entryId} not found`, { field: 'entry_id' });
    const pending = record.pending ? await tx.getPending(entryId) : undefined;
    // From its timeout on a hold is expired for every reader, swept or not (ADR 0017).
    return { record, pending: pending && { ...pending, state: stateAt(pending, deps.clock.nowMs()) } };
  });
}

export async function listEntries(
  deps: LedgerDeps, tenantId: string,
  input: { accountId: string; startMs: number | null; endMs: number | null; pageSize: number; pageToken: string },
): Promise<Page<ChainedRecord>> {
  await getAccount(deps, tenantId, input.accountId);
  if (input.startMs !== null && input.endMs !== null && input.startMs >= input.endMs) throw invalidField('end_time', 'must be after start_time');
  return deps.store.listEntries(tenantId, { accountId: input.accountId, startMs: input.startMs, endMs: input.endMs },
    pageSizeOf(input.pageSize), input.pageToken === '' ? undefined : input.pageToken);
}

/**
 * Current balance (all shards at one snapshot: read-your-writes) or as of a time: the account's
 * nearest balance snapshot at or before it plus the records after it (ADR 0025), at most
 * `asOfRecordsMax` of them; more means the snapshots are behind, refused with LIMIT_EXCEEDED.
 */
export async function getBalance(deps: LedgerDeps, tenantId: string, accountId: string, asOfMs: number | null): Promise<{ account: Account; balance: Balance; asOfMs: number }> {
  const account = await getAccount(deps, tenantId, accountId);
  if (asOfMs === null) {
    const nowMs = deps.clock.nowMs();
    // Holds past their timeout count as released now, whether or not the sweep has run (ADR 0017).
    return { account, balance: balanceOfShards(await deps.store.readShards(tenantId, accountId, account.shardCount), nowMs, accountId), asOfMs: nowMs };
  }
  // No record is older than the epoch (createdAtMs >= 0): before it every balance is zero (and the
  // empty snapshot starts at -1 ms, which a replay may not go back from).
  if (asOfMs < 0) return { account, balance: emptySnapshot(accountId).raw, asOfMs };
  const base = (await deps.store.latestBalanceSnapshot(tenantId, accountId, asOfMs)) ?? emptySnapshot(accountId);
  const recordsMax = deps.limits.asOfRecordsMax;
  // Counted before read (an aggregation: one read per 1,000 index entries), so a refusal costs a
  // few reads instead of `asOfRecordsMax`; the read keeps its own bound (records may land meanwhile).
  const behind = (await deps.store.countRecordsBetween(tenantId, accountId, base.throughMs, asOfMs, recordsMax + 1)) > recordsMax;
  const records = behind ? [] : await deps.store.recordsBetween(tenantId, accountId, base.throughMs, asOfMs, recordsMax + 1);
  if (behind || records.length > recordsMax) {
    // Not the caller's fault and no other time helps: snapshots have not caught up with this
    // account's history yet (maintenance writes them, a bounded number a run).
    const since = base.throughMs < 0 ? 'its first record (no balance snapshot yet)' : `its balance snapshot through ${new Date(base.throughMs).toISOString()}`;
    throw new TallyError('LIMIT_EXCEEDED', `account ${accountId}: more than ${recordsMax} records between ${since} and as_of_time; balance snapshots are behind (ledger maintenance writes them), retry later`, {
      accountId, limit: 'asOfRecordsMax', snapshotThroughMs: String(base.throughMs),
    });
  }
  return { account, balance: balanceAsOf(base, records, asOfMs), asOfMs };
}

export interface ChainReport {
  ok: boolean;
  /** Records checked by this request. */
  entriesChecked: number;
  firstBadEntryId: string;
  failureReason: string;
  /** Checkpoint signatures verified by this request. */
  checkpointsVerified: number;
  stripesChecked: number;
  /** Which watermark this request advanced: the incremental one or the full job's. */
  mode: VerificationMode;
  /** The full job's id ('' for incremental). */
  jobId: string;
  /** True when the verification reached every stripe head read by this request (false: call again). */
  complete: boolean;
  /** Records covered by the watermark after this request (verified from genesis, over all requests). */
  entriesVerified: number;
  /** Records in the chain at the stripe heads this request read (what `complete` means reaching). */
  entriesTotal: number;
  /** Checkpoint signatures are verified up to this sequence. */
  checkpointSequence: number;
  /** A stored watermark did not verify (forged, edited or malformed): it was ignored and verification restarted from genesis. */
  watermarkRejected: boolean;
}

/**
 * One bounded chunk of chain verification (ADR 0026). Starts at the tenant's signed watermark of
 * `mode` (genesis when there is none, when it does not verify, or, for `full`, when the last job
 * finished), verifies at most `recordsMax` (capped at `limits.verifyChunkRecordsMax`) checkpoint
 * signatures and records after it, in pages, stripe by stripe, checking each stripe against the
 * latest verified checkpoint and, when it reaches it, the stored stripe head; then signs and stores
 * the advanced watermark. Time is linear in what it checks; memory is one page plus one head per
 * stripe. A failure names the first bad record and leaves the watermark where it was.
 */
export async function verifyChainChunk(deps: LedgerDeps, tenantId: string, options: { mode: VerificationMode; recordsMax?: number }): Promise<ChainReport> {
  const { mode } = options;
  const chunkMax = deps.limits.verifyChunkRecordsMax;
  let budget = options.recordsMax !== undefined && options.recordsMax > 0 ? Math.min(options.recordsMax, chunkMax) : chunkMax;
  const nowMs = deps.clock.nowMs();
  const stored = await deps.store.getVerificationWatermark(tenantId, mode);
  const trusted = stored !== undefined && (await verifyWatermarkSignature(stored, deps.signer, tenantId, mode));
  let start = trusted ? createWatermark(stored.watermark) : genesisWatermark(tenantId, mode, mode === 'full' ? newId('vjob') : '', nowMs);
  if (mode === 'full' && start.complete) start = genesisWatermark(tenantId, mode, newId('vjob'), nowMs);
  const heads = await deps.store.readStripeHeads(tenantId);
  const report: ChainReport = {
    ok: true, entriesChecked: 0, firstBadEntryId: '', failureReason: '', checkpointsVerified: 0, stripesChecked: 0, mode, jobId: start.jobId,
    complete: false, entriesVerified: watermarkEntryCount(start), entriesTotal: heads.reduce((n, h) => n + h.entryCount, 0),
    checkpointSequence: start.checkpointSequence, watermarkRejected: stored !== undefined && !trusted,
  };
  const broken = (failureReason: string, firstBadEntryId = ''): ChainReport => ({ ...report, ok: false, failureReason, firstBadEntryId });

  // Checkpoints first, each signature once over the job (they count against the chunk bound): the
  // chains are checked against the latest, re-read here when the watermark already covers it.
  let latest: SignedCheckpoint | undefined;
  if (start.checkpointSequence > 0) {
    const [signed] = await deps.store.listCheckpoints(tenantId, start.checkpointSequence - 1, 1);
    if (!signed || signed.checkpoint.sequence !== start.checkpointSequence || signed.checkpoint.tenantId !== tenantId || !(await verifyCheckpointSignature(signed, deps.signer))) {
      return broken(`checkpoint ${start.checkpointSequence}: missing or its signature does not verify (it did when verified before)`);
    }
    latest = signed;
  }
  let checkpointsDone = false;
  while (budget > 0) {
    const limit = Math.min(deps.limits.verifyPageSize, budget);
    const page = await deps.store.listCheckpoints(tenantId, report.checkpointSequence, limit);
    for (const signed of page) {
      if (signed.checkpoint.tenantId !== tenantId || !(await verifyCheckpointSignature(signed, deps.signer))) {
        return broken(`checkpoint ${signed.checkpoint.sequence}: signature does not verify`);
      }
      if (signed.checkpoint.sequence <= report.checkpointSequence) {
        throw new Error(`assertion failed: checkpoints out of sequence order at ${signed.checkpoint.sequence}`);
      }
      latest = signed;
      report.checkpointSequence = signed.checkpoint.sequence;
      report.checkpointsVerified++;
      budget--;
    }
    if (page.length < limit) {
      checkpointsDone = true;
      break;
    }
  }

  const verified = new Map(start.stripeHeads.map((h) => [h.stripe, h]));
  if (checkpointsDone) {
    const stripes = [...new Set([...heads.map((h) => h.stripe), ...(latest?.checkpoint.stripeHeads.map((h) => h.stripe) ?? []), ...verified.keys()])].sort((a, b) => a - b);
    let reachedHeads = true;
    for (const stripe of stripes) {
      const from = watermarkHeadFor(start, stripe);
      const head = heads.find((h) => h.stripe === stripe) ?? emptyStripeHead(tenantId, stripe);
      const signedHead = latest ? checkpointHeadFor(latest.checkpoint, stripe) : undefined;
      if (from.entryCount > head.entryCount) {
        return broken(`stripe ${stripe}: stored head counts ${head.entryCount} records, fewer than the ${from.entryCount} verified before (records removed)`);
      }
      if (signedHead && signedHead.entryCount > head.entryCount) {
        return broken(`checkpoint_missing_entries (stripe ${stripe}): checkpoint ${report.checkpointSequence} signed ${signedHead.entryCount} records, the stored head counts ${head.entryCount}`);
      }
      const verifier = createChainVerifier(genesisHash(tenantId, stripe), signedHead, from);
      let position = { entryCount: from.entryCount, headHash: from.headHash };
      while (position.entryCount < head.entryCount && budget > 0) {
        const limit = Math.min(deps.limits.verifyPageSize, budget, head.entryCount - position.entryCount);
        const page = await deps.store.readStripe(tenantId, stripe, position.entryCount, limit);
        for (const record of page) {
          const failure = verifier.push(record);
          if (failure) return broken(`${failure.reason} (stripe ${stripe})`, failure.firstBadEntryId ?? '');
          position = { entryCount: position.entryCount + 1, headHash: record.chain.hash };
          report.entriesChecked++;
          report.entriesVerified++;
          budget--;
        }
        if (page.length < limit) {
          return broken(`stripe ${stripe}: stored head counts ${head.entryCount} records, only ${position.entryCount} found (records missing)`);
        }
      }
      verified.set(stripe, { stripe, ...position });
      if (position.entryCount < head.entryCount) {
        reachedHeads = false;
        break;
      }
      const result = verifier.finish();
      if (!result.ok) return broken(`${result.reason} (stripe ${stripe})`, result.firstBadEntryId ?? '');
      if (position.headHash !== head.headHash) {
        return broken(`stripe ${stripe}: stored head does not match the records (records missing or added)`);
      }
      report.stripesChecked++;
    }
    report.complete = reachedHeads;
  }

  const watermark = createWatermark({
    tenantId, mode, jobId: start.jobId, stripeHeads: [...verified.values()], checkpointSequence: report.checkpointSequence,
    complete: report.complete, startedAtMs: start.startedAtMs, updatedAtMs: nowMs,
  });
  await deps.store.putVerificationWatermark(await signWatermark(watermark, deps.signer));
  return report;
}

/** Signs the current stripe heads as the tenant's next checkpoint. */
export async function checkpointTenant(deps: LedgerDeps, tenantId: string): Promise<number | undefined> {
  const heads = await deps.store.readStripeHeads(tenantId);
  if (heads.length === 0) return undefined;
  const latest = await deps.store.latestCheckpoint(tenantId);
  const sequence = (latest?.checkpoint.sequence ?? 0) + 1;
  const checkpoint = createCheckpoint({ tenantId, sequence, stripeHeads: heads, createdAtMs: deps.clock.nowMs() });
  const created = await deps.store.createCheckpoint(await signCheckpoint(checkpoint, deps.signer));
  return created ? sequence : undefined;
}

