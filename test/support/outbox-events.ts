/**
 * A tenant's outbox events, read as every reader reads them: through the outbox port
 * (`OutboxStore.listEventsBetween`), whatever the documents' shape (one per commit, ADR 0027).
 */
import type { OutboxStore, StoredOutboxEvent } from '../../functions/src/ports/outbox-store.js';

/** Pages read at most (of 500 events): a test tenant holds far fewer; more fails loudly. */
const pagesMax = 20;

export async function outboxEventsOf(store: OutboxStore, tenantId: string, filter: { aggregateId?: string; type?: string } = {}): Promise<StoredOutboxEvent[]> {
  const events: StoredOutboxEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < pagesMax; page++) {
    const result = await store.listEventsBetween({ tenantId, fromMs: 0, toMs: Date.now() + 3_600_000, limit: 500, ...(cursor === undefined ? {} : { cursor }) });
    events.push(...result.events);
    cursor = result.nextCursor;
    if (cursor === undefined) {
      return events.filter((e) => (filter.aggregateId === undefined || e.aggregateId === filter.aggregateId) && (filter.type === undefined || e.type === filter.type));
    }
  }
  throw new Error(`more than ${pagesMax * 500} outbox events in tenant ${tenantId}`);
}
