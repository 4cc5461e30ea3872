/**
 * The subscription aggregate's statuses and the transitions between them (Stripe Billing's,
 * without `incomplete`): any transition not in `subscriptionTransitions` is refused with
 * `INVALID_STATE_TRANSITION`.
 *
 *   trialing -> active      trial ended and its first invoice was paid (or nothing was due)
 *            -> past_due    trial ended and the first charge failed
 *            -> paused      trial ended without a payment method (Stripe's `pause` trial end behaviour)
 *            -> canceled
 *   active   -> past_due    a renewal charge failed (dunning starts)
 *            -> paused | canceled
 *   past_due -> active      an invoice payment succeeded (a retry or the customer)
 *            -> unpaid      retries exhausted and the policy says `unpaid` (invoices keep being drafted, not charged)
 *            -> canceled    retries exhausted and the policy says `cancel`, or canceled by request
 *   unpaid   -> active      the open invoices were paid
 *            -> canceled
 *   paused   -> active      resumed
 *            -> canceled
 *   canceled: final.
 *
 * "Cancel at period end" is not a status: `cancelAtPeriodEnd` is set and the renewal that would
 * start the next period cancels instead.
 */
import { TallyError } from '../errors.js';
import type { BillingInterval } from './calendar.js';
import type { ProrationBehavior, ProrationGranularity } from './proration.js';

/** Every subscription status. */
export const subscriptionStatuses = ['trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled'] as const;
/** One of `subscriptionStatuses`. */
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];

/** Allowed transitions: `from -> [to...]`. */
export const subscriptionTransitions: Readonly<Record<SubscriptionStatus, readonly SubscriptionStatus[]>> = Object.freeze({
  trialing: ['active', 'past_due', 'paused', 'canceled'],
  active: ['past_due', 'paused', 'canceled'],
  past_due: ['active', 'unpaid', 'canceled'],
  unpaid: ['active', 'canceled'],
  paused: ['active', 'canceled'],
  canceled: [],
});

/** True when `from -> to` is allowed. */
export function canTransitionSubscription(from: SubscriptionStatus, to: SubscriptionStatus): boolean {
  return subscriptionTransitions[from].includes(to);
}

/**
 * Checks `from -> to` and returns `to`. Throws `INVALID_STATE_TRANSITION` (metadata `from`, `to`)
 * when the table does not allow it: e.g. reactivating a canceled subscription.
 */
export function transitionSubscription(from: SubscriptionStatus, to: SubscriptionStatus, subscriptionId = ''): SubscriptionStatus {
  if (!canTransitionSubscription(from, to)) {
    throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${subscriptionId} cannot go from ${from} to ${to}`.replace('  ', ' '), {
      from, to, ...(subscriptionId === '' ? {} : { subscriptionId }),
    });
  }
  return to;
}

/** One price on a subscription. All items of a subscription share its currency and interval. */
export interface SubscriptionItem {
  /** `si_...` */
  readonly id: string;
  readonly priceId: string;
  /** Seats for licensed prices (>= 1); ignored (0) for metered prices. */
  readonly quantity: bigint;
}

/** What happens when a renewal's charge fails and retries run out. */
export interface DunningPolicy {
  /** Delays of the retries after the first failure, in days (e.g. [1, 3, 5, 7]); at most 10. */
  readonly retryDelaysDays: readonly number[];
  /** Status once every retry failed. */
  readonly finalStatus: 'unpaid' | 'canceled';
}

/** A subscription as the domain sees it (persistence may add fields around it). */
export interface Subscription {
  /** `sub_...` */
  readonly id: string;
  readonly customerId: string;
  readonly currency: string;
  readonly status: SubscriptionStatus;
  readonly items: readonly SubscriptionItem[];
  readonly interval: BillingInterval;
  /** Billing-cycle anchor (UTC ms): period boundaries are computed from it (calendar.ts). */
  readonly anchorMs: number;
  readonly currentPeriodStartMs: number;
  readonly currentPeriodEndMs: number;
  readonly trialEndMs: number | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAtMs: number | null;
  readonly prorationBehavior: ProrationBehavior;
  readonly prorationGranularity: ProrationGranularity;
}
