/** A payment event (tally.events.v1.DomainEvent, as its webhooks carry it) as one line of its timeline. */
import type { DomainEvent } from '@gen/tally/events/v1/events_pb';
import { formatMoney } from '@shared/money';

const words = (status: unknown) => (typeof status === 'string' ? status.replace(/_/g, ' ') : '?');

/** Amounts in event payloads are decimal strings of minor units (never JSON numbers). */
function amount(value: unknown, currency: string): string {
  return typeof value === 'string' && /^-?\d+$/.test(value) ? formatMoney(BigInt(value), currency) : '?';
}

export function describeEvent(event: DomainEvent, currency: string): string {
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(event.payloadJson) as Record<string, unknown>;
  } catch {
    // An unreadable payload still shows its type.
  }
  switch (event.type) {
    case 'payment.created': return `Created for ${amount(payload.amountMinor, currency)} (${words(payload.status)})`;
    case 'payment.status_changed': return `Status ${words(payload.from)} → ${words(payload.to)}`;
    case 'payment.refund_succeeded': return `Refunded ${amount(payload.amountMinor, currency)}`;
    case 'payment.refund_failed': return 'A refund failed';
    case 'payment.chargeback': return `Charged back ${amount(payload.amountMinor, currency)}`;
    case 'payment.chargeback_reversed': return `Chargeback of ${amount(payload.amountMinor, currency)} reversed`;
    case 'payment.metadata_updated': return 'Metadata updated';
    case 'payment.anomaly': return `Anomaly: ${words(payload.reason)}`;
    default: return event.type;
  }
}
