/**
 * The tenant's tamper-evident journal: hash chains per stripe, verified record by record.
 *
 * Layout. A tenant's journal is partitioned into `stripeCount` chain stripes; a record joins stripe
 * `chainStripeFor(record.id, stripeCount)`. Each stripe is a SHA-256 chain: record `i` of a stripe
 * stores `{stripe, sequence: i, prevHash, hash}` where `prevHash` is the hash of record `i - 1`
 * (the stripe's genesis hash for `i = 0`) and `hash = SHA-256(canonical({record, stripe, sequence,
 * prevHash}))`. Each stripe's head (`{stripe, entryCount, headHash}`) lives in its own document.
 * Periodic checkpoints sign the set of stripe heads (see `checkpoint.ts`).
 *
 * Why this does not funnel writes: appending reads and updates one stripe head in the entry's
 * transaction, so with S stripes, S entries of a tenant append in parallel; stripes are picked by
 * a hash of the record id, so a hot account's entries spread over all stripes. Firestore's
 * serializable transactions mean two appends that read the same head cannot both commit, so a
 * stripe never forks. A checkpoint needs no global snapshot either: each signed head is a claim
 * about a prefix of one stripe, true whenever it was read.
 *
 * Why it is tamper-evident (against someone who can write the database but not sign):
 * - A record's hash commits to every field of the record (explicit schema, versioned tag), its
 *   stripe, its sequence and its predecessor. Changing any field of record i makes its stored hash
 *   wrong; `verifyChain` recomputes and reports record i. Changing the stored hash or link of
 *   record i is reported at i too (its recomputed hash, prevHash or sequence disagrees).
 * - Deleting record i breaks the link of record i + 1 (reported there); inserting or reordering
 *   breaks sequences and links; moving a record to another stripe or tenant changes its hash
 *   (stripe and tenant id are hashed) and genesis hashes differ per tenant and stripe.
 * - Rewriting record i and recomputing every later hash of its stripe yields a self-consistent
 *   stripe, but its hash at the checkpoint's `entryCount` no longer equals the signed head, and the
 *   attacker cannot sign a new checkpoint: `verifyChain` with `checkpointHead` reports it; deleting
 *   the tail leaves fewer records than the signed count. So every record covered by the latest
 *   checkpoint is protected by its signature; records after it are protected by the links until
 *   the next checkpoint (the checkpoint interval bounds that window).
 * - Striping gives up only a total order across stripes, which the ledger does not need: balances
 *   are sums (order-free) and time order comes from `createdAtMs`. A partition of the records into
 *   independent chains whose heads are signed together is as tamper-evident as one chain.
 *
 * Coverage is exactly the schema below: the adapter must map stored documents to records field by
 * field (extra fields it adds for indexing are neither hashed nor read).
 */
import { createHash } from 'node:crypto';
import { assert } from '../errors.js';
import { type CanonicalObject, canonicalBytes, isSha256Hex, sha256Hex } from './canonical.js';
import type { JournalRecord } from './journal-record.js';

/** Most chain stripes per tenant. Stripe counts may grow over time (new stripes start at genesis), never shrink. */
export const CHAIN_STRIPE_COUNT_MAX = 1024;

/** A record's place in its stripe's chain. */
export interface ChainLink {
  readonly stripe: number;
  /** 0-based position in the stripe. */
  readonly sequence: number;
  /** Hash of the previous record of the stripe (genesis hash for sequence 0). */
  readonly prevHash: string;
  /** `recordHash(record, {stripe, sequence, prevHash})`. */
  readonly hash: string;
}

/** A journal record as stored: with its chain link. */
export type ChainedRecord = JournalRecord & { readonly chain: ChainLink };

/** The head of a stripe: how many records it has and the hash of the last (genesis when empty). */
export interface StripeHead {
  readonly stripe: number;
  readonly entryCount: number;
  readonly headHash: string;
}

/** Why `verifyChain` stopped. */
export type ChainFailureReason =
  | 'sequence_mismatch'
  | 'prev_hash_mismatch'
  | 'hash_mismatch'
  | 'malformed_record'
  | 'checkpoint_mismatch'
  | 'checkpoint_missing_entries';

/** A verification failure: the first record that does not match and what was expected there. */
export interface ChainFailure {
  readonly ok: false;
  readonly reason: ChainFailureReason;
  /** Id (as stored) of the first bad record; null when records are missing at the end. */
  readonly firstBadEntryId: string | null;
  /** Its 0-based index in the stripe. */
  readonly index: number;
  /** What the chain requires there (a hash, or a count/sequence as decimal text). */
  readonly expected: string;
  /** What is stored there. */
  readonly actual: string;
}

/** The result of verifying one stripe. */
export type ChainVerification = { readonly ok: true; readonly count: number; readonly headHash: string } | ChainFailure;

/**
 * The stripe of a record id: the first 32 bits of SHA-256 over a domain tag and the id, modulo
 * `stripeCount`. Independent of `pickShard` (different tag).
 */
export function chainStripeFor(recordId: string, stripeCount: number): number {
  assert(Number.isSafeInteger(stripeCount) && stripeCount >= 1 && stripeCount <= CHAIN_STRIPE_COUNT_MAX, 'chainStripeFor: stripeCount');
  const digest = createHash('sha256').update(`tally.ledger.stripe.v1\n${recordId}`, 'utf8').digest();
  return digest.readUInt32BE(0) % stripeCount;
}

/** The hash before the first record of a stripe: distinct per tenant and stripe, so chains cannot be spliced. */
export function genesisHash(tenantId: string, stripe: number): string {
  assert(typeof tenantId === 'string' && tenantId !== '', 'genesisHash: tenantId');
  checkStripe(stripe);
  return sha256Hex(canonicalBytes({ schema: 'tally.ledger.genesis.v1', tenantId, stripe }));
}

/** The head of a stripe with no records yet. */
export function emptyStripeHead(tenantId: string, stripe: number): StripeHead {
  return { stripe, entryCount: 0, headHash: genesisHash(tenantId, stripe) };
}

/** SHA-256 (hex) of the canonical encoding of `record` at `position`. */
export function recordHash(record: JournalRecord, position: { stripe: number; sequence: number; prevHash: string }): string {
  return sha256Hex(
    canonicalBytes({
      schema: 'tally.ledger.record.v1',
      stripe: position.stripe,
      sequence: position.sequence,
      prevHash: position.prevHash,
      record: recordContent(record),
    }),
  );
}

/**
 * Appends `record` after `head`: returns the record with its chain link and the stripe's new head.
 * The adapter writes both in the record's transaction, having read `head` in it.
 */
export function linkRecord(record: JournalRecord, head: StripeHead): { record: ChainedRecord; head: StripeHead } {
  checkStripe(head.stripe);
  assert(Number.isSafeInteger(head.entryCount) && head.entryCount >= 0, 'linkRecord: head entryCount');
  assert(isSha256Hex(head.headHash), 'linkRecord: head hash');
  const position = { stripe: head.stripe, sequence: head.entryCount, prevHash: head.headHash };
  const hash = recordHash(record, position);
  return {
    record: { ...record, chain: { ...position, hash } },
    head: { stripe: head.stripe, entryCount: head.entryCount + 1, headHash: hash },
  };
}

/**
 * An incremental verifier for one stripe, for chains too long to hold in memory: `push` records in
 * sequence order (it returns the first failure, and keeps returning it), then `finish`.
 * With `checkpointHead` (the signed head of this stripe from the latest checkpoint), it also checks
 * that the record at `entryCount - 1` has the signed hash and that no signed record is missing.
 */
export function createChainVerifier(
  genesis: string,
  checkpointHead?: StripeHead,
  from?: { entryCount: number; headHash: string },
): { push(record: ChainedRecord): ChainFailure | null; finish(): ChainVerification } {
  // `from`: resume after a prefix already verified (a verification watermark, ADR 0026): the next
  // record must have sequence `from.entryCount` and link to `from.headHash`.
  assert(from === undefined || (Number.isSafeInteger(from.entryCount) && from.entryCount >= 0 && isSha256Hex(from.headHash)), 'createChainVerifier: from');
  let prevHash = from?.headHash ?? genesis;
  let count = from?.entryCount ?? 0;
  let failure: ChainFailure | null = null;
  if (checkpointHead !== undefined && checkpointHead.entryCount === count && checkpointHead.headHash !== prevHash) {
    failure = fail('checkpoint_mismatch', null, count, checkpointHead.headHash, prevHash);
  }
  const push = (record: ChainedRecord): ChainFailure | null => {
    if (failure !== null) return failure;
    failure = checkRecord(record, count, prevHash, checkpointHead);
    if (failure !== null) return failure;
    prevHash = record.chain.hash;
    count += 1;
    return failure;
  };
  const finish = (): ChainVerification => {
    if (failure !== null) return failure;
    if (checkpointHead !== undefined && count < checkpointHead.entryCount) {
      return fail('checkpoint_missing_entries', null, count, String(checkpointHead.entryCount), String(count));
    }
    return { ok: true, count, headHash: prevHash };
  };
  return { push, finish };
}

/**
 * Verifies one stripe's records in sequence order from `genesis` (`genesisHash(tenantId, stripe)`):
 * `{ok: true, count, headHash}` or the first bad record (see `createChainVerifier`).
 */
export function verifyChain(recordsInStripeOrder: Iterable<ChainedRecord>, genesis: string, checkpointHead?: StripeHead): ChainVerification {
  const verifier = createChainVerifier(genesis, checkpointHead);
  for (const record of recordsInStripeOrder) {
    if (verifier.push(record) !== null) break;
  }
  return verifier.finish();
}

function checkRecord(record: ChainedRecord, index: number, prevHash: string, checkpointHead: StripeHead | undefined): ChainFailure | null {
  const chain: ChainLink | undefined | null = record.chain;
  if (typeof chain !== 'object' || chain === null) {
    return fail('malformed_record', String(record.id), index, 'a chain link', String(chain));
  }
  if (chain.sequence !== index) return fail('sequence_mismatch', String(record.id), index, String(index), String(chain.sequence));
  if (chain.prevHash !== prevHash) return fail('prev_hash_mismatch', String(record.id), index, prevHash, String(chain.prevHash));
  let computed: string;
  try {
    computed = recordHash(record, chain);
  } catch (error) {
    // Stored data is untrusted here: a field the encoding refuses (a fractional time, a missing
    // field) is tampering or corruption to report at this record, not a crash of the verifier.
    return fail('malformed_record', String(record.id), index, 'a well-formed record', error instanceof Error ? error.message : String(error));
  }
  if (chain.hash !== computed) return fail('hash_mismatch', String(record.id), index, computed, String(chain.hash));
  if (checkpointHead !== undefined && index === checkpointHead.entryCount - 1 && computed !== checkpointHead.headHash) {
    // The stripe was rewritten consistently up to here; the signed head says it was different.
    return fail('checkpoint_mismatch', String(record.id), index, checkpointHead.headHash, computed);
  }
  return null;
}

function fail(reason: ChainFailureReason, firstBadEntryId: string | null, index: number, expected: string, actual: string): ChainFailure {
  return { ok: false, reason, firstBadEntryId, index, expected, actual };
}

function checkStripe(stripe: number): void {
  assert(Number.isSafeInteger(stripe) && stripe >= 0 && stripe < CHAIN_STRIPE_COUNT_MAX, 'chain: stripe out of range');
}

/** Every field of the record, explicitly: adding a field to the record types means adding it here. */
function recordContent(record: JournalRecord): CanonicalObject {
  const common = {
    kind: record.kind,
    tenantId: record.tenantId,
    id: record.id,
    createdAtMs: record.createdAtMs,
    traceId: record.traceId,
    spanId: record.spanId,
  };
  if (record.kind === 'entry') {
    return {
      ...common,
      postings: record.postings.map((p) => ({ accountId: p.accountId, direction: p.direction, amountMinor: amount(p.amountMinor), currency: p.currency })),
      description: record.description,
      metadata: plainCopy(record.metadata),
      reversesEntryId: record.reversesEntryId,
      pending: record.pending === null ? null : { timeoutMs: record.pending.timeoutMs, expiresAtMs: record.pending.expiresAtMs },
    };
  }
  return {
    ...common,
    pendingEntryId: record.pendingEntryId,
    outcome: record.outcome,
    postings: record.postings.map((p) => ({
      accountId: p.accountId,
      direction: p.direction,
      currency: p.currency,
      pendingAmountMinor: amount(p.pendingAmountMinor),
      postedAmountMinor: amount(p.postedAmountMinor),
    })),
  };
}

/** A copy of a metadata map; a missing map is refused rather than read as empty (that would hide its deletion). */
function plainCopy(metadata: Readonly<Record<string, string>>): CanonicalObject {
  assert(typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata), 'record metadata must be a map');
  return { ...metadata };
}

/**
 * Amounts must be bigints: the encoding writes a bigint as a string and a number as a number, so an
 * amount read back as a JS number would hash differently. Refusing it names the mapping bug.
 */
function amount(value: bigint): bigint {
  assert(typeof value === 'bigint', 'record amounts must be bigints (read int64 fields as bigint)');
  return value;
}
