/**
 * The ledger's pure core: accounts, entries, balances (sharded), two-phase entries, replay and the
 * striped hash chain with signed checkpoints. No I/O and no clock: times come in as numbers. The
 * Firestore adapter runs these inside transactions; see each file's header for the arguments
 * (`balance.ts`: sharding and limits; `hash-chain.ts`: tamper evidence).
 */

// Accounts.
/** `'asset' | 'liability' | 'equity' | 'revenue' | 'expense'`. */
export type { AccountType } from './account.js';
/** `{debitsMustNotExceedCredits, creditsMustNotExceedDebits}`: balance limits, at most one set. */
export type { AccountFlags } from './account.js';
/** A ledger account; `currency`, `flags` and `shardCount` never change. */
export type { Account } from './account.js';
/** A create-account request as decoded at the edge. */
export type { CreateAccountInput } from './account.js';
/** A validated create-account request. */
export type { ValidCreateAccount } from './account.js';
/** Every account type, for validation and docs. */
export { accountTypes } from './account.js';
/** Bounds of account fields: code length, name length, shard count. */
export { ACCOUNT_CODE_LENGTH_MAX, ACCOUNT_NAME_LENGTH_MAX, ACCOUNT_SHARD_COUNT_MAX } from './account.js';
/** `validateCreateAccount(input)`: typed errors naming the proto field (`code`, `shard_count`, ...). */
export { validateCreateAccount } from './account.js';
/** `createAccount(input, {id, tenantId, createdAtMs})`: validates and builds an open account. */
export { createAccount } from './account.js';
/** `closeAccount(account)`: the closed account; `INVALID_STATE_TRANSITION` if already closed. */
export { closeAccount } from './account.js';
/** `hasBalanceLimit(account)`: true when a limit flag is set (then `shardCount` is 1). */
export { hasBalanceLimit } from './account.js';

// Entries.
/** `'debit' | 'credit'`. */
export type { Direction } from './entry.js';
/** `{accountId, direction, amountMinor, currency}`: one line of an entry. */
export type { Posting } from './entry.js';
/** `{timeoutMs}`: makes an entry pending. */
export type { PendingOptions } from './entry.js';
/** A create-entry request as decoded at the edge. */
export type { EntryInput } from './entry.js';
/** A validated, normalised entry (optional fields as null). */
export type { ValidEntry } from './entry.js';
/** `'create' | 'replay'`: the answer of `decideReplay`. */
export type { ReplayDecision } from './entry.js';
/** Bounds of entries: postings, description, metadata, pending timeout. */
export {
  ENTRY_POSTINGS_MIN,
  ENTRY_POSTINGS_MAX,
  ENTRY_DESCRIPTION_LENGTH_MAX,
  ENTRY_METADATA_KEYS_MAX,
  ENTRY_METADATA_KEY_LENGTH_MAX,
  ENTRY_METADATA_VALUE_LENGTH_MAX,
  PENDING_TIMEOUT_MS_MIN,
  PENDING_TIMEOUT_MS_MAX,
} from './entry.js';
/** `isEntryId(value)`: `je_` + 1..64 of `[A-Za-z0-9_-]`. */
export { isEntryId } from './entry.js';
/** `validateEntryShape(input)`: every check that needs no reads (call before the transaction). */
export { validateEntryShape } from './entry.js';
/** `validateEntry(input, accountsById)`: shape plus unknown/closed accounts and currency mismatches. */
export { validateEntry } from './entry.js';
/** `entryContentHash(input)`: SHA-256 of the canonical caller-chosen content (records hash alike). */
export { entryContentHash } from './entry.js';
/** `decideReplay(existingHash, newHash, entryId?)`: `create`, `replay` or `ENTRY_ID_REUSED`. */
export { decideReplay } from './entry.js';

// Journal records.
/** `{tenantId, traceId, spanId}`: who wrote a record. */
export type { RecordContext } from './journal-record.js';
/** An entry as stored, without context. */
export type { EntryBody } from './journal-record.js';
/** A resolution of a pending entry as stored, without context. */
export type { ResolutionBody } from './journal-record.js';
/** `'posted' | 'voided' | 'expired'`. */
export type { ResolutionOutcome } from './journal-record.js';
/** One posting of a resolution: reserved and posted amounts. */
export type { ResolvedPosting } from './journal-record.js';
/** Stored records: entries and resolutions, with context. */
export type { EntryRecord, ResolutionRecord, JournalRecord } from './journal-record.js';
/** `createEntryRecord(validEntry, createdAtMs, context)`. */
export { createEntryRecord } from './journal-record.js';
/** `createResolutionRecord(body, context)`. */
export { createResolutionRecord } from './journal-record.js';
/** `resolutionRecordId(pendingEntryId)`: the journal id of a pending entry's one resolution. */
export { resolutionRecordId } from './journal-record.js';

// Balances.
/** Posted and pending debits and credits (bigint minor units). */
export type { Balance } from './balance.js';
/** `'posted' | 'pending' | 'post_pending' | 'void_pending'`. */
export type { BalancePhase } from './balance.js';
/** `{accountId, shardKey, delta}`: add `delta` to shard `pickShard(accountId, shardKey, shardCount)`. */
export type { BalanceChange } from './balance.js';
/** The zero balance. */
export { ZERO_BALANCE } from './balance.js';
/** `postingDelta(posting, phase, postedAmountMinor?)`: the signed change of one posting. */
export { postingDelta } from './balance.js';
/** `applyDelta(balance, delta)`: checked addition (never negative, within int64). */
export { applyDelta } from './balance.js';
/** `applyPosting(balance, posting, phase, postedAmountMinor?)`. */
export { applyPosting } from './balance.js';
/** `addBalances(a, b)`: unchecked fieldwise sum. */
export { addBalances } from './balance.js';
/** `sumShards(balances)`: an account's balance from its shards. */
export { sumShards } from './balance.js';
/** `checkLimits(account, balanceAfter)`: `LIMIT_EXCEEDED` when a limit flag is broken. */
export { checkLimits } from './balance.js';
/** `pickShard(accountId, shardKey, shardCount)`: deterministic, uniform shard choice. */
export { pickShard } from './balance.js';
/** `balanceChangesOf(record)`: the balance changes an entry or resolution makes. */
export { balanceChangesOf } from './balance.js';
/** Balance documents: holds kept per shard, overflow refused, expired holds released at their timeout. */
export type { Hold, BalanceShard } from './balance.js';
export { EMPTY_BALANCE_SHARD, SHARD_HOLDS_MAX, shardComponentMaxMinor, applyShardChange, releaseExpiredHolds, balanceOfShards } from './balance.js';

// Two-phase entries.
/** `'pending' | 'posted' | 'voided' | 'expired'`. */
export type { PendingState } from './two-phase.js';
/** The mutable state of a pending entry. */
export type { PendingEntry } from './two-phase.js';
/** `{pending, resolution, changes}`: what a transition writes. */
export type { PendingTransition } from './two-phase.js';
/** Every pending state. */
export { pendingStates } from './two-phase.js';
/** `createPendingEntry(entryRecord)`: the state of a just-written pending entry. */
export { createPendingEntry } from './two-phase.js';
/** `isExpired(pending, nowMs)`: timed out (expired, or pending past `expiresAtMs`). */
export { isExpired, stateAt } from './two-phase.js';
/** `postPending(pending, amountsPerPosting | undefined, nowMs)`: post in full or in part. */
export { postPending } from './two-phase.js';
/** `voidPending(pending, nowMs)`: release everything. */
export { voidPending } from './two-phase.js';
/** `expirePending(pending, nowMs)`: release a timed-out pending entry (the sweep). */
export { expirePending } from './two-phase.js';

// Replay.
/** `{asOfMs}`: null for all records. */
export type { ReplayOptions } from './replay.js';
/** `replayBalances(records, options?)`: every account's balance recomputed from records. */
export { replayBalances } from './replay.js';

// Hash chain and checkpoints.
/** `{stripe, sequence, prevHash, hash}`: a record's place in its stripe. */
export type { ChainLink } from './hash-chain.js';
/** A journal record with its chain link (what the journal stores). */
export type { ChainedRecord } from './hash-chain.js';
/** `{stripe, entryCount, headHash}`: the head of a stripe (one document per stripe). */
export type { StripeHead } from './hash-chain.js';
/** Why verification failed. */
export type { ChainFailureReason, ChainFailure } from './hash-chain.js';
/** `{ok: true, count, headHash} | ChainFailure`. */
export type { ChainVerification } from './hash-chain.js';
/** Most chain stripes per tenant. */
export { CHAIN_STRIPE_COUNT_MAX } from './hash-chain.js';
/** `chainStripeFor(recordId, stripeCount)`: the stripe a record joins. */
export { chainStripeFor } from './hash-chain.js';
/** `genesisHash(tenantId, stripe)`: the hash before a stripe's first record. */
export { genesisHash } from './hash-chain.js';
/** `emptyStripeHead(tenantId, stripe)`: the head of a stripe without records. */
export { emptyStripeHead } from './hash-chain.js';
/** `recordHash(record, {stripe, sequence, prevHash})`: SHA-256 of the canonical record at its position. */
export { recordHash } from './hash-chain.js';
/** `linkRecord(record, head)`: the chained record and the new head, to write in one transaction. */
export { linkRecord } from './hash-chain.js';
/** `createChainVerifier(genesis, checkpointHead?, from?)`: streaming verification of one stripe (from a verified prefix). */
export { createChainVerifier } from './hash-chain.js';
/** `verifyChain(records, genesis, checkpointHead?)`: the first bad record of a stripe, if any. */
export { verifyChain } from './hash-chain.js';
/** `{tenantId, sequence, stripeHeads, createdAtMs}`: what a checkpoint signs. */
export type { Checkpoint, SignedCheckpoint } from './checkpoint.js';
/** `createCheckpoint(input)`: sorted, checked checkpoint content. */
export { createCheckpoint } from './checkpoint.js';
/** `checkpointBytes(checkpoint)`: the canonical bytes that are signed. */
export { checkpointBytes } from './checkpoint.js';
/** `signCheckpoint(checkpoint, signer)`. */
export { signCheckpoint } from './checkpoint.js';
/** `verifyCheckpointSignature(signed, signer)`: false for another key or a bad signature. */
export { verifyCheckpointSignature } from './checkpoint.js';
/** `checkpointHeadFor(checkpoint, stripe)`: the signed head to pass to `verifyChain`. */
export { checkpointHeadFor } from './checkpoint.js';
/** What checkpoints need of a signing key (the `Signer` port, ports/signer.ts, provides it). */
export type { CheckpointSigner } from './checkpoint.js';
/** Signed verification watermarks (ADR 0026): how far a tenant's chain was verified. */
export type { VerificationMode, VerificationWatermark, SignedWatermark } from './verification.js';
/** `genesisWatermark`, `createWatermark`, `signWatermark`, `verifyWatermarkSignature`, `watermarkHeadFor`, `watermarkEntryCount`, `watermarkBytes`. */
export { genesisWatermark, createWatermark, signWatermark, verifyWatermarkSignature, watermarkHeadFor, watermarkEntryCount, watermarkBytes } from './verification.js';

// Canonical encoding (shared with anything else that must hash ledger data).
/** Values the canonical encoding accepts. */
export type { CanonicalValue, CanonicalObject } from './canonical.js';
/** `canonicalJson(value)` / `canonicalBytes(value)`: sorted keys, bigint as decimal strings. */
export { canonicalJson, canonicalBytes } from './canonical.js';
/** `sha256Hex(bytes | string)`: lowercase hex digest. */
export { sha256Hex } from './canonical.js';
