/**
 * The merchant's side of checkout sessions (issue 17 item 1, ADR 0036): create (priced and taxed
 * once, here), get, list, expire. A session's client secret is returned once and stored hashed.
 */
import { randomBytes } from 'node:crypto';
import {
  CHECKOUT_METADATA_KEYS_MAX, CHECKOUT_LINE_ITEMS_MAX, CHECKOUT_POSTCODE_LENGTH_MAX, checkAdHocLine, clientSecretSha256, expireSession, expiresInMs,
  lineQuantity, priceSession, statusAt, type CheckoutMode, type CheckoutSession, type ResolvedLine,
} from '../../domain/checkout/session.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { derivedId, newId, parseId } from '../../domain/ids.js';
import { validateMetadata } from '../../domain/metadata.js';
import { currencyOf, money } from '../../domain/money/index.js';
import { priceAmount } from '../../domain/billing/pricing.js';
import { taxCategories } from '../../domain/billing/catalog.js';
import { validateCountry, validateCustomerEmail, validateReturnUrl } from '../../domain/payments/payment-fields.js';
import { normalisePostcode } from '../../domain/tax/index.js';
import type { TaxCalculation, TaxCategory } from '../../domain/tax/tax-types.js';
import type { OutboxEvent } from '../../ports/ledger-store.js';
import type { Page } from '../../ports/tenancy-repository.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { settingsOf, taxDateOf } from '../billing/invoicing.js';
import { requireCustomer } from '../payments/customers.js';
import type { CheckoutDeps } from './checkout-deps.js';

/** One line item as the merchant asked for it. */
export interface LineItemInput {
  priceId: string;
  name: string;
  unitAmountMinor: bigint;
  quantity: bigint;
  taxInclusive: boolean;
  taxCategory: string;
}

export interface NewCheckoutSession {
  mode: CheckoutMode | null;
  currency: string;
  lineItems: readonly LineItemInput[];
  customerEmail: string;
  customerId: string;
  customerCountry: string;
  customerPostcode: string;
  automaticTax: boolean;
  successUrl: string;
  cancelUrl: string;
  expiresInSeconds: number;
  metadata: Readonly<Record<string, string>>;
}

/** A session checked and priced, ready to be written (no write has happened yet). */
export interface PreparedSession {
  session: Omit<CheckoutSession, 'id' | 'clientSecretSha256' | 'traceId'>;
}

/** A URL the buyer is sent to (success, cancel), checked as payments check return URLs, named by its field. */
function redirectUrl(value: string, field: string): string {
  if (value === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  try {
    return validateReturnUrl(value)!;
  } catch (error) {
    if (error instanceof TallyError) throw invalidField(field, error.message.replace(/^return_url: /, ''));
    throw error;
  }
}

/**
 * Checks and prices a new session: fields, line items against the catalog, tax through the
 * tenant's TaxCalculator. Reads only, so bad input writes nothing (not even its idempotency key).
 */
export async function prepareSession(deps: CheckoutDeps, tenantId: string, input: NewCheckoutSession): Promise<PreparedSession> {
  if (input.mode === null) throw invalidField('mode', 'PAYMENT or SUBSCRIPTION', 'FIELD_REQUIRED');
  const currency = currencyOf(input.currency).code;
  if (input.lineItems.length === 0) throw invalidField('line_items', 'at least one item', 'FIELD_REQUIRED');
  if (input.lineItems.length > CHECKOUT_LINE_ITEMS_MAX) throw invalidField('line_items', `at most ${CHECKOUT_LINE_ITEMS_MAX} items`);
  const successUrl = redirectUrl(input.successUrl, 'success_url');
  const cancelUrl = redirectUrl(input.cancelUrl, 'cancel_url');
  let customerEmail: string;
  try {
    customerEmail = validateCustomerEmail(input.customerEmail);
  } catch {
    throw invalidField('customer_email', 'not an email address (local@domain.tld, ASCII)');
  }
  let customerCountry: string;
  try {
    customerCountry = validateCountry(input.customerCountry);
  } catch {
    throw invalidField('customer_country', 'an ISO 3166-1 alpha-2 country code (as FR, US)');
  }
  if (input.customerPostcode.length > CHECKOUT_POSTCODE_LENGTH_MAX) throw invalidField('customer_postcode', `at most ${CHECKOUT_POSTCODE_LENGTH_MAX} characters`);
  let customerPostcode: string;
  try {
    customerPostcode = normalisePostcode(input.customerPostcode === '' ? null : input.customerPostcode) ?? '';
  } catch {
    throw invalidField('customer_postcode', 'up to 16 letters, digits, spaces or dashes');
  }
  const lifetimeMs = expiresInMs(input.expiresInSeconds);
  const metadata = validateMetadata(input.metadata, CHECKOUT_METADATA_KEYS_MAX);
  // Subscriptions are invoiced by billing, which always taxes: the session shows the same tax.
  const automaticTax = input.automaticTax || input.mode === 'subscription';
  if (automaticTax && customerCountry === '') throw invalidField('customer_country', 'required with automatic tax (and in SUBSCRIPTION mode): the tax location', 'FIELD_REQUIRED');
  if (input.customerId !== '') await requireCustomer(deps.payments, tenantId, input.customerId);

  const lines: ResolvedLine[] = [];
  for (const [i, item] of input.lineItems.entries()) lines.push(await resolveLine(deps, tenantId, input.mode, currency, i, item));
  if (input.mode === 'subscription') {
    const first = lines[0]!.recurring!;
    if (lines.some((l) => l.recurring!.unit !== first.unit || l.recurring!.count !== first.count)) {
      throw invalidField('line_items', 'every price of a subscription must have the same interval');
    }
    if (new Set(lines.map((l) => l.priceId)).size !== lines.length) throw invalidField('line_items', 'a price appears twice');
  }
  const nowMs = deps.clock.nowMs();
  const tax = automaticTax ? await calculateTax(deps, tenantId, currency, customerCountry, customerPostcode, lines, nowMs) : null;
  const priced = priceSession(lines, currency, tax);
  return {
    session: {
      tenantId, mode: input.mode, status: 'open', currency, lines: priced.lines, subtotalMinor: priced.subtotalMinor, taxMinor: priced.taxMinor,
      totalMinor: priced.totalMinor, taxLines: priced.taxLines, automaticTax, customerEmail, customerCountry, customerPostcode,
      customerId: input.customerId, paymentId: '', subscriptionId: '', successUrl, cancelUrl, metadata,
      expiresAtMs: nowMs + lifetimeMs, createdAtMs: nowMs, completedAtMs: null, updatedAtMs: nowMs, attempt: null, declineCode: '', declineMessage: '',
    },
  };
}

async function resolveLine(deps: CheckoutDeps, tenantId: string, mode: CheckoutMode, currency: string, i: number, item: LineItemInput): Promise<ResolvedLine> {
  const field = `line_items[${i}]`;
  const quantity = lineQuantity(i, item.quantity);
  if (item.priceId === '') {
    if (mode === 'subscription') throw invalidField(`${field}.price_id`, 'SUBSCRIPTION mode takes recurring prices only', 'FIELD_REQUIRED');
    checkAdHocLine(i, item.name, item.unitAmountMinor, quantity);
    const taxCategory = item.taxCategory === '' ? 'standard' : item.taxCategory;
    if (!(taxCategories as readonly string[]).includes(taxCategory)) throw invalidField(`${field}.tax_category`, `one of ${taxCategories.join(', ')}`);
    return {
      name: item.name, priceId: '', quantity, unitAmountMinor: item.unitAmountMinor, amountMinor: item.unitAmountMinor * quantity,
      taxBehavior: item.taxInclusive ? 'inclusive' : 'exclusive', taxCategory: taxCategory as TaxCategory, recurring: null,
    };
  }
  if (item.name !== '' || item.unitAmountMinor !== 0n || item.taxCategory !== '' || item.taxInclusive) {
    throw invalidField(field, 'give either price_id, or name and unit_amount_minor (with tax_inclusive, tax_category), not both');
  }
  const stored = await deps.billing.store.getPrice(tenantId, parseId('price', item.priceId, `${field}.price_id`));
  if (!stored) throw new TallyError('NOT_FOUND', `price ${item.priceId} not found`, { field: `${field}.price_id` });
  const price = stored.price;
  if (!price.active) throw invalidField(`${field}.price_id`, 'the price is not active');
  if (mode === 'payment' && price.recurring !== null) throw invalidField(`${field}.price_id`, 'PAYMENT mode takes one-off prices (this one is recurring: use SUBSCRIPTION mode)');
  if (mode === 'subscription' && (price.recurring === null || price.recurring.usage.type !== 'licensed')) {
    throw invalidField(`${field}.price_id`, 'SUBSCRIPTION mode takes recurring licensed (not metered) prices');
  }
  let amountMinor: bigint;
  try {
    amountMinor = priceAmount(price, currency, quantity).amount.amountMinor;
  } catch (error) {
    if (error instanceof TallyError) throw new TallyError(error.reason, `${field}: ${error.message}`, { ...error.metadata, field: error.metadata.field === 'quantity' ? `${field}.quantity` : `${field}.price_id` });
    throw error;
  }
  const product = await deps.billing.store.getProduct(tenantId, price.productId);
  return {
    name: product?.product.name ?? price.id, priceId: price.id, quantity, unitAmountMinor: amountMinor % quantity === 0n ? amountMinor / quantity : 0n, amountMinor,
    taxBehavior: price.taxBehavior, taxCategory: price.taxCategory ?? product?.product.taxCategory ?? 'standard',
    recurring: price.recurring === null ? null : { unit: price.recurring.interval.unit, count: price.recurring.interval.count },
  };
}

/** The tax of the lines through the tenant's TaxCalculator (built-in EU VAT or its external hook), as billing taxes invoices. */
async function calculateTax(
  deps: CheckoutDeps, tenantId: string, currency: string, country: string, postcode: string, lines: readonly ResolvedLine[], nowMs: number,
): Promise<TaxCalculation> {
  const settings = await settingsOf(deps.billing, tenantId);
  if (settings.originCountry === '') {
    throw invalidField('automatic_tax', "the tenant's billing settings have no origin_country (UpdateBillingSettings): tax cannot be computed");
  }
  return deps.billing.tax(settings).calculate({
    currency, seller: { country: settings.originCountry, vatId: settings.vatId === '' ? null : settings.vatId },
    customer: { country, postcode: postcode === '' ? null : postcode, vatId: null }, date: taxDateOf(nowMs),
    lines: lines.map((l, i) => ({ lineId: `li_${i}`, amount: money(l.amountMinor, currency), taxBehavior: l.taxBehavior, taxCategory: l.taxCategory })),
    rateOverridePpm: null,
  });
}

/**
 * Writes a prepared session with a new id and client secret; only the secret's hash is stored (the
 * response carrying it is what the request's idempotency key replays). A run that crashed after
 * writing leaves an open session nobody knows the secret of: it expires unpaid.
 */
export async function createSession(
  deps: CheckoutDeps, prepared: PreparedSession, trace: TraceIds,
): Promise<{ session: CheckoutSession; clientSecret: string; url: string }> {
  const id = newId('cs');
  const clientSecret = `${id}_secret_${randomBytes(24).toString('base64url')}`;
  const session: CheckoutSession = { ...prepared.session, id, clientSecretSha256: clientSecretSha256(clientSecret), traceId: trace.traceId };
  await deps.store.createSession(session);
  return { session, clientSecret, url: checkoutUrl(deps, clientSecret) };
}

/** The buyer's URL: the secret in the fragment, never sent to a server. */
export function checkoutUrl(deps: CheckoutDeps, clientSecret: string): string {
  return `${deps.settings.baseUrl.replace(/\/+$/, '')}/checkout/#${clientSecret}`;
}

/** A session of the tenant; another tenant's id answers NOT_FOUND as an unknown id does. */
export async function getSession(deps: CheckoutDeps, tenantId: string, sessionId: string): Promise<CheckoutSession> {
  const session = await deps.store.getSession(tenantId, sessionId);
  if (!session) throw new TallyError('NOT_FOUND', `checkout session ${sessionId} not found`, { field: 'session_id' });
  return asOfNow(deps, session);
}

/** The session as of now: an open session past its expiry reads as expired (the stored status catches up on its next write). */
export function asOfNow(deps: Pick<CheckoutDeps, 'clock'>, session: CheckoutSession): CheckoutSession {
  const status = statusAt(session, deps.clock.nowMs());
  return status === session.status ? session : { ...session, status, attempt: null };
}

export async function listSessions(deps: CheckoutDeps, tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<CheckoutSession>> {
  const page = await deps.store.listSessions(tenantId, pageSize, cursor);
  return { ...page, items: page.items.map((s) => asOfNow(deps, s)) };
}

/** The outbox event of a session's change; its id derives from the session and the change: a rerun cannot duplicate it. */
export function sessionEvent(deps: Pick<CheckoutDeps, 'clock'>, type: 'checkout.session.completed' | 'checkout.session.expired', session: CheckoutSession, trace: TraceIds): OutboxEvent {
  return {
    id: derivedId('evt', [type, session.tenantId, session.id]), type, aggregateId: session.id,
    payload: {
      sessionId: session.id, mode: session.mode, status: session.status, currency: session.currency,
      amountSubtotalMinor: session.subtotalMinor.toString(), amountTaxMinor: session.taxMinor.toString(), amountTotalMinor: session.totalMinor.toString(),
      customerId: session.customerId, customerEmail: session.customerEmail, paymentId: session.paymentId, subscriptionId: session.subscriptionId,
      metadata: { ...session.metadata }, atMs: deps.clock.nowMs(),
    },
    createdAtMs: deps.clock.nowMs(), traceId: trace.traceId, spanId: trace.spanId,
  };
}

/** Expires an open session now (idempotent on an expired one); emits `checkout.session.expired` once. */
export async function expireCheckoutSession(deps: CheckoutDeps, tenantId: string, sessionId: string, trace: TraceIds): Promise<CheckoutSession> {
  const updated = await deps.store.updateSession(tenantId, sessionId, (current) => {
    const r = expireSession(current, deps.clock.nowMs());
    return r.changed ? { session: r.session, events: [sessionEvent(deps, 'checkout.session.expired', r.session, trace)] } : null;
  });
  if (!updated) throw new TallyError('NOT_FOUND', `checkout session ${sessionId} not found`, { field: 'session_id' });
  return updated;
}

