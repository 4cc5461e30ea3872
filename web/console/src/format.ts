/** Display helpers for generated protobuf values (labels, times); money is web/shared/money.ts. */
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { PaymentStatus } from '@gen/tally/payments/v1/payments_pb';

const statusLabels: Record<PaymentStatus, string> = {
  [PaymentStatus.UNSPECIFIED]: 'Unknown',
  [PaymentStatus.REQUIRES_PAYMENT_METHOD]: 'Requires payment method',
  [PaymentStatus.REQUIRES_CONFIRMATION]: 'Requires confirmation',
  [PaymentStatus.REQUIRES_ACTION]: 'Requires action',
  [PaymentStatus.PROCESSING]: 'Processing',
  [PaymentStatus.REQUIRES_CAPTURE]: 'Uncaptured',
  [PaymentStatus.SUCCEEDED]: 'Succeeded',
  [PaymentStatus.CANCELED]: 'Canceled',
  [PaymentStatus.FAILED]: 'Failed',
};

export function paymentStatusLabel(status: PaymentStatus): string {
  return statusLabels[status] ?? `Status ${String(status)}`;
}

/** Every status a filter may name, in lifecycle order. */
export const filterableStatuses: PaymentStatus[] = [
  PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING,
  PaymentStatus.REQUIRES_PAYMENT_METHOD, PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.CANCELED, PaymentStatus.FAILED,
];

/** A status's enum name (`SUCCEEDED`) for URLs, and back. */
export const statusName = (status: PaymentStatus): string => PaymentStatus[status];
export function statusFromName(name: string): PaymentStatus | undefined {
  const value = (PaymentStatus as unknown as Record<string, number>)[name];
  return typeof value === 'number' && value !== PaymentStatus.UNSPECIFIED ? (value as PaymentStatus) : undefined;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(time: Timestamp | undefined): string {
  return time === undefined ? '—' : dateTime.format(timestampDate(time));
}

export function isoTime(time: Timestamp | undefined): string {
  return time === undefined ? '' : timestampDate(time).toISOString();
}
