/**
 * What the page shows after each answer of HostedCheckoutService, decided in one place: the status
 * of the session first (paid / expired are final), then a challenge to complete, then a decline.
 */
import { CallError } from '@shared/callable';
import { CheckoutSessionStatus, type HostedCheckoutSession } from '@gen/tally/checkout/v1/checkout_pb';

export type Outcome =
  | { kind: 'paid' }
  | { kind: 'expired' }
  | { kind: 'challenge'; url: string }
  | { kind: 'declined'; message: string }
  | { kind: 'open' };

/** The fields every HostedCheckoutService answer shares. */
export interface HostedAnswer {
  session?: HostedCheckoutSession;
  nextActionUrl: string;
  declineMessage: string;
}

export function outcomeOf(answer: HostedAnswer): Outcome {
  const status = answer.session?.status;
  if (status === CheckoutSessionStatus.COMPLETE) return { kind: 'paid' };
  if (status === CheckoutSessionStatus.EXPIRED) return { kind: 'expired' };
  if (answer.nextActionUrl !== '') return { kind: 'challenge', url: answer.nextActionUrl };
  if (answer.declineMessage !== '') return { kind: 'declined', message: answer.declineMessage };
  return { kind: 'open' };
}

/** How a refused or failed call ends for the buyer. */
export type Failure =
  /** The link is wrong or the session is gone: nothing to pay here. */
  | { kind: 'not_found' }
  | { kind: 'expired' }
  /** Tally answered "no" for this attempt: a new attempt (new key) may succeed. */
  | { kind: 'refused'; message: string }
  /** The buyer's email was refused: fix it, then a new attempt. */
  | { kind: 'email'; message: string }
  /** No answer (network, timeout, outage): the attempt may have happened; retry it with the SAME key. */
  | { kind: 'unknown'; message: string };

const transientCodes = new Set(['unavailable', 'deadline-exceeded', 'internal', 'unknown', 'cancelled', 'aborted', 'resource-exhausted']);

export function failureOf(error: unknown): Failure {
  if (!(error instanceof CallError)) {
    return { kind: 'unknown', message: 'We could not reach the payment service. Check your connection and press Pay again: you will not be charged twice.' };
  }
  if (error.reason === 'CHECKOUT_SESSION_EXPIRED') return { kind: 'expired' };
  if (error.code === 'not-found') return { kind: 'not_found' };
  if (transientCodes.has(error.code)) {
    return { kind: 'unknown', message: 'We did not hear back from the payment service. Press Pay again: you will not be charged twice.' };
  }
  if (error.metadata.field === 'customer_email') return { kind: 'email', message: 'Enter a valid email address, e.g. name@example.com.' };
  return { kind: 'refused', message: error.message };
}
