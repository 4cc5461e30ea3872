/**
 * The buyer's side of a checkout session (issue 17 item 1, ADR 0036): found by its client secret,
 * paid with a card the PSP's hosted fields tokenized, through the existing payments and billing
 * use cases. At most one charge: one attempt at a time holds the session (a lease), a payment-mode
 * session has ONE payment whose state machine refuses a second authorization, and completion is a
 * transaction that moves `open -> complete` once and writes `checkout.session.completed` with it.
 */
import { TallyError } from '../../domain/errors.js';
import {
  CLIENT_SECRET_LENGTH_MAX, beginAttempt, clientSecretMatches, clientSecretSha256, completeSession, declineMessageOf, endAttempt, requirePayable,
  type CheckoutSession,
} from '../../domain/checkout/session.js';
import { derivedId } from '../../domain/ids.js';
import type { PaymentIntent } from '../../domain/payments/index.js';
import { hashRequest } from '../../platform/idempotency/idempotency.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import * as payments from '../payments/index.js';
import type { CommandKey, KeyedResult } from '../payments/index.js';
import { getPayment } from '../payments/commands.js';
import { checkBillingCustomer, updateBillingCustomer } from '../billing/catalog.js';
import { cancelSubscription, createSubscription } from '../billing/subscriptions.js';
import { voidInvoice } from '../billing/invoicing.js';
import type { CheckoutDeps } from './checkout-deps.js';
import { asOfNow, sessionEvent } from './sessions.js';

/** A card as the PSP's hosted fields gave it: tokens only. */
export interface HostedCardInput {
  pspTokens: Readonly<Record<string, string>>;
  brand: string;
  last4: string;
  country: string;
}

/** What an attempt (or a sync) came to. */
export type AttemptOutcome =
  | { kind: 'complete'; session: CheckoutSession }
  | { kind: 'action'; session: CheckoutSession; nextActionUrl: string }
  | { kind: 'declined'; session: CheckoutSession; code: string; message: string }
  /** Sent, outcome not known yet (a PSP timeout): SyncHostedSession later. */
  | { kind: 'pending'; session: CheckoutSession };

const notFound = () => new TallyError('NOT_FOUND', 'checkout session not found', { field: 'client_secret' });

/**
 * The session a client secret names. Unknown, forged, malformed or another session's secret: the
 * same NOT_FOUND, without data. The stored hash is compared in constant time.
 */
export async function sessionBySecret(deps: CheckoutDeps, clientSecret: string): Promise<CheckoutSession> {
  if (clientSecret === '' || clientSecret.length > CLIENT_SECRET_LENGTH_MAX) throw notFound();
  const found = await deps.store.findBySecretSha256(clientSecretSha256(clientSecret));
  if (!found) throw notFound();
  const session = await deps.store.getSession(found.tenantId, found.sessionId);
  if (!session || !clientSecretMatches(clientSecret, session.clientSecretSha256)) throw notFound();
  return asOfNow(deps, session);
}

/** Refuses a bad card before anything is written (the payments path's own checks: no PAN, known PSPs). */
export async function checkCard(deps: CheckoutDeps, tenantId: string, card: HostedCardInput): Promise<void> {
  await payments.checkNewPaymentMethod(deps.payments, tenantId, { customerId: '', pspTokens: card.pspTokens, brand: card.brand, country: card.country, last4: card.last4 });
}

/** A command key of this checkout's own for a payments command (the payments use cases' idempotency, ADR 0011). */
function commandKey(deps: CheckoutDeps, tenantId: string, method: string, key: string): CommandKey {
  return {
    ref: { scope: tenantId, method, key },
    // The checkout RPC already checked its whole request against its own key: the command is identified by its key.
    requestHash: hashRequest(new TextEncoder().encode(`${method}\u0000${key}`)),
    options: deps.idempotency,
    encode: (intent) => new TextEncoder().encode(intent.id),
  };
}

/** The payment id a keyed command answered, fresh or replayed (replays store just the id, see commandKey). */
const paymentIdOf = (result: KeyedResult): string => (result.kind === 'fresh' ? result.intent.id : new TextDecoder().decode(result.response));

/** Writes `change` of the session if it still exists; the stored session as it then is. */
async function update(deps: CheckoutDeps, session: CheckoutSession, change: (current: CheckoutSession) => CheckoutSession | null): Promise<CheckoutSession> {
  const updated = await deps.store.updateSession(session.tenantId, session.id, (current) => {
    const next = change(current);
    return next === null ? null : { session: next, events: [] };
  });
  if (!updated) throw notFound();
  return updated;
}

/** Completes the session once, with its `checkout.session.completed` event in the same transaction. */
async function complete(deps: CheckoutDeps, session: CheckoutSession, paid: { paymentId: string; subscriptionId: string; customerId: string }, trace: TraceIds): Promise<CheckoutSession> {
  const updated = await deps.store.updateSession(session.tenantId, session.id, (current) => {
    const r = completeSession(current, paid, deps.clock.nowMs());
    return r.changed ? { session: r.session, events: [sessionEvent(deps, 'checkout.session.completed', r.session, trace)] } : null;
  });
  if (!updated) throw notFound();
  return updated;
}

/**
 * The session's customer: the merchant's, or one created for the buyer once (under the attempt's
 * lease), with the session's email or else the one the buyer typed (then kept on the session too).
 */
async function ensureCustomer(deps: CheckoutDeps, session: CheckoutSession, buyerEmail: string): Promise<string> {
  if (session.customerId !== '') return session.customerId;
  const email = session.customerEmail || buyerEmail;
  const customer = await payments.createCustomer(deps.payments, session.tenantId, { email, name: '' });
  const updated = await update(deps, session, (current) => (current.customerId === ''
    ? { ...current, customerId: customer.id, customerEmail: current.customerEmail || email, updatedAtMs: deps.clock.nowMs() }
    : null));
  return updated.customerId;
}

/** The session's one payment (PAYMENT mode): created on the first attempt, under a key derived from the session. */
async function ensurePayment(deps: CheckoutDeps, session: CheckoutSession, customerId: string, trace: TraceIds): Promise<string> {
  if (session.paymentId !== '') return session.paymentId;
  const created = await payments.createPayment(deps.payments, session.tenantId, {
    amountMinor: session.totalMinor, currency: session.currency, captureMethod: 'automatic', customerId, paymentMethodId: '',
    metadata: { ...session.metadata, checkout_session_id: session.id },
  }, trace, commandKey(deps, session.tenantId, 'checkout/session-payment', session.id));
  const paymentId = paymentIdOf(created);
  const updated = await update(deps, session, (current) => (current.paymentId === '' ? { ...current, paymentId, updatedAtMs: deps.clock.nowMs() } : null));
  return updated.paymentId;
}

const isDecline = (error: unknown): error is TallyError =>
  error instanceof TallyError && (error.reason === 'CARD_DECLINED' || error.reason === 'INSUFFICIENT_FUNDS');

/** The outcome a payment's state says, completing the session when it is paid. */
async function outcomeOfPayment(deps: CheckoutDeps, session: CheckoutSession, intent: PaymentIntent, trace: TraceIds): Promise<AttemptOutcome> {
  switch (intent.status) {
    case 'succeeded':
      return { kind: 'complete', session: await complete(deps, session, { paymentId: intent.id, subscriptionId: '', customerId: intent.customerId ?? '' }, trace) };
    case 'requires_action':
      return { kind: 'action', session, nextActionUrl: intent.nextActionUrl ?? '' };
    case 'requires_payment_method': {
      if (intent.declineReason === null) return { kind: 'pending', session };
      return { kind: 'declined', session, code: intent.declineReason, message: declineMessageOf(intent.declineReason) };
    }
    default:
      return { kind: 'pending', session };
  }
}

/**
 * Pays the session with `card` (one attempt, named by the buyer's idempotency key). A complete
 * session answers complete and charges nothing; an expired one is refused; a decline leaves it open.
 */
export async function confirmHosted(
  deps: CheckoutDeps, session: CheckoutSession, card: HostedCardInput, returnUrl: string, attemptKey: string, trace: TraceIds, buyerEmail = '',
): Promise<AttemptOutcome> {
  if (session.status === 'complete') return { kind: 'complete', session };
  requirePayable(session, deps.clock.nowMs());
  const taken = await update(deps, session, (current) => (current.status === 'complete' ? null : beginAttempt(current, attemptKey, deps.clock.nowMs(), deps.settings.attemptLeaseMs)));
  if (taken.status === 'complete') return { kind: 'complete', session: taken };
  let outcome: AttemptOutcome | undefined;
  try {
    outcome = taken.mode === 'payment'
      ? await payAttempt(deps, taken, card, returnUrl, attemptKey, trace, buyerEmail)
      : await subscribeAttempt(deps, taken, card, attemptKey, trace, buyerEmail);
    return outcome;
  } finally {
    if (outcome?.kind !== 'complete') {
      const decline = outcome?.kind === 'declined' ? { code: outcome.code, message: outcome.message } : null;
      const released = await update(deps, taken, (current) => (current.status === 'open' ? endAttempt(current, attemptKey, deps.clock.nowMs(), decline) : null));
      if (outcome) outcome.session = released;
    }
  }
}

async function payAttempt(deps: CheckoutDeps, session: CheckoutSession, card: HostedCardInput, returnUrl: string, attemptKey: string, trace: TraceIds, buyerEmail: string): Promise<AttemptOutcome> {
  const customerId = await ensureCustomer(deps, session, buyerEmail);
  const paymentId = await ensurePayment(deps, { ...session, customerId }, customerId, trace);
  const current = await getPayment(deps.payments, session.tenantId, paymentId);
  // A payment already paid, or waiting for its challenge: that is the answer (a second card would be a second charge).
  if (current.status !== 'requires_payment_method' && current.status !== 'requires_confirmation') {
    return outcomeOfPayment(deps, session, current, trace);
  }
  const method = await payments.createPaymentMethod(deps.payments, session.tenantId, { customerId, pspTokens: card.pspTokens, brand: card.brand, country: card.country, last4: card.last4 });
  let intent: PaymentIntent;
  try {
    const result = await payments.confirm(deps.payments, session.tenantId, paymentId, method.id, trace, commandKey(deps, session.tenantId, 'checkout/confirm', `${session.id}/${attemptKey}`), returnUrl);
    intent = result.kind === 'fresh' ? result.intent : await getPayment(deps.payments, session.tenantId, paymentId);
  } catch (error) {
    if (!isDecline(error)) throw error;
    intent = await getPayment(deps.payments, session.tenantId, paymentId);
    const reason = intent.declineReason ?? error.metadata.declineReason ?? 'card_declined';
    return { kind: 'declined', session, code: reason, message: declineMessageOf(reason) };
  }
  return outcomeOfPayment(deps, session, intent, trace);
}

/**
 * SUBSCRIPTION mode: the card becomes the customer's default payment method and the subscription
 * is created through billing, its first invoice charged at once. A first invoice that is not paid
 * (declined) undoes the attempt (invoice voided, subscription canceled) and the session stays open.
 */
async function subscribeAttempt(deps: CheckoutDeps, session: CheckoutSession, card: HostedCardInput, attemptKey: string, trace: TraceIds, buyerEmail: string): Promise<AttemptOutcome> {
  const tenantId = session.tenantId;
  const customerId = await ensureCustomer(deps, session, buyerEmail);
  const method = await payments.createPaymentMethod(deps.payments, tenantId, { customerId, pspTokens: card.pspTokens, brand: card.brand, country: card.country, last4: card.last4 });
  const profile = await checkBillingCustomer(deps.billing, tenantId, {
    customerId, defaultPaymentMethodId: method.id, country: session.customerCountry, postcode: session.customerPostcode, vatId: '', testClockId: '', updatedAtMs: deps.clock.nowMs(),
  });
  await updateBillingCustomer(deps.billing, tenantId, profile);
  const subscriptionId = derivedId('sub', [tenantId, session.id, attemptKey]);
  const { subscription, invoice } = await createSubscription(deps.billing, tenantId, subscriptionId, {
    customerId, items: session.lines.map((l) => ({ priceId: l.priceId, quantity: l.quantity })), trialDays: 0, couponId: '', currency: session.currency,
  }, trace);
  if (invoice && invoice.status === 'paid') {
    return { kind: 'complete', session: await complete(deps, { ...session, customerId }, { paymentId: invoice.paymentId, subscriptionId: subscription.id, customerId }, trace) };
  }
  // Not paid: undo, so that the buyer's next card makes a clean subscription (no past-due one left behind).
  let code = 'card_declined';
  if (invoice && invoice.paymentId !== '') {
    const payment = await deps.payments.store.getPayment(tenantId, invoice.paymentId);
    // A challenge cannot be answered by an off-session charge: say so rather than "declined".
    code = payment?.status === 'requires_action' ? 'authentication_required' : payment?.declineReason ?? code;
  }
  if (invoice && invoice.status === 'open') await voidInvoice(deps.billing, tenantId, invoice.id, trace);
  await cancelSubscription(deps.billing, tenantId, subscription.id, false, trace);
  return { kind: 'declined', session, code, message: declineMessageOf(code) };
}

/**
 * After the buyer's challenge: reads the session's payment and completes the session when it is
 * paid. Any number of calls; the first that sees the payment succeeded completes it, once.
 */
export async function syncHosted(deps: CheckoutDeps, session: CheckoutSession, trace: TraceIds): Promise<AttemptOutcome> {
  if (session.status === 'complete') return { kind: 'complete', session };
  if (session.paymentId === '') {
    return session.declineMessage === '' ? { kind: 'pending', session } : { kind: 'declined', session, code: session.declineCode, message: session.declineMessage };
  }
  const intent = await getPayment(deps.payments, session.tenantId, session.paymentId);
  return outcomeOfPayment(deps, session, intent, trace);
}
