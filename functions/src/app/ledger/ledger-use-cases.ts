/**
 * Ledger use cases: each mutation is one transaction through the LedgerStore port that reads what
 * it needs, decides with the pure domain code, and writes the record(s), balance shards, chain head,
 * pending state and outbox event together. See README "Ledger" for why this is correct under
 * concurrency.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import {
  applyDelta, balanceChangesOf, checkLimits, checkpointHeadFor, closeAccount as closeAccountDomain,
  createAccount as createAccountDomain, createChainVerifier, createCheckpoint, createEntryRecord, createPendingEntry,
  createResolutionRecord, decideReplay, entryContentHash, expirePending, genesisHash, hasBalanceLimit, linkRecord,
  pickShard, postPending, replayBalances, signCheckpoint, sumShards, validateCreateAccount, validateEntry, validateEntryShape,
  verifyCheckpointSignature, voidPending,
} from '../../domain/ledger/index.js';
import type { Account, CreateAccountInput } from '../../domain/ledger/account.js';
import type { Balance, BalanceChange } from '../../domain/ledger/balance.js';
import type { EntryInput } from '../../domain/ledger/entry.js';
import type { ChainedRecord } from '../../domain/ledger/hash-chain.js';
import type { JournalRecord } from '../../domain/ledger/journal-record.js';
import type { Signer } from '../../ports/signer.js';
import type { PendingEntry, PendingTransition } from '../../domain/ledger/two-phase.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { WriteLanes } from '../../platform/lanes/write-lanes.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import type { Clock } from '../../ports/clock.js';
import type { LedgerStore, LedgerTx, OutboxEvent } from '../../ports/ledger-store.js';
import type { Page } from '../../ports/tenancy-repository.js';

export interface LedgerLimits {
  /** Hash-chain stripes per tenant (may grow, never shrink). */
  chainStripes: number;
  /** Most records an "as of" balance replays before refusing. */
  asOfRecordsMax: number;
  /** Most records read per page while verifying a stripe. */
  verifyPageSize: number;
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

// ---- accounts -------------------------------------------------------------------------------

export async function createAccount(deps: LedgerDeps, tenantId: string, input: CreateAccountInput): Promise<Account> {
  const valid = validateCreateAccount(input);
  const account = createAccountDomain(valid, { id: newId('acc'), tenantId, createdAtMs: deps.clock.nowMs() });
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
function shardForLane(deps: LedgerDeps, account: Account, lane: number): number {
  if (account.shardCount === 1) return 0;
  return (lane + deps.instanceSalt + pickShard(account.id, 'lane-rotation', account.shardCount)) % account.shardCount;
}

/** Applies balance changes: read-check-set for limit accounts (shard 0), blind increments otherwise. */
async function planBalanceWrites(deps: LedgerDeps, lane: number, tx: LedgerTx, accounts: ReadonlyMap<string, Account>, changes: readonly BalanceChange[]): Promise<() => void> {
  const writes: (() => void)[] = [];
  for (const change of changes) {
    const account = accounts.get(change.accountId);
    if (!account) throw new Error(`assertion failed: change for unread account ${change.accountId}`);
    const shard = shardForLane(deps, account, lane);
    if (hasBalanceLimit(account)) {
      const after = applyDelta(await tx.getShardBalance(account.id, shard), change.delta);
      checkLimits(account, after);
      tx.noteShardBalance(account.id, shard, after);
      writes.push(() => tx.setShardBalance(account.id, shard, after));
    } else {
      writes.push(() => tx.incrementShardBalance(account.id, shard, change.delta));
    }
  }
  return () => writes.forEach((w) => w());
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
  return Promise.all([tx.getRecord(entryId), tx.getAccounts(accountIds), tx.getStripeHead(stripeOfLane(deps, lane))]);
}

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
  const valid = validateEntry(input, accounts);
  if (valid.reversesEntryId !== null) {
    const reversed = await tx.getRecord(valid.reversesEntryId);
    if (!reversed || reversed.kind !== 'entry') {
      throw new TallyError('NOT_FOUND', `entry ${valid.reversesEntryId} to reverse not found`, { field: 'reverses_entry_id' });
    }
  }
  const record = createEntryRecord(valid, deps.clock.nowMs(), { tenantId, ...trace });
  const writeBalances = await planBalanceWrites(deps, lane, tx, accounts, balanceChangesOf(record));
  const { chained, write: writeChain } = await planChainLink(deps, lane, tx, record);
  tx.notePlannedRecord(chained);
  const pending = record.pending ? createPendingEntry(record) : undefined;
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
  validateEntryShape(input);
  return deps.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx) => {
    const plan = await planEntry(deps, tx, lane, tenantId, input, trace);
    plan.commit();
    return plan.view;
  }));
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
    const writeBalances = await planBalanceWrites(deps, lane, tx, accounts, transition.changes);
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
  return resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => postPending(p, amountsMinor, nowMs));
}

export function voidPendingEntry(deps: LedgerDeps, tenantId: string, entryId: string, trace: TraceIds): Promise<EntryView> {
  return resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => voidPending(p, nowMs));
}

/**
 * Expires pending entries whose timeout passed, releasing their holds: at most `sweepBatchMax`
 * per call (the scheduler calls again). Each expiry is its own transaction, so a crash mid-sweep
 * loses nothing and a concurrent post/void simply wins or loses the race cleanly.
 */
export async function sweepExpiredPendings(deps: LedgerDeps, trace: TraceIds): Promise<{ expired: number; skipped: number }> {
  const due = await deps.store.findExpiredPendings(deps.clock.nowMs(), deps.limits.sweepBatchMax);
  let expired = 0;
  let skipped = 0;
  for (const { tenantId, entryId } of due) {
    try {
      await resolvePending(deps, tenantId, entryId, trace, (p, nowMs) => expirePending(p, nowMs));
      expired++;
    } catch (error) {
      // Resolved meanwhile by a post or void: nothing to release.
      if (error instanceof TallyError && error.reason === 'INVALID_STATE_TRANSITION') skipped++;
      else throw error;
    }
  }
  return { expired, skipped };
}

// ---- reading ---------------------------------------------------------------------------------

export async function getEntry(deps: LedgerDeps, tenantId: string, entryId: string): Promise<EntryView> {
  return deps.store.transaction(tenantId, async (tx) => {
    const record = entryId === '' ? undefined : await tx.getRecord(entryId);
    if (!record || record.kind !== 'entry') throw new TallyError('NOT_FOUND', `entry ${entryId} not found`, { field: 'entry_id' });
    return { record, pending: record.pending ? await tx.getPending(entryId) : undefined };
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

/** Current balance (all shards at one snapshot: read-your-writes) or as of a past time (replay). */
export async function getBalance(deps: LedgerDeps, tenantId: string, accountId: string, asOfMs: number | null): Promise<{ account: Account; balance: Balance; asOfMs: number }> {
  const account = await getAccount(deps, tenantId, accountId);
  if (asOfMs === null) {
    const nowMs = deps.clock.nowMs();
    return { account, balance: sumShards(await deps.store.readShards(tenantId, accountId, account.shardCount)), asOfMs: nowMs };
  }
  const records = await deps.store.recordsUntil(tenantId, accountId, asOfMs, deps.limits.asOfRecordsMax);
  if (records.length > deps.limits.asOfRecordsMax) {
    throw invalidField('as_of_time', `more than ${deps.limits.asOfRecordsMax} records to replay for this account; choose a later time`);
  }
  const balance = replayBalances(records, { asOfMs }).get(accountId) ?? { postedDebitsMinor: 0n, postedCreditsMinor: 0n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n };
  return { account, balance, asOfMs };
}

export interface ChainReport {
  ok: boolean;
  entriesChecked: number;
  firstBadEntryId: string;
  failureReason: string;
  checkpointsVerified: number;
  stripesChecked: number;
}

/**
 * Recomputes every stripe's chain from genesis, checks each against the latest signed checkpoint
 * and the stored stripe head, and verifies every checkpoint signature. Bounded by the data: pages
 * of `verifyPageSize`, one stripe at a time.
 */
export async function verifyTenantChain(deps: LedgerDeps, tenantId: string, onProgress?: (stripe: number, checked: number) => void): Promise<ChainReport> {
  const report: ChainReport = { ok: true, entriesChecked: 0, firstBadEntryId: '', failureReason: '', checkpointsVerified: 0, stripesChecked: 0 };
  const checkpoints = await deps.store.listCheckpoints(tenantId, 10_000);
  for (const signed of checkpoints) {
    if (signed.checkpoint.tenantId !== tenantId || !(await verifyCheckpointSignature(signed, deps.signer))) {
      return { ...report, ok: false, failureReason: `checkpoint ${signed.checkpoint.sequence}: signature does not verify` };
    }
    report.checkpointsVerified++;
  }
  const latest = checkpoints.at(-1);
  const heads = await deps.store.readStripeHeads(tenantId);
  const stripes = [...new Set([...heads.map((h) => h.stripe), ...(latest?.checkpoint.stripeHeads.map((h) => h.stripe) ?? [])])].sort((a, b) => a - b);
  for (const stripe of stripes) {
    const verifier = createChainVerifier(genesisHash(tenantId, stripe), latest ? checkpointHeadFor(latest.checkpoint, stripe) : undefined);
    let nextSequence = 0;
    for (;;) {
      const page = await deps.store.readStripe(tenantId, stripe, nextSequence, deps.limits.verifyPageSize);
      for (const record of page) {
        const failure = verifier.push(record);
        if (failure) return { ...report, ok: false, firstBadEntryId: failure.firstBadEntryId ?? '', failureReason: `${failure.reason} (stripe ${stripe})` };
        report.entriesChecked++;
      }
      onProgress?.(stripe, report.entriesChecked);
      if (page.length < deps.limits.verifyPageSize) break;
      nextSequence = page.at(-1)!.chain.sequence + 1;
    }
    const result = verifier.finish();
    if (!result.ok) return { ...report, ok: false, firstBadEntryId: result.firstBadEntryId ?? '', failureReason: `${result.reason} (stripe ${stripe})` };
    const head = heads.find((h) => h.stripe === stripe);
    if (!head || head.entryCount !== result.count || head.headHash !== result.headHash) {
      return { ...report, ok: false, failureReason: `stripe ${stripe}: stored head does not match the records (records missing or added)` };
    }
    report.stripesChecked++;
  }
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

