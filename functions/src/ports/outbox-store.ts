/**
 * The outbox as the relay sees it: events written by other use cases in their own transactions
 * (`LedgerTx.createOutboxEvent`, `PaymentsTx.createOutboxEvent`), read back, published, and marked
 * sent. Marking is idempotent: of several relays of one event, one marks it.
 */
import type { OutboxEvent } from './ledger-store.js';

/** An outbox event as stored, with its tenant and whether it was published. */
export interface StoredOutboxEvent extends OutboxEvent {
  tenantId: string;
  /** When it was marked sent; null while unsent. */
  publishedAtMs: number | null;
}

export interface UnpublishedQuery {
  /** Only events created strictly before this time (the sweeper's age threshold). */
  createdBeforeMs: number;
  /** One tenant, or every tenant (collection-group query) when undefined. */
  tenantId?: string;
  /** Most events returned. */
  limit: number;
}

export interface OutboxStore {
  get(tenantId: string, eventId: string): Promise<StoredOutboxEvent | undefined>;
  /**
   * Marks the event sent with the broker's message id, in a transaction that does nothing when it
   * is marked already. Returns `marked` (this call marked it), `already` or `missing`.
   */
  markPublished(tenantId: string, eventId: string, publishedAtMs: number, messageId: string): Promise<'marked' | 'already' | 'missing'>;
  /** Unsent events, oldest first, at most `limit`. */
  findUnpublished(query: UnpublishedQuery): Promise<StoredOutboxEvent[]>;
}
