/** A payment's timeline: its outbox events (the same ones its webhooks and `domain-events` carry). */
import type { OutboxStore, EventsPage } from '../../ports/outbox-store.js';
import type { PaymentsDeps } from './payments-deps.js';
import { getPayment } from './commands.js';

/**
 * One page of the payment's events, oldest first. The payment is looked up in the caller's tenant
 * first, so another tenant's payment id is NOT_FOUND (never an empty, plausible timeline).
 */
export async function listPaymentEvents(
  deps: Pick<PaymentsDeps, 'store'>, outbox: Pick<OutboxStore, 'listEventsOfAggregate'>,
  tenantId: string, paymentId: string, pageSize: number, cursor: string | undefined,
): Promise<EventsPage> {
  await getPayment(deps, tenantId, paymentId);
  return outbox.listEventsOfAggregate({ tenantId, aggregateId: paymentId, limit: pageSize, ...(cursor === undefined ? {} : { cursor }) });
}
