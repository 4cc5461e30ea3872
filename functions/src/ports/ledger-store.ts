/**
 * What the ledger use cases need from storage. Mutations run inside `transaction`: the use case
 * reads through `LedgerTx`, decides with pure domain code, then writes through it; the adapter
 * commits everything atomically (Firestore: reads first, then writes, retried on contention).
 */
import type { Account } from '../domain/ledger/account.js';
import type { Balance, BalanceShard, Hold } from '../domain/ledger/balance.js';
import type { SignedCheckpoint } from '../domain/ledger/checkpoint.js';
import type { ChainedRecord, StripeHead } from '../domain/ledger/hash-chain.js';
import type { SignedWatermark, VerificationMode } from '../domain/ledger/verification.js';
import type { PendingEntry } from '../domain/ledger/two-phase.js';
import type { BalanceSnapshot } from '../domain/ledger/snapshot.js';
import type { Page } from './tenancy-repository.js';

/** An event written in the same transaction as the state change it announces. */
export interface OutboxEvent {
  id: string;
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  createdAtMs: number;
  traceId: string;
  spanId: string;
}

export interface LedgerTx {
  getRecord(recordId: string): Promise<ChainedRecord | undefined>;
  /** Accounts by id; absent ids are missing from the map. */
  getAccounts(accountIds: readonly string[]): Promise<Map<string, Account>>;
  getStripeHead(stripe: number): Promise<StripeHead>;
  /** One balance document: its sums and the holds open in them. */
  getShard(accountId: string, shard: number): Promise<BalanceShard>;
  getPending(entryId: string): Promise<PendingEntry | undefined>;

  /**
   * Remembers a head/shard value decided earlier in this transaction, so that a second entry
   * planned in the same transaction links after the first instead of reading the stale value.
   */
  noteStripeHead(head: StripeHead): void;
  noteShard(accountId: string, shard: number, state: BalanceShard): void;
  /**
   * Remembers a record planned earlier in this transaction: `getRecord` returns it from then on,
   * so a later entry of the same transaction may reverse it, and planning one id twice is a replay.
   */
  notePlannedRecord(record: ChainedRecord): void;

  createRecord(record: ChainedRecord): void;
  setStripeHead(head: StripeHead): void;
  /**
   * Replaces a shard's sums (read in this transaction: overflow and limits were checked against
   * them) and opens or releases one hold; the shard's other holds are left as they are.
   */
  writeShard(accountId: string, shard: number, state: BalanceShard, hold: { open: Hold } | { releaseEntryId: string } | null): void;
  /** Adds `delta` to a shard without reading it: commutative, so no read lock on hot shards. */
  incrementShard(accountId: string, shard: number, delta: Balance): void;
  setPending(pending: PendingEntry): void;
  setAccount(account: Account): void;
  createOutboxEvent(event: OutboxEvent): void;
}

export interface RecordQuery {
  accountId: string;
  /** Inclusive. */
  startMs: number | null;
  /** Exclusive. */
  endMs: number | null;
}

export interface LedgerStore {
  transaction<T>(tenantId: string, work: (tx: LedgerTx) => Promise<T>): Promise<T>;
  /** Creates the account unless its code is taken; returns the account holding the code. */
  createAccount(account: Account): Promise<{ created: boolean; account: Account }>;
  getAccount(tenantId: string, accountId: string): Promise<Account | undefined>;
  listAccounts(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<Account>>;
  /** All shards of an account (sums and holds) read at one consistent snapshot (read-your-writes). */
  readShards(tenantId: string, accountId: string, shardCount: number): Promise<BalanceShard[]>;
  /** Entry records (not resolutions) touching the account, newest first. */
  listEntries(tenantId: string, query: RecordQuery, pageSize: number, cursor: string | undefined): Promise<Page<ChainedRecord>>;
  /**
   * Records (entries and resolutions) touching the account with `afterMs < createdAtMs <= throughMs`,
   * in time order, at most `limit` (callers ask for their bound + 1 to see it is exceeded).
   */
  recordsBetween(tenantId: string, accountId: string, afterMs: number, throughMs: number, limit: number): Promise<ChainedRecord[]>;
  /** How many records `recordsBetween` would return, counted (not read) up to `upTo`. */
  countRecordsBetween(tenantId: string, accountId: string, afterMs: number, throughMs: number, upTo: number): Promise<number>;
  /**
   * The account's balance snapshot with the latest `throughMs` at or before `atOrBeforeMs` (null:
   * the latest of all), `tenants/{t}/balanceSnapshots/{accountId}_{throughMs}` (ADR 0025).
   */
  latestBalanceSnapshot(tenantId: string, accountId: string, atOrBeforeMs: number | null): Promise<BalanceSnapshot | undefined>;
  /** Writes a snapshot; idempotent (its id is its account and time, its content a function of the records). */
  putBalanceSnapshot(tenantId: string, snapshot: BalanceSnapshot): Promise<void>;
  /** Where the snapshot walk of a tenant's accounts stopped (a `listAccounts` page token; '' from the start). */
  getSnapshotCursor(tenantId: string): Promise<string>;
  setSnapshotCursor(tenantId: string, cursor: string): Promise<void>;
  /** Records of one stripe in sequence order, from `fromSequence`, at most `limit`. */
  readStripe(tenantId: string, stripe: number, fromSequence: number, limit: number): Promise<ChainedRecord[]>;
  /** Heads of every stripe that has records, read at one snapshot. */
  readStripeHeads(tenantId: string): Promise<StripeHead[]>;
  latestCheckpoint(tenantId: string): Promise<SignedCheckpoint | undefined>;
  /** Checkpoints in sequence order after `afterSequence` (0: from the first), at most `limit`: a page. */
  listCheckpoints(tenantId: string, afterSequence: number, limit: number): Promise<SignedCheckpoint[]>;
  /** Create-only: false when that sequence exists already. */
  createCheckpoint(signed: SignedCheckpoint): Promise<boolean>;
  /** The stored verification watermark of `mode` (`tenants/{t}/chainVerifications/{mode}`), unverified: the caller checks its signature. */
  getVerificationWatermark(tenantId: string, mode: VerificationMode): Promise<SignedWatermark | undefined>;
  /** Replaces the watermark of its tenant and mode. */
  putVerificationWatermark(signed: SignedWatermark): Promise<void>;
  /** Tenant ids after `afterTenantId` in id order, at most `limit` (maintenance walks them in pages). */
  listTenantIds(afterTenantId: string, limit: number): Promise<string[]>;
  /** Where the last maintenance run stopped ('' from the start). */
  getMaintenanceCursor(): Promise<string>;
  setMaintenanceCursor(tenantId: string): Promise<void>;
  /** Pending entries past their timeout, oldest first, at most `limit`; of one tenant when `tenantId` is given. */
  findExpiredPendings(nowMs: number, limit: number, tenantId?: string): Promise<{ tenantId: string; entryId: string }[]>;
}
