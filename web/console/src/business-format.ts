/** Labels and tones of the billing, webhook and reconciliation statuses the console shows. */
import { InvoiceStatus, SubscriptionStatus } from '@gen/tally/billing/v1/billing_pb';
import { Role } from '@gen/tally/tenancy/v1/tenancy_pb';

export type Tone = 'good' | 'bad' | 'warn' | 'neutral';

const invoiceStatuses: Record<InvoiceStatus, [string, Tone]> = {
  [InvoiceStatus.UNSPECIFIED]: ['Unknown', 'neutral'],
  [InvoiceStatus.DRAFT]: ['Draft', 'neutral'],
  [InvoiceStatus.OPEN]: ['Open', 'warn'],
  [InvoiceStatus.PAID]: ['Paid', 'good'],
  [InvoiceStatus.VOID]: ['Void', 'neutral'],
  [InvoiceStatus.UNCOLLECTIBLE]: ['Uncollectible', 'bad'],
};
export const invoiceStatus = (s: InvoiceStatus): [string, Tone] => invoiceStatuses[s] ?? [`Status ${String(s)}`, 'neutral'];

const subscriptionStatuses: Record<SubscriptionStatus, [string, Tone]> = {
  [SubscriptionStatus.UNSPECIFIED]: ['Unknown', 'neutral'],
  [SubscriptionStatus.TRIALING]: ['Trialing', 'neutral'],
  [SubscriptionStatus.ACTIVE]: ['Active', 'good'],
  [SubscriptionStatus.PAST_DUE]: ['Past due', 'warn'],
  [SubscriptionStatus.UNPAID]: ['Unpaid', 'bad'],
  [SubscriptionStatus.PAUSED]: ['Paused', 'neutral'],
  [SubscriptionStatus.CANCELED]: ['Canceled', 'neutral'],
};
export const subscriptionStatus = (s: SubscriptionStatus): [string, Tone] => subscriptionStatuses[s] ?? [`Status ${String(s)}`, 'neutral'];

/** Webhook delivery (`pending`/`succeeded`/`failed`) and recon (`open`/`healed`/`resolved`, run states) statuses. */
const textTones: Record<string, Tone> = {
  succeeded: 'good', failed: 'bad', pending: 'warn',
  open: 'warn', healed: 'good', resolved: 'neutral',
  queued: 'neutral', running: 'warn', completed: 'good',
};
export const textTone = (status: string): Tone => textTones[status] ?? 'neutral';

export const roleLabel = (role: Role): string => ({ [Role.VIEWER]: 'Viewer', [Role.DEVELOPER]: 'Developer', [Role.OWNER]: 'Owner' } as Record<number, string>)[role] ?? 'Unknown';
/** Roles an owner may give a new key, least powerful first. */
export const keyRoles: Role[] = [Role.VIEWER, Role.DEVELOPER, Role.OWNER];

/** A tax rate in basis points as a percentage (2550 -> "25.5 %"), exact (no float arithmetic). */
export function formatRateBps(bps: number): string {
  const whole = Math.trunc(bps / 100);
  const fraction = String(bps % 100).padStart(2, '0').replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''} %`;
}

/** Saves bytes as a file through a temporary object URL (the browser's own download). */
export function saveBytes(bytes: Uint8Array, fileName: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked after the click has started the download (revoking at once can cancel it in some browsers).
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
