/**
 * The outbox as the relay sees it: events written by other use cases in their own transactions
 * (`LedgerTx.createOutboxEvent`, `PaymentsTx.createOutboxEvent`), read back, published, and marked
 * sent. A commit's events are stored together in ONE outbox document (ADR 0027): the document is
 * what is created, relayed and marked; the event is what is published (one message each, its own
 * id). Marking is idempotent: of several relays of one document, one marks it.
 *
 * Every reader of outbox documents goes through this port (relay, sweeper, drain, replay): the
 * storage shape is the adapter's business.
 */
import type { OutboxEvent } from './ledger-store.js';

/** An outbox event as stored, with its tenant and whether it was published. */
export interface StoredOutboxEvent extends OutboxEvent {
  tenantId: string;
  /** When its document was marked sent; null while unsent. */
  publishedAtMs: number | null;
}

/** One outbox document: the events of one commit, published together and marked once. */
export interface StoredOutboxDocument {
  tenantId: string;
  /** The document's id (the id of its first event). */
  id: string;
  /** The smallest `createdAtMs` of its events: what the sweeper orders and ages by. */
  createdAtMs: number;
  /** When it was marked sent; null while unsent. */
  publishedAtMs: number | null;
  /**
   * The stored version it was read at (opaque; Firestore's update time), when known: marking it
   * then needs no read (a conditional write that fails if anyone changed it since).
   */
  version?: string;
  /** In write order; at least one. */
  events: StoredOutboxEvent[];
}

export interface UnpublishedQuery {
  /** Only documents created strictly before this time (the sweeper's age threshold). */
  createdBeforeMs: number;
  /** One tenant, or every tenant (collection-group query) when undefined. */
  tenantId?: string;
  /** Most documents returned. */
  limit: number;
}

export interface EventsBetweenQuery {
  /** One tenant, or every tenant (collection-group query) when undefined. */
  tenantId?: string;
  /** Inclusive, by the document's `createdAtMs` (its commit's first event). */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  /** Opaque, from the previous page's `nextCursor`. */
  cursor?: string;
  /** Most events returned (a document's events may be split across pages). */
  limit: number;
}

export interface AggregateEventsQuery {
  /** The tenant whose outbox is read (always one: a caller's timeline never crosses tenants). */
  tenantId: string;
  /** The aggregate (payment id, entry id). */
  aggregateId: string;
  /** Opaque, from the previous page's `nextCursor`. */
  cursor?: string;
  /** Most events returned. */
  limit: number;
}

export interface EventsPage {
  /** Oldest document first, each document's events in write order. */
  events: StoredOutboxEvent[];
  /** Undefined when nothing is left in the range. */
  nextCursor: string | undefined;
}

export interface OutboxStore {
  get(tenantId: string, documentId: string): Promise<StoredOutboxDocument | undefined>;
  /**
   * Marks the document sent with the broker's message ids (one per event, in order). With the
   * document's `version` it is one conditional write, no read; without, a transaction that writes
   * nothing if it is marked already. Returns `marked` (this call marked it), `already` (marked, or
   * changed since `version`) or `missing`.
   */
  markPublished(document: Pick<StoredOutboxDocument, 'tenantId' | 'id' | 'version'>, publishedAtMs: number, messageIds: readonly string[]): Promise<'marked' | 'already' | 'missing'>;
  /** Unsent documents, oldest first, at most `limit`. */
  findUnpublished(query: UnpublishedQuery): Promise<StoredOutboxDocument[]>;
  /**
   * The document a trigger's CloudEvent data carries (the storage's own event encoding), with its
   * version, or undefined when the data carries none that decodes as this document (then read it).
   */
  carried(data: unknown, tenantId: string, documentId: string): StoredOutboxDocument | undefined;
  /**
   * One aggregate's events (sent or not), oldest commit first, paged: a payment's timeline. Only
   * documents written with their `aggregateIds` (every one since issue 17) are found.
   */
  listEventsOfAggregate(query: AggregateEventsQuery): Promise<EventsPage>;
  /** Every event (sent or not) of documents created in [fromMs, toMs), paged: the durable log. */
  listEventsBetween(query: EventsBetweenQuery): Promise<EventsPage>;
}
