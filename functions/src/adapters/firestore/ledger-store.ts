/**
 * The ledger on Firestore. Layout under `tenants/{t}/`:
 *   accounts/{accountId}          the account (immutable but for `closed`)
 *   accountCodes/{code}           uniqueness index: code -> accountId
 *   balances/{accountId}~{shard}  one balance shard (shard 0 only, unless the account is hot), with
 *                                 `holds.{entryId}` for each pending entry whose hold it keeps
 *   journal/{recordId}            append-only records (entries and pending resolutions), chained
 *   chainHeads/{stripe}           the head of each hash-chain stripe
 *   pendingEntries/{entryId}      the state of a pending (two-phase) entry
 *   checkpoints/{sequence}        signed checkpoints of all stripe heads
 *   outbox/{eventId}              events written with the change they announce
 *   balanceSnapshots/{accountId}_{throughMs}  an account's balance through a time (ADR 0025)
 *   ledgerMaintenance/balanceSnapshots        where the snapshot walk of the accounts stopped
 * Amounts are Firestore integers (int64) read back as bigint (`useBigInt` on the client).
 */
import { FieldValue, Timestamp, type DocumentData, type Firestore, type Transaction } from '@google-cloud/firestore';
import type { Account, AccountType } from '../../domain/ledger/account.js';
import { EMPTY_BALANCE_SHARD, ZERO_BALANCE, type Balance, type BalanceShard, type Hold } from '../../domain/ledger/balance.js';
import type { BalanceSnapshot } from '../../domain/ledger/snapshot.js';
import type { SignedCheckpoint } from '../../domain/ledger/checkpoint.js';
import { emptyStripeHead, type ChainedRecord, type StripeHead } from '../../domain/ledger/hash-chain.js';
import type { PendingEntry } from '../../domain/ledger/two-phase.js';
import type { SignedWatermark, VerificationMode } from '../../domain/ledger/verification.js';
import { assert } from '../../domain/errors.js';
import { createOutboxWrites, type OutboxWrites } from './outbox-store.js';
import { isAlreadyExists, runTransactionWithRetry, type TransactionOptions } from './run-transaction.js';
import { readerOf } from './tx-reader.js';
import type { LedgerStore, LedgerTx, OutboxEvent, RecordQuery } from '../../ports/ledger-store.js';
import type { Page } from '../../ports/tenancy-repository.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';

const bigintOf = (value: unknown): bigint => {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new Error(`assertion failed: expected an integer, got ${String(value)}`);
};
const numberOf = (value: unknown): number => {
  const n = typeof value === 'bigint' ? Number(value) : value;
  assert(typeof n === 'number' && Number.isSafeInteger(n), `expected a safe integer, got ${String(value)}`);
  return n;
};

function accountToDoc(a: Account): DocumentData {
  return {
    tenantId: a.tenantId, code: a.code, name: a.name, currency: a.currency, type: a.type,
    debitsMustNotExceedCredits: a.flags.debitsMustNotExceedCredits,
    creditsMustNotExceedDebits: a.flags.creditsMustNotExceedDebits,
    shardCount: a.shardCount, closed: a.closed, createdAt: Timestamp.fromMillis(a.createdAtMs),
  };
}

function accountFromDoc(id: string, d: DocumentData): Account {
  return {
    id, tenantId: d.tenantId as string, code: d.code as string, name: d.name as string, currency: d.currency as string,
    type: d.type as AccountType,
    flags: { debitsMustNotExceedCredits: d.debitsMustNotExceedCredits === true, creditsMustNotExceedDebits: d.creditsMustNotExceedDebits === true },
    shardCount: numberOf(d.shardCount), closed: d.closed === true, createdAtMs: (d.createdAt as Timestamp).toMillis(),
  };
}

function shardFromDoc(d: DocumentData | undefined): BalanceShard {
  if (!d) return EMPTY_BALANCE_SHARD;
  const holds = new Map<string, Hold>();
  for (const [entryId, h] of Object.entries((d.holds ?? {}) as Record<string, DocumentData>)) {
    holds.set(entryId, {
      entryId, expiresAtMs: numberOf(h.expiresAtMs), pendingDebitsMinor: bigintOf(h.pendingDebitsMinor), pendingCreditsMinor: bigintOf(h.pendingCreditsMinor),
    });
  }
  return { balance: balanceFromDoc(d), holds };
}

/**
 * Metadata is stored as a list of `{key, value}` pairs, never as a Firestore map: map keys are
 * field names (`__.*__` is reserved, and the client reads maps back by assignment, so `__proto__`
 * vanished), while a list of strings stores any key exactly. Records written before keep a map.
 */
function metadataToDoc(metadata: Readonly<Record<string, string>>): DocumentData[] {
  return Object.entries(metadata).map(([key, value]) => ({ key, value }));
}

function metadataFromDoc(d: DocumentData): Record<string, string> {
  const pairs = d.metadataPairs as DocumentData[] | undefined;
  // Object.fromEntries defines own properties: `__proto__` or `constructor` stay plain keys.
  if (pairs !== undefined) return Object.fromEntries(pairs.map((p) => [p.key as string, p.value as string]));
  return Object.fromEntries(Object.entries((d.metadata ?? {}) as Record<string, string>));
}

function balanceFromDoc(d: DocumentData | undefined): Balance {
  if (!d) return ZERO_BALANCE;
  return {
    postedDebitsMinor: bigintOf(d.postedDebitsMinor ?? 0n), postedCreditsMinor: bigintOf(d.postedCreditsMinor ?? 0n),
    pendingDebitsMinor: bigintOf(d.pendingDebitsMinor ?? 0n), pendingCreditsMinor: bigintOf(d.pendingCreditsMinor ?? 0n),
  };
}

/**
 * A record as stored: its hashed fields exactly, plus query helpers (`accountIds`, `createdAt`)
 * that are not part of the hash. Field-by-field both ways: a stored field we do not know is never
 * silently hashed, and one we need is never silently dropped.
 */
function recordToDoc(r: ChainedRecord): DocumentData {
  const common = {
    kind: r.kind, id: r.id, tenantId: r.tenantId, traceId: r.traceId, spanId: r.spanId, createdAtMs: r.createdAtMs,
    chain: { stripe: r.chain.stripe, sequence: r.chain.sequence, prevHash: r.chain.prevHash, hash: r.chain.hash },
    accountIds: [...new Set(r.postings.map((p) => p.accountId))],
    createdAt: Timestamp.fromMillis(r.createdAtMs),
  };
  if (r.kind === 'entry') {
    return {
      ...common,
      postings: r.postings.map((p) => ({ accountId: p.accountId, direction: p.direction, amountMinor: p.amountMinor, currency: p.currency })),
      description: r.description, metadataPairs: metadataToDoc(r.metadata), reversesEntryId: r.reversesEntryId,
      pending: r.pending === null ? null : { timeoutMs: r.pending.timeoutMs, expiresAtMs: r.pending.expiresAtMs },
    };
  }
  return {
    ...common, pendingEntryId: r.pendingEntryId, outcome: r.outcome,
    postings: r.postings.map((p) => ({
      accountId: p.accountId, direction: p.direction, currency: p.currency,
      pendingAmountMinor: p.pendingAmountMinor, postedAmountMinor: p.postedAmountMinor,
    })),
  };
}

export function recordFromDoc(d: DocumentData): ChainedRecord {
  const chain = d.chain as DocumentData;
  const common = {
    id: d.id as string, tenantId: d.tenantId as string, traceId: d.traceId as string, spanId: d.spanId as string,
    createdAtMs: numberOf(d.createdAtMs),
    chain: { stripe: numberOf(chain.stripe), sequence: numberOf(chain.sequence), prevHash: chain.prevHash as string, hash: chain.hash as string },
  };
  const postings = (d.postings ?? []) as DocumentData[];
  if (d.kind === 'entry') {
    const pending = d.pending as DocumentData | null;
    return {
      ...common, kind: 'entry',
      postings: postings.map((p) => ({ accountId: p.accountId as string, direction: p.direction as 'debit' | 'credit', amountMinor: bigintOf(p.amountMinor), currency: p.currency as string })),
      description: d.description as string, metadata: metadataFromDoc(d),
      reversesEntryId: (d.reversesEntryId as string | null) ?? null,
      pending: pending ? { timeoutMs: numberOf(pending.timeoutMs), expiresAtMs: numberOf(pending.expiresAtMs) } : null,
    };
  }
  return {
    ...common, kind: 'resolution', pendingEntryId: d.pendingEntryId as string, outcome: d.outcome as 'posted' | 'voided' | 'expired',
    postings: postings.map((p) => ({
      accountId: p.accountId as string, direction: p.direction as 'debit' | 'credit', currency: p.currency as string,
      pendingAmountMinor: bigintOf(p.pendingAmountMinor), postedAmountMinor: bigintOf(p.postedAmountMinor),
    })),
  };
}

function pendingToDoc(p: PendingEntry): DocumentData {
  return {
    id: p.id, state: p.state, createdAtMs: p.createdAtMs, expiresAtMs: p.expiresAtMs,
    expiresAt: Timestamp.fromMillis(p.expiresAtMs),
    resolvedAtMs: p.resolvedAtMs, postedAmountsMinor: p.postedAmountsMinor === null ? null : [...p.postedAmountsMinor],
    postings: p.postings.map((x) => ({ accountId: x.accountId, direction: x.direction, amountMinor: x.amountMinor, currency: x.currency })),
    holdShards: p.holdShards === null ? null : [...p.holdShards],
  };
}

function pendingFromDoc(d: DocumentData): PendingEntry {
  return {
    id: d.id as string, state: d.state as PendingEntry['state'], createdAtMs: numberOf(d.createdAtMs), expiresAtMs: numberOf(d.expiresAtMs),
    resolvedAtMs: d.resolvedAtMs === null ? null : numberOf(d.resolvedAtMs),
    postedAmountsMinor: d.postedAmountsMinor === null ? null : (d.postedAmountsMinor as unknown[]).map(bigintOf),
    postings: (d.postings as DocumentData[]).map((p) => ({ accountId: p.accountId as string, direction: p.direction as 'debit' | 'credit', amountMinor: bigintOf(p.amountMinor), currency: p.currency as string })),
    holdShards: Array.isArray(d.holdShards) ? (d.holdShards as unknown[]).map(numberOf) : null,
  };
}

function snapshotToDoc(s: BalanceSnapshot, writtenAtMs: number): DocumentData {
  return {
    accountId: s.accountId, throughMs: s.throughMs, recordCount: s.recordCount, ...s.raw,
    openHolds: [...s.openHolds.values()].map((h) => ({
      entryId: h.entryId, expiresAtMs: h.expiresAtMs, pendingDebitsMinor: h.pendingDebitsMinor, pendingCreditsMinor: h.pendingCreditsMinor,
    })),
    writtenAt: Timestamp.fromMillis(writtenAtMs),
  };
}

function snapshotFromDoc(d: DocumentData): BalanceSnapshot {
  const holds = (d.openHolds ?? []) as DocumentData[];
  return {
    accountId: d.accountId as string, throughMs: numberOf(d.throughMs), recordCount: numberOf(d.recordCount), raw: balanceFromDoc(d),
    openHolds: new Map(holds.map((h) => [h.entryId as string, {
      entryId: h.entryId as string, expiresAtMs: numberOf(h.expiresAtMs), pendingDebitsMinor: bigintOf(h.pendingDebitsMinor), pendingCreditsMinor: bigintOf(h.pendingCreditsMinor),
    }])),
  };
}

/** A snapshot's document id: its account and time, zero-padded so ids sort by time. */
const snapshotDocId = (accountId: string, throughMs: number) => `${accountId}_${String(throughMs).padStart(15, '0')}`;

function checkpointToDoc(s: SignedCheckpoint): DocumentData {
  return {
    tenantId: s.checkpoint.tenantId, sequence: s.checkpoint.sequence, createdAtMs: s.checkpoint.createdAtMs,
    stripeHeads: s.checkpoint.stripeHeads.map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash })),
    keyId: s.keyId, signatureBase64: s.signatureBase64,
  };
}

function checkpointFromDoc(d: DocumentData): SignedCheckpoint {
  return {
    checkpoint: {
      tenantId: d.tenantId as string, sequence: numberOf(d.sequence), createdAtMs: numberOf(d.createdAtMs),
      stripeHeads: (d.stripeHeads as DocumentData[]).map((h) => ({ stripe: numberOf(h.stripe), entryCount: numberOf(h.entryCount), headHash: h.headHash as string })),
    },
    keyId: d.keyId as string, signatureBase64: d.signatureBase64 as string,
  };
}

function watermarkToDoc(s: SignedWatermark): DocumentData {
  const w = s.watermark;
  return {
    tenantId: w.tenantId, mode: w.mode, jobId: w.jobId, checkpointSequence: w.checkpointSequence, complete: w.complete,
    startedAtMs: w.startedAtMs, updatedAtMs: w.updatedAtMs,
    stripeHeads: w.stripeHeads.map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash })),
    keyId: s.keyId, signatureBase64: s.signatureBase64,
  };
}

/**
 * A stored watermark as it is: untrusted (anyone who can write the database can write one), so a
 * malformed document maps to one whose signature cannot verify rather than throwing.
 */
function watermarkFromDoc(d: DocumentData): SignedWatermark {
  // Integers come back as bigint (the client reads int64 exactly); anything else is left as stored
  // for the signature check to refuse.
  const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : v) as number;
  const heads: unknown = d.stripeHeads;
  return {
    watermark: {
      tenantId: d.tenantId as string, mode: d.mode as VerificationMode, jobId: d.jobId as string,
      checkpointSequence: num(d.checkpointSequence), complete: d.complete as boolean,
      startedAtMs: num(d.startedAtMs), updatedAtMs: num(d.updatedAtMs),
      stripeHeads: Array.isArray(heads)
        ? heads.map((h: DocumentData) => ({ stripe: num(h?.stripe), entryCount: num(h?.entryCount), headHash: h?.headHash as string }))
        : [],
    },
    keyId: typeof d.keyId === 'string' ? d.keyId : '',
    signatureBase64: Array.isArray(heads) && typeof d.signatureBase64 === 'string' ? d.signatureBase64 : '',
  };
}

const encodeCursor = encodePageToken;
const decodeCursor = decodePageToken;

function ledgerRefs(db: Firestore) {
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const accountRef = (t: string, id: string) => tenant(t).collection('accounts').doc(id);
  const shardRef = (t: string, accountId: string, shard: number) => tenant(t).collection('balances').doc(`${accountId}~${shard}`);
  const recordRef = (t: string, id: string) => tenant(t).collection('journal').doc(id);
  const headRef = (t: string, stripe: number) => tenant(t).collection('chainHeads').doc(String(stripe));
  const pendingRef = (t: string, id: string) => tenant(t).collection('pendingEntries').doc(id);
  const checkpointRef = (t: string, seq: number) => tenant(t).collection('checkpoints').doc(String(seq).padStart(12, '0'));

  return { tenant, accountRef, shardRef, recordRef, headRef, pendingRef, checkpointRef };
}

/**
 * The ledger's view of a Firestore transaction. Exported so that another use case (a payment
 * capture) can write its ledger entry in the same transaction as its own state change.
 */
export function createLedgerTx(db: Firestore, tenantId: string, tx: Transaction, outbox: OutboxWrites): LedgerTx {
  const { accountRef, shardRef, recordRef, headRef, pendingRef } = ledgerRefs(db);
  const reader = readerOf(tx);
  const heads = new Map<number, StripeHead>();
  const shards = new Map<string, BalanceShard>();
  const planned = new Map<string, ChainedRecord>();
  return {
    noteStripeHead(head) { heads.set(head.stripe, head); },
    notePlannedRecord(record) { planned.set(record.id, record); },
    noteShard(accountId, shard, state) { shards.set(`${accountId}~${shard}`, state); },
    async getRecord(id) {
      const plannedRecord = planned.get(id);
      if (plannedRecord) return plannedRecord;
      const d = (await reader.get(recordRef(tenantId, id))).data();
      return d ? recordFromDoc(d) : undefined;
    },
    async getAccounts(ids) {
      const unique = [...new Set(ids)];
      const snaps = await Promise.all(unique.map((id) => reader.get(accountRef(tenantId, id))));
      const out = new Map<string, Account>();
      for (const s of snaps) { const d = s.data(); if (d) out.set(s.id, accountFromDoc(s.id, d)); }
      return out;
    },
    async getStripeHead(stripe) {
      const noted = heads.get(stripe);
      if (noted) return noted;
      const d = (await reader.get(headRef(tenantId, stripe))).data();
      // Kept for this transaction: only its own writes (noteStripeHead) can change it now.
      const head = heads.get(stripe) ?? (d ? { stripe, entryCount: numberOf(d.entryCount), headHash: d.headHash as string } : emptyStripeHead(tenantId, stripe));
      heads.set(stripe, head);
      return head;
    },
    async getShard(accountId, shard) {
      const noted = shards.get(`${accountId}~${shard}`);
      if (noted) return noted;
      return shardFromDoc((await reader.get(shardRef(tenantId, accountId, shard))).data());
    },
    async getPending(id) {
      const d = (await reader.get(pendingRef(tenantId, id))).data();
      return d ? pendingFromDoc(d) : undefined;
    },
    createRecord(record) { tx.create(recordRef(tenantId, record.id), recordToDoc(record)); },
    setStripeHead(head) { tx.set(headRef(tenantId, head.stripe), { stripe: head.stripe, entryCount: head.entryCount, headHash: head.headHash }); },
    writeShard(accountId, shard, state, hold) {
      // merge: the shard's other holds stay as they are; only this change's hold is opened or dropped.
      const holds = hold === null ? undefined
        : 'open' in hold
          ? { [hold.open.entryId]: { expiresAtMs: hold.open.expiresAtMs, pendingDebitsMinor: hold.open.pendingDebitsMinor, pendingCreditsMinor: hold.open.pendingCreditsMinor } }
          : { [hold.releaseEntryId]: FieldValue.delete() };
      tx.set(shardRef(tenantId, accountId, shard), { accountId, shard, ...state.balance, ...(holds ? { holds } : {}) }, { merge: true });
    },
    incrementShard(accountId, shard, delta) {
      // FieldValue.increment takes a JS number; amounts are bounded to safe integers at the edge
      // (AMOUNT_OUT_OF_RANGE), and the stored int64 sums are exact on the server.
      const inc = (v: bigint) => {
        assert(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER), 'increment within safe integers');
        return FieldValue.increment(Number(v));
      };
      tx.set(shardRef(tenantId, accountId, shard), {
        accountId, shard,
        postedDebitsMinor: inc(delta.postedDebitsMinor), postedCreditsMinor: inc(delta.postedCreditsMinor),
        pendingDebitsMinor: inc(delta.pendingDebitsMinor), pendingCreditsMinor: inc(delta.pendingCreditsMinor),
      }, { merge: true });
    },
    setPending(p) { tx.set(pendingRef(tenantId, p.id), { ...pendingToDoc(p), tenantId }); },
    setAccount(a) { tx.set(accountRef(tenantId, a.id), accountToDoc(a)); },
    // Collected: the commit's events are written as one outbox document when it is assembled (ADR 0027).
    createOutboxEvent(e: OutboxEvent) { outbox.add(e); },
  }
}

export function createFirestoreLedgerStore(db: Firestore, options: { transaction?: TransactionOptions } = {}): LedgerStore {
  const { tenant, accountRef, shardRef, checkpointRef } = ledgerRefs(db);

  // Time order within one account: the (accountIds, createdAt) index the as-of read always used.
  const recordsBetweenQuery = (tenantId: string, accountId: string, afterMs: number, throughMs: number) =>
    tenant(tenantId).collection('journal')
      .where('accountIds', 'array-contains', accountId)
      .where('createdAt', '>', Timestamp.fromMillis(afterMs))
      .where('createdAt', '<=', Timestamp.fromMillis(throughMs))
      .orderBy('createdAt');
  const snapshotCursorRef = (tenantId: string) => tenant(tenantId).collection('ledgerMaintenance').doc('balanceSnapshots');
  return {
    transaction(tenantId, work) {
      return runTransactionWithRetry(db, async (tx) => {
        const outbox = createOutboxWrites(db, tenantId);
        const result = await work(createLedgerTx(db, tenantId, tx, outbox));
        outbox.writeTo(tx);
        return result;
      }, 'the ledger is too busy on these accounts; retry with the same entry id or idempotency key', options.transaction);
    },

    async createAccount(account) {
      const codeRef = tenant(account.tenantId).collection('accountCodes').doc(account.code);
      return db.runTransaction(async (tx) => {
        const existing = (await tx.get(codeRef)).data();
        if (existing) {
          const d = (await tx.get(accountRef(account.tenantId, existing.accountId as string))).data();
          assert(d !== undefined, 'account code index points at a missing account');
          return { created: false, account: accountFromDoc(existing.accountId as string, d) };
        }
        tx.create(codeRef, { accountId: account.id });
        tx.create(accountRef(account.tenantId, account.id), accountToDoc(account));
        return { created: true, account };
      });
    },

    async getAccount(tenantId, accountId) {
      const d = (await accountRef(tenantId, accountId).get()).data();
      return d ? accountFromDoc(accountId, d) : undefined;
    },

    async listAccounts(tenantId, pageSize, cursor): Promise<Page<Account>> {
      let q = tenant(tenantId).collection('accounts').orderBy('code');
      if (cursor !== undefined) q = q.startAfter(decodeCursor(cursor, ['string'])[0]);
      const snap = await q.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((s) => accountFromDoc(s.id, s.data()));
      return { items, nextCursor: snap.size > pageSize ? encodeCursor([items.at(-1)!.code]) : undefined };
    },

    async readShards(tenantId, accountId, shardCount) {
      const refs = Array.from({ length: shardCount }, (_, i) => shardRef(tenantId, accountId, i));
      // One read-only transaction: every shard at the same snapshot, after every committed write.
      return db.runTransaction(async (tx) => (await tx.getAll(...refs)).map((s) => shardFromDoc(s.data())), { readOnly: true });
    },

    async listEntries(tenantId, query: RecordQuery, pageSize, cursor) {
      let q = tenant(tenantId).collection('journal')
        .where('accountIds', 'array-contains', query.accountId)
        .where('kind', '==', 'entry')
        .orderBy('createdAt', 'desc').orderBy('id', 'desc');
      if (query.startMs !== null) q = q.where('createdAt', '>=', Timestamp.fromMillis(query.startMs));
      if (query.endMs !== null) q = q.where('createdAt', '<', Timestamp.fromMillis(query.endMs));
      if (cursor !== undefined) {
        const [ms, id] = decodeCursor(cursor, ['int', 'id']) as [number, string];
        q = q.startAfter(Timestamp.fromMillis(ms), id);
      }
      const snap = await q.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((s) => recordFromDoc(s.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.size > pageSize && last ? encodeCursor([last.createdAtMs, last.id]) : undefined };
    },

    async recordsBetween(tenantId, accountId, afterMs, throughMs, limit) {
      const snap = await recordsBetweenQuery(tenantId, accountId, afterMs, throughMs).limit(limit).get();
      return snap.docs.map((s) => recordFromDoc(s.data()));
    },

    async countRecordsBetween(tenantId, accountId, afterMs, throughMs, upTo) {
      // An aggregation: billed one read per 1,000 index entries, not one per record.
      const snap = await recordsBetweenQuery(tenantId, accountId, afterMs, throughMs).limit(upTo).count().get();
      return snap.data().count;
    },

    async latestBalanceSnapshot(tenantId, accountId, atOrBeforeMs) {
      let q = tenant(tenantId).collection('balanceSnapshots').where('accountId', '==', accountId);
      if (atOrBeforeMs !== null) q = q.where('throughMs', '<=', atOrBeforeMs);
      const snap = await q.orderBy('throughMs', 'desc').limit(1).get();
      return snap.empty ? undefined : snapshotFromDoc(snap.docs[0]!.data());
    },

    async putBalanceSnapshot(tenantId, snapshot) {
      await tenant(tenantId).collection('balanceSnapshots').doc(snapshotDocId(snapshot.accountId, snapshot.throughMs)).set(snapshotToDoc(snapshot, Date.now()));
    },

    async getSnapshotCursor(tenantId) {
      return ((await snapshotCursorRef(tenantId).get()).get('pageToken') as string | undefined) ?? '';
    },

    async setSnapshotCursor(tenantId, cursor) {
      await snapshotCursorRef(tenantId).set({ pageToken: cursor, updatedAt: Timestamp.now() });
    },

    async readStripe(tenantId, stripe, fromSequence, limit) {
      const snap = await tenant(tenantId).collection('journal')
        .where('chain.stripe', '==', stripe).where('chain.sequence', '>=', fromSequence)
        .orderBy('chain.sequence').limit(limit).get();
      return snap.docs.map((s) => recordFromDoc(s.data()));
    },

    async readStripeHeads(tenantId) {
      return db.runTransaction(async (tx) => {
        const snap = await tx.get(tenant(tenantId).collection('chainHeads'));
        return snap.docs.map((s) => ({ stripe: numberOf(s.get('stripe')), entryCount: numberOf(s.get('entryCount')), headHash: s.get('headHash') as string }));
      }, { readOnly: true });
    },

    async latestCheckpoint(tenantId) {
      const snap = await tenant(tenantId).collection('checkpoints').orderBy('sequence', 'desc').limit(1).get();
      return snap.empty ? undefined : checkpointFromDoc(snap.docs[0]!.data());
    },

    async listCheckpoints(tenantId, afterSequence, limit) {
      const snap = await tenant(tenantId).collection('checkpoints').where('sequence', '>', afterSequence).orderBy('sequence').limit(limit).get();
      return snap.docs.map((s) => checkpointFromDoc(s.data()));
    },

    async createCheckpoint(signed) {
      try {
        await checkpointRef(signed.checkpoint.tenantId, signed.checkpoint.sequence).create(checkpointToDoc(signed));
        return true;
      } catch (error) {
        if (isAlreadyExists(error)) return false;
        throw error;
      }
    },

    async getVerificationWatermark(tenantId, mode) {
      const snap = await tenant(tenantId).collection('chainVerifications').doc(mode).get();
      return snap.exists ? watermarkFromDoc(snap.data()!) : undefined;
    },

    async putVerificationWatermark(signed) {
      await tenant(signed.watermark.tenantId).collection('chainVerifications').doc(signed.watermark.mode).set(watermarkToDoc(signed));
    },

    async listTenantIds(afterTenantId, limit) {
      let q = db.collection('tenants').orderBy('__name__').select().limit(limit);
      if (afterTenantId !== '') q = q.startAfter(afterTenantId);
      return (await q.get()).docs.map((d) => d.id);
    },

    async getMaintenanceCursor() {
      return ((await db.doc('platform/_platform/maintenance/ledger').get()).get('cursor') as string | undefined) ?? '';
    },

    async setMaintenanceCursor(tenantId) {
      await db.doc('platform/_platform/maintenance/ledger').set({ cursor: tenantId, updatedAt: Timestamp.now() });
    },

    async findExpiredPendings(nowMs, limit, tenantId) {
      const snap = await (tenantId === undefined ? db.collectionGroup('pendingEntries') : tenant(tenantId).collection('pendingEntries'))
        .where('state', '==', 'pending').where('expiresAt', '<=', Timestamp.fromMillis(nowMs))
        .orderBy('expiresAt').limit(limit).get();
      return snap.docs.map((s) => ({ tenantId: s.get('tenantId') as string, entryId: s.id }));
    },
  };
}
