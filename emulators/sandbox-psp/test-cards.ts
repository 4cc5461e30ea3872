/**
 * The sandbox's test cards: one table for both wire protocols, so a scenario ("declined for
 * insufficient funds") has one Stripe token and one Adyen stored-payment-method id with the same
 * behaviour. README.md in this folder documents the same table for humans; keep both in step.
 */

/** How the sandbox's card network answers one authorization. */
export type CardBehaviour =
  | { kind: 'approve' }
  | { kind: 'decline'; decline: DeclineSpec }
  /** A 3DS-style challenge: `requires_action` / `RedirectShopper` until `/_sandbox/challenge/...` completes it. */
  | { kind: 'challenge' }
  /** Processed as `approve`, then the HTTP response is held longer than any client timeout (ambiguous). */
  | { kind: 'timeout' }
  /** A 5xx before anything happens: nothing exists at the PSP (safe to retry or re-route). */
  | { kind: 'error_before' }
  /** Processed as `approve`, then a 5xx: the payment exists at the PSP although the caller saw an error. */
  | { kind: 'error_after' }
  /** Processed as `approve`; once captured, the issuer opens a dispute (chargeback) at once. */
  | { kind: 'dispute' }
  /** Processed as `approve`; an Adyen cancellation is accepted, then fails (CANCELLATION success=false). */
  | { kind: 'cancel_refused' }
  /** Processed as `approve`; an Adyen capture is accepted (`received`), then fails (CAPTURE success=false). */
  | { kind: 'capture_fails' }
  /**
   * Processed as `approve`; an Adyen capture or refund of it is accepted and confirmed (CAPTURE /
   * REFUND success=true), then the card scheme rejects it (CAPTURE_FAILED / REFUND_FAILED), and
   * Adyen may retry it by itself. Stripe behaves as `approve`.
   */
  | { kind: 'scheme_rejection'; rejection: SchemeRejectionSpec };

/**
 * A card scheme's rejection of a modification Adyen had already confirmed, as Adyen documents it
 * (https://docs.adyen.com/online-payments/capture/failure-reasons): CAPTURE_FAILED / REFUND_FAILED
 * with the reason, sent with `success: 'true'` (the event code says what happened), and for a
 * technical issue Adyen's own retry, a further CAPTURE / REFUND success=true.
 */
export interface SchemeRejectionSpec {
  /** Which modification the scheme rejects (the other one goes through normally). */
  modification: 'captures' | 'refunds';
  /** The `reason` of the CAPTURE_FAILED / REFUND_FAILED item. */
  reason: string;
  /** The `reason` of Adyen's successful retry (CAPTURE / REFUND success=true), or null when it does not retry. */
  retryReason: string | null;
}

/** A decline as each PSP spells it on the wire. */
export interface DeclineSpec {
  stripeCode: string;
  stripeDeclineCode: string | null;
  stripeMessage: string;
  adyenRefusalReason: string;
  adyenRefusalReasonCode: string;
  /** Adyen's raw acquirer response (`additionalData.refusalReasonRaw`), when it says more than the code. */
  adyenRefusalReasonRaw: string | null;
}

export interface TestCard {
  /** Stripe PaymentMethod ids (`payment_method`); the first is the canonical one. */
  stripeTokens: readonly string[];
  /** Adyen `paymentMethod.storedPaymentMethodId` (or `encryptedCardNumber`) value. */
  adyenToken: string;
  behaviour: CardBehaviour;
  description: string;
}

const declines = {
  generic: {
    stripeCode: 'card_declined', stripeDeclineCode: 'generic_decline', stripeMessage: 'Your card was declined.',
    adyenRefusalReason: 'Refused', adyenRefusalReasonCode: '2', adyenRefusalReasonRaw: null,
  },
  insufficientFunds: {
    stripeCode: 'card_declined', stripeDeclineCode: 'insufficient_funds', stripeMessage: 'Your card has insufficient funds.',
    adyenRefusalReason: 'Not enough balance', adyenRefusalReasonCode: '12', adyenRefusalReasonRaw: '51 : Insufficient funds',
  },
  expiredCard: {
    stripeCode: 'expired_card', stripeDeclineCode: 'expired_card', stripeMessage: 'Your card has expired.',
    adyenRefusalReason: 'Expired Card', adyenRefusalReasonCode: '6', adyenRefusalReasonRaw: '54 : Expired card',
  },
  incorrectCvc: {
    stripeCode: 'incorrect_cvc', stripeDeclineCode: 'incorrect_cvc', stripeMessage: "Your card's security code is incorrect.",
    adyenRefusalReason: 'CVC Declined', adyenRefusalReasonCode: '24', adyenRefusalReasonRaw: 'N7 : Decline for CVV2 failure',
  },
  fraudulent: {
    stripeCode: 'card_declined', stripeDeclineCode: 'fraudulent', stripeMessage: 'Your card was declined.',
    adyenRefusalReason: 'FRAUD', adyenRefusalReasonCode: '20', adyenRefusalReasonRaw: null,
  },
  doNotHonor: {
    stripeCode: 'card_declined', stripeDeclineCode: 'do_not_honor', stripeMessage: 'Your card was declined.',
    adyenRefusalReason: 'Refused', adyenRefusalReasonCode: '2', adyenRefusalReasonRaw: '05 : Do not honor',
  },
} satisfies Record<string, DeclineSpec>;

const schemeRejections = {
  capture: { modification: 'captures', reason: 'Capture rejected by card scheme because of a technical issue', retryReason: null },
  captureRecaptured: { modification: 'captures', reason: 'Capture rejected by card scheme because of a technical issue', retryReason: 'Transaction Recaptured' },
  refund: { modification: 'refunds', reason: 'Refund rejected by card scheme because of a technical issue', retryReason: null },
} satisfies Record<string, SchemeRejectionSpec>;

/** What a failed 3DS-style challenge looks like on each wire. */
export const authenticationFailure: DeclineSpec = {
  stripeCode: 'payment_intent_authentication_failure', stripeDeclineCode: null,
  stripeMessage: 'The provided PaymentMethod has failed authentication.',
  adyenRefusalReason: '3D Not Authenticated', adyenRefusalReasonCode: '11', adyenRefusalReasonRaw: null,
};

export const testCards: readonly TestCard[] = [
  { stripeTokens: ['pm_card_visa', 'pm_card_mastercard'], adyenToken: 'adyen_success', behaviour: { kind: 'approve' }, description: 'Approved.' },
  { stripeTokens: ['pm_card_chargeDeclined'], adyenToken: 'adyen_refused_generic', behaviour: { kind: 'decline', decline: declines.generic }, description: 'Declined, generic.' },
  { stripeTokens: ['pm_card_chargeDeclinedInsufficientFunds'], adyenToken: 'adyen_refused_insufficient_funds', behaviour: { kind: 'decline', decline: declines.insufficientFunds }, description: 'Declined: insufficient funds.' },
  { stripeTokens: ['pm_card_chargeDeclinedExpiredCard'], adyenToken: 'adyen_refused_expired_card', behaviour: { kind: 'decline', decline: declines.expiredCard }, description: 'Declined: expired card.' },
  { stripeTokens: ['pm_card_chargeDeclinedIncorrectCvc'], adyenToken: 'adyen_refused_incorrect_cvc', behaviour: { kind: 'decline', decline: declines.incorrectCvc }, description: 'Declined: incorrect CVC.' },
  { stripeTokens: ['pm_card_chargeDeclinedFraudulent'], adyenToken: 'adyen_refused_fraud', behaviour: { kind: 'decline', decline: declines.fraudulent }, description: 'Declined: suspected fraud.' },
  { stripeTokens: ['pm_card_chargeDeclinedDoNotHonor'], adyenToken: 'adyen_refused_do_not_honor', behaviour: { kind: 'decline', decline: declines.doNotHonor }, description: 'Declined: do not honor.' },
  { stripeTokens: ['pm_card_threeDSecure2Required', 'pm_card_authenticationRequired'], adyenToken: 'adyen_3ds_challenge', behaviour: { kind: 'challenge' }, description: '3DS-style challenge (requires action).' },
  { stripeTokens: ['pm_card_createDispute'], adyenToken: 'adyen_dispute', behaviour: { kind: 'dispute' }, description: 'Approved; disputed as soon as it is captured.' },
  { stripeTokens: ['pm_card_sandboxCancelRefused'], adyenToken: 'adyen_cancel_refused', behaviour: { kind: 'cancel_refused' }, description: 'Approved; an Adyen cancellation of it fails (Stripe cancels it normally).' },
  { stripeTokens: ['pm_card_sandboxCaptureFailsAsync'], adyenToken: 'adyen_capture_fails', behaviour: { kind: 'capture_fails' }, description: 'Approved; an Adyen capture of it is accepted, then fails (Stripe captures it normally).' },
  { stripeTokens: ['pm_card_sandboxSchemeRejectsCapture'], adyenToken: 'adyen_scheme_rejects_capture', behaviour: { kind: 'scheme_rejection', rejection: schemeRejections.capture }, description: 'Approved; an Adyen capture of it is confirmed, then rejected by the card scheme (CAPTURE_FAILED), for good (Stripe captures it normally).' },
  { stripeTokens: ['pm_card_sandboxSchemeRecaptures'], adyenToken: 'adyen_scheme_recaptures', behaviour: { kind: 'scheme_rejection', rejection: schemeRejections.captureRecaptured }, description: 'Approved; an Adyen capture of it is confirmed, rejected by the card scheme, then re-captured by Adyen (Stripe captures it normally).' },
  { stripeTokens: ['pm_card_sandboxSchemeRejectsRefund'], adyenToken: 'adyen_scheme_rejects_refund', behaviour: { kind: 'scheme_rejection', rejection: schemeRejections.refund }, description: 'Approved; an Adyen refund of it is confirmed, then rejected by the card scheme (REFUND_FAILED), for good (Stripe refunds it normally).' },
  { stripeTokens: ['pm_card_sandboxTimeout'], adyenToken: 'adyen_timeout', behaviour: { kind: 'timeout' }, description: 'Processed (approved), response held past any client timeout.' },
  { stripeTokens: ['pm_card_sandboxErrorBeforeProcessing'], adyenToken: 'adyen_error_before', behaviour: { kind: 'error_before' }, description: '5xx before processing: nothing happened.' },
  { stripeTokens: ['pm_card_sandboxErrorAfterProcessing'], adyenToken: 'adyen_error_after', behaviour: { kind: 'error_after' }, description: 'Processed (approved), then 5xx: ambiguous.' },
];

const byStripeToken = new Map(testCards.flatMap((card) => card.stripeTokens.map((token) => [token, card] as const)));
const byAdyenToken = new Map(testCards.map((card) => [card.adyenToken, card] as const));

/** The card behind a Stripe PaymentMethod id, or undefined for an unknown one. */
export function stripeTestCard(token: string): TestCard | undefined {
  return byStripeToken.get(token);
}

/** The card behind an Adyen stored payment method id, or undefined for an unknown one. */
export function adyenTestCard(token: string): TestCard | undefined {
  return byAdyenToken.get(token);
}
