/**
 * Checkout sessions (issue 17 item 1, ADR 0036): what a merchant asks a buyer to pay, priced once
 * at creation, and the session's state machine `open -> complete | expired` (both final).
 *
 * Pure: no I/O. Amounts are bigint minor units of the session's currency; tax comes in as a
 * `TaxCalculation` (the TaxCalculator port's answer) and is checked to add up here, so no engine
 * can make a session lose or invent a cent.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { TallyError, assert, invalidField } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money/index.js';
import type { TaxBehavior, TaxCalculation, TaxCategory, TaxTreatment } from '../tax/tax-types.js';
import type { IntervalUnit } from '../billing/calendar.js';

export type CheckoutMode = 'payment' | 'subscription';
export type CheckoutStatus = 'open' | 'complete' | 'expired';

/** Most line items of one session. */
export const CHECKOUT_LINE_ITEMS_MAX = 50;
/** Largest quantity of one line item. */
export const CHECKOUT_QUANTITY_MAX = 10_000n;
/** Longest ad-hoc item name, in characters. */
export const CHECKOUT_ITEM_NAME_LENGTH_MAX = 200;
/** Shortest and longest lifetime a merchant may ask for (Stripe: 30 minutes .. 24 hours). */
export const CHECKOUT_EXPIRES_IN_SECONDS_MIN = 1_800;
export const CHECKOUT_EXPIRES_IN_SECONDS_MAX = 86_400;
/** Longest postcode kept for tax. */
export const CHECKOUT_POSTCODE_LENGTH_MAX = 16;
/**
 * Metadata keys a session may carry: the payment it creates carries them plus
 * `checkout_session_id`, within the payments' 20 keys.
 */
export const CHECKOUT_METADATA_KEYS_MAX = 19;
/** Largest total one session may charge: what one payment can carry (payments' bound). */
export const CHECKOUT_TOTAL_MINOR_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** A line as the app resolved it (an ad-hoc amount, or a billing price priced for its quantity). */
export interface ResolvedLine {
  readonly name: string;
  /** '' for an ad-hoc item. */
  readonly priceId: string;
  readonly quantity: bigint;
  readonly unitAmountMinor: bigint;
  /** quantity x unit amount (a price's scheme may make it something else: tiers, decimals). */
  readonly amountMinor: bigint;
  readonly taxBehavior: TaxBehavior;
  readonly taxCategory: TaxCategory;
  readonly recurring: { readonly unit: IntervalUnit; readonly count: number } | null;
}

/** A priced line item of a session. */
export interface CheckoutLine extends ResolvedLine {
  readonly subtotalMinor: bigint;
  readonly taxMinor: bigint;
  readonly totalMinor: bigint;
  readonly taxRatePpm: number;
}

/** Tax grouped by rate, country and treatment. */
export interface CheckoutTaxLine {
  readonly ratePpm: number;
  readonly country: string;
  readonly treatment: TaxTreatment;
  readonly taxableMinor: bigint;
  readonly taxMinor: bigint;
  readonly reason: string;
}

/** The running attempt to pay a session: one at a time (at most one charge in flight). */
export interface CheckoutAttempt {
  /** The buyer's idempotency key of the attempt. */
  readonly key: string;
  readonly leaseUntilMs: number;
}

export interface CheckoutSession {
  readonly id: string;
  readonly tenantId: string;
  readonly mode: CheckoutMode;
  readonly status: CheckoutStatus;
  readonly currency: string;
  readonly lines: readonly CheckoutLine[];
  readonly subtotalMinor: bigint;
  readonly taxMinor: bigint;
  readonly totalMinor: bigint;
  readonly taxLines: readonly CheckoutTaxLine[];
  readonly automaticTax: boolean;
  readonly customerEmail: string;
  readonly customerCountry: string;
  readonly customerPostcode: string;
  readonly customerId: string;
  readonly paymentId: string;
  readonly subscriptionId: string;
  readonly successUrl: string;
  readonly cancelUrl: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** SHA-256 (hex) of the client secret; the secret itself is never stored. */
  readonly clientSecretSha256: string;
  readonly expiresAtMs: number;
  readonly createdAtMs: number;
  readonly completedAtMs: number | null;
  readonly updatedAtMs: number;
  readonly attempt: CheckoutAttempt | null;
  /** The last attempt's decline, for the buyer's page ('' none). */
  readonly declineCode: string;
  readonly declineMessage: string;
  readonly traceId: string;
}

// ---- pricing ----------------------------------------------------------------------------------

function checkedSum(values: readonly bigint[], field: string): bigint {
  let total = 0n;
  for (const v of values) {
    total += v;
    if (total > AMOUNT_MINOR_MAX) throw new TallyError('AMOUNT_OUT_OF_RANGE', `${field}: the total is out of range`, { field });
  }
  return total;
}

/**
 * Prices the lines: without tax every line's subtotal is its amount; with a calculation (one
 * result per line, same order) the line's net and tax are the calculation's, which must add up to
 * the line's amount (exclusive: net = amount; inclusive: net + tax = amount).
 */
export function priceSession(lines: readonly ResolvedLine[], currency: string, tax: TaxCalculation | null): {
  lines: CheckoutLine[]; subtotalMinor: bigint; taxMinor: bigint; totalMinor: bigint; taxLines: CheckoutTaxLine[];
} {
  assert(tax === null || tax.lines.length === lines.length, 'one tax result per checkout line');
  const priced = lines.map((line, i): CheckoutLine => {
    const result = tax?.lines[i];
    if (!result) {
      // No automatic tax: an amount given as tax-inclusive is still the amount charged.
      return { ...line, subtotalMinor: line.amountMinor, taxMinor: 0n, totalMinor: line.amountMinor, taxRatePpm: 0 };
    }
    assert(result.net.currency === currency && result.tax.currency === currency, 'tax result in the session currency');
    const net = result.net.amountMinor;
    const taxMinor = result.tax.amountMinor;
    const adds = line.taxBehavior === 'exclusive' ? net === line.amountMinor : net + taxMinor === line.amountMinor;
    if (!adds || taxMinor < 0n || net < 0n) {
      throw new TallyError('TAX_UNAVAILABLE', `the tax calculation of line ${i} does not add up to its amount`, { field: `line_items[${i}]` });
    }
    return { ...line, subtotalMinor: net, taxMinor, totalMinor: net + taxMinor, taxRatePpm: result.ratePpm };
  });
  const subtotalMinor = checkedSum(priced.map((l) => l.subtotalMinor), 'line_items');
  const taxMinor = checkedSum(priced.map((l) => l.taxMinor), 'line_items');
  const totalMinor = checkedSum([subtotalMinor, taxMinor], 'line_items');
  if (totalMinor > CHECKOUT_TOTAL_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `line_items: the total is more than one payment can carry (${CHECKOUT_TOTAL_MINOR_MAX} minor units)`, { field: 'line_items' });
  }
  if (totalMinor <= 0n) throw new TallyError('AMOUNT_OUT_OF_RANGE', 'line_items: the total must be positive', { field: 'line_items' });
  const groups = new Map<string, CheckoutTaxLine>();
  for (const [i, result] of (tax?.lines ?? []).entries()) {
    const groupKey = `${result.ratePpm}|${result.country}|${result.treatment}`;
    const before = groups.get(groupKey);
    groups.set(groupKey, {
      ratePpm: result.ratePpm, country: result.country, treatment: result.treatment, reason: before?.reason ?? result.reason,
      taxableMinor: (before?.taxableMinor ?? 0n) + priced[i]!.subtotalMinor, taxMinor: (before?.taxMinor ?? 0n) + priced[i]!.taxMinor,
    });
  }
  return { lines: priced, subtotalMinor, taxMinor, totalMinor, taxLines: [...groups.values()] };
}

/** An ad-hoc line's fields, checked (a price line is checked against the catalog by the app). */
export function checkAdHocLine(i: number, name: string, unitAmountMinor: bigint, quantity: bigint): void {
  const field = `line_items[${i}]`;
  if (name.trim() === '') throw invalidField(`${field}.name`, 'required for an item without price_id', 'FIELD_REQUIRED');
  if ([...name].length > CHECKOUT_ITEM_NAME_LENGTH_MAX || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) {
    throw invalidField(`${field}.name`, `1..${CHECKOUT_ITEM_NAME_LENGTH_MAX} characters, no control characters`);
  }
  if (unitAmountMinor <= 0n) throw new TallyError('AMOUNT_OUT_OF_RANGE', `${field}.unit_amount_minor: must be positive`, { field: `${field}.unit_amount_minor` });
  if (unitAmountMinor * quantity > CHECKOUT_TOTAL_MINOR_MAX) {
    throw new TallyError('AMOUNT_OUT_OF_RANGE', `${field}: more than one payment can carry`, { field: `${field}.unit_amount_minor` });
  }
}

/** A line's quantity: 0 means 1; 1..10 000. */
export function lineQuantity(i: number, quantity: bigint): bigint {
  const q = quantity === 0n ? 1n : quantity;
  if (q < 1n || q > CHECKOUT_QUANTITY_MAX) throw invalidField(`line_items[${i}].quantity`, `1..${CHECKOUT_QUANTITY_MAX}`);
  return q;
}

/** The session's lifetime: 0 is the longest (24 h). */
export function expiresInMs(expiresInSeconds: number): number {
  const seconds = expiresInSeconds === 0 ? CHECKOUT_EXPIRES_IN_SECONDS_MAX : expiresInSeconds;
  if (!Number.isInteger(seconds) || seconds < CHECKOUT_EXPIRES_IN_SECONDS_MIN || seconds > CHECKOUT_EXPIRES_IN_SECONDS_MAX) {
    throw invalidField('expires_in_seconds', `${CHECKOUT_EXPIRES_IN_SECONDS_MIN}..${CHECKOUT_EXPIRES_IN_SECONDS_MAX} (0: ${CHECKOUT_EXPIRES_IN_SECONDS_MAX})`);
  }
  return seconds * 1_000;
}

// ---- client secret ----------------------------------------------------------------------------

/** The stored form of a client secret: SHA-256 hex (the secret has 192 random bits: no salt needed). */
export function clientSecretSha256(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function clientSecretMatches(secret: string, storedSha256: string): boolean {
  const presented = Buffer.from(clientSecretSha256(secret), 'hex');
  const stored = Buffer.from(storedSha256, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

/** Longest client secret accepted (ours are ~60 characters): a longer one is not looked up at all. */
export const CLIENT_SECRET_LENGTH_MAX = 128;

// ---- state machine ----------------------------------------------------------------------------

/** The status as of `nowMs`: an open session past its expiry is expired, written or not. */
export function statusAt(session: Pick<CheckoutSession, 'status' | 'expiresAtMs'>, nowMs: number): CheckoutStatus {
  return session.status === 'open' && nowMs >= session.expiresAtMs ? 'expired' : session.status;
}

function expiredError(session: CheckoutSession): TallyError {
  return new TallyError('CHECKOUT_SESSION_EXPIRED', `checkout session ${session.id} has expired`, { session_id: session.id });
}

/**
 * Takes the session for one payment attempt: only an open session, and only when no other attempt
 * holds it (a lease, so that a crashed attempt frees it). The same key may take it again (its
 * retry). Another attempt running is CONTENTION: retry after it ends.
 */
export function beginAttempt(session: CheckoutSession, key: string, nowMs: number, leaseMs: number): CheckoutSession {
  const status = statusAt(session, nowMs);
  if (status === 'expired') throw expiredError(session);
  assert(status === 'open', 'only an open session begins an attempt');
  const held = session.attempt;
  if (held !== null && held.key !== key && held.leaseUntilMs > nowMs) {
    throw new TallyError('CONTENTION', 'another payment attempt of this checkout session is in progress; retry when it ends', { session_id: session.id });
  }
  return { ...session, attempt: { key, leaseUntilMs: nowMs + leaseMs }, updatedAtMs: nowMs };
}

/** Ends attempt `key` (a decline, a challenge, an error): the session is free for the next one. */
export function endAttempt(session: CheckoutSession, key: string, nowMs: number, decline: { code: string; message: string } | null): CheckoutSession | null {
  if (session.attempt?.key !== key && decline === null) return null;
  return {
    ...session, attempt: session.attempt?.key === key ? null : session.attempt, updatedAtMs: nowMs,
    ...(decline === null ? {} : { declineCode: decline.code, declineMessage: decline.message }),
  };
}

/**
 * Completes the session with what paid it. At most once: a complete session is returned unchanged
 * (`changed: false`: no second event); an expired one refuses (a payment that succeeded after
 * the merchant expired the session still completes it: the buyer paid).
 */
export function completeSession(
  session: CheckoutSession, paid: { paymentId: string; subscriptionId: string; customerId: string }, nowMs: number,
): { session: CheckoutSession; changed: boolean } {
  if (session.status === 'complete') return { session, changed: false };
  return {
    session: {
      ...session, status: 'complete', completedAtMs: nowMs, updatedAtMs: nowMs, attempt: null, declineCode: '', declineMessage: '',
      paymentId: paid.paymentId || session.paymentId, subscriptionId: paid.subscriptionId || session.subscriptionId,
      customerId: paid.customerId || session.customerId,
    },
    changed: true,
  };
}

/**
 * Expires an open session (the merchant's ExpireCheckoutSession, or its expiry passing): an expired
 * one is returned unchanged; a complete one refuses (INVALID_STATE_TRANSITION). An attempt still
 * running is refused too: its payment may be charging now.
 */
export function expireSession(session: CheckoutSession, nowMs: number): { session: CheckoutSession; changed: boolean } {
  if (session.status === 'expired') return { session, changed: false };
  if (session.status === 'complete') {
    throw new TallyError('INVALID_STATE_TRANSITION', `checkout session ${session.id} is complete and cannot expire`, { session_id: session.id, status: session.status });
  }
  if (session.attempt !== null && session.attempt.leaseUntilMs > nowMs) {
    throw new TallyError('CONTENTION', `checkout session ${session.id} has a payment attempt in progress; retry when it ends`, { session_id: session.id });
  }
  return { session: { ...session, status: 'expired', updatedAtMs: nowMs, expiresAtMs: Math.min(session.expiresAtMs, nowMs), attempt: null }, changed: true };
}

/** Refuses paying a session that is not open (expired: CHECKOUT_SESSION_EXPIRED). */
export function requirePayable(session: CheckoutSession, nowMs: number): void {
  if (statusAt(session, nowMs) === 'expired') throw expiredError(session);
}

/** The buyer-facing message of a normalized decline reason. */
export function declineMessageOf(declineReason: string): string {
  switch (declineReason) {
    case 'insufficient_funds': return 'Your card has insufficient funds. Try another card.';
    case 'expired_card': return 'Your card has expired. Try another card.';
    case 'incorrect_cvc': return 'The security code (CVC) is incorrect.';
    case 'authentication_failed': return 'The card authentication failed. Try again or use another card.';
    case 'authentication_required': return 'This card asks for an authentication a subscription cannot make. Use another card.';
    default: return 'Your card was declined. Try another card.';
  }
}
