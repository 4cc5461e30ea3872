/**
 * Journal records: what the append-only journal stores, chains and replays.
 *
 * Two kinds, both immutable once written:
 * - `entry`: a validated entry, posted at once or pending (`pending` set);
 * - `resolution`: the end of a pending entry (posted in full or in part, voided or expired). The
 *   journal never updates the pending entry: its resolution is a new record, so the hash chain and
 *   replays see every balance change.
 *
 * A resolution carries its own amounts (reserved and posted per posting) so every record is
 * self-contained: replay and "balance as of T" fold records in any order without lookups.
 */
import { assert } from '../errors.js';
import type { Direction, Posting, ValidEntry } from './entry.js';

/** Who wrote a record: the tenant and the request's trace. Not part of an entry's content hash. */
export interface RecordContext {
  readonly tenantId: string;
  readonly traceId: string;
  readonly spanId: string;
}

/** An entry as stored, without its request context. */
export interface EntryBody {
  readonly kind: 'entry';
  readonly id: string;
  readonly postings: readonly Posting[];
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly reversesEntryId: string | null;
  /** Set for a pending entry: its timeout and when it expires (`createdAtMs + timeoutMs`). */
  readonly pending: { readonly timeoutMs: number; readonly expiresAtMs: number } | null;
  readonly createdAtMs: number;
}

/** How a pending entry ended. */
export type ResolutionOutcome = 'posted' | 'voided' | 'expired';

/** One posting of a resolved pending entry: what was reserved and what of it was posted. */
export interface ResolvedPosting {
  readonly accountId: string;
  readonly direction: Direction;
  readonly currency: string;
  /** The pending amount released (always the whole reservation). */
  readonly pendingAmountMinor: bigint;
  /** The amount posted: 0 for voided or expired; 0..pending for a (partial) post. */
  readonly postedAmountMinor: bigint;
}

/** A resolution as stored, without its request context. */
export interface ResolutionBody {
  readonly kind: 'resolution';
  /** `resolutionRecordId(pendingEntryId)`: one resolution per pending entry. */
  readonly id: string;
  readonly pendingEntryId: string;
  readonly outcome: ResolutionOutcome;
  readonly postings: readonly ResolvedPosting[];
  readonly createdAtMs: number;
}

/** A stored entry. */
export interface EntryRecord extends EntryBody, RecordContext {}

/** A stored resolution of a pending entry. */
export interface ResolutionRecord extends ResolutionBody, RecordContext {}

/** Any journal record. */
export type JournalRecord = EntryRecord | ResolutionRecord;

/**
 * The journal id of the resolution of `pendingEntryId`. The `.` cannot occur in a caller-chosen
 * entry id, so a resolution id never collides with an entry id; and there is exactly one per
 * pending entry, so writing it with a create-only write also guards against double resolution.
 */
export function resolutionRecordId(pendingEntryId: string): string {
  return `${pendingEntryId}.resolution`;
}

/** The record of a validated entry written at `createdAtMs` by the request in `context`. */
export function createEntryRecord(entry: ValidEntry, createdAtMs: number, context: RecordContext): EntryRecord {
  assert(Number.isSafeInteger(createdAtMs) && createdAtMs >= 0, 'createEntryRecord: createdAtMs');
  checkContext(context);
  return {
    kind: 'entry',
    id: entry.id,
    postings: entry.postings,
    description: entry.description,
    metadata: entry.metadata,
    reversesEntryId: entry.reversesEntryId,
    pending: entry.pending === null ? null : { timeoutMs: entry.pending.timeoutMs, expiresAtMs: createdAtMs + entry.pending.timeoutMs },
    createdAtMs,
    tenantId: context.tenantId,
    traceId: context.traceId,
    spanId: context.spanId,
  };
}

/** The record of a resolution (from `postPending` / `voidPending` / `expirePending`) in `context`. */
export function createResolutionRecord(body: ResolutionBody, context: RecordContext): ResolutionRecord {
  checkContext(context);
  return { ...body, tenantId: context.tenantId, traceId: context.traceId, spanId: context.spanId };
}

function checkContext(context: RecordContext): void {
  assert(typeof context.tenantId === 'string' && context.tenantId !== '', 'record context: tenantId');
  assert(typeof context.traceId === 'string', 'record context: traceId');
  assert(typeof context.spanId === 'string', 'record context: spanId');
}
