/**
 * Checkout sessions end to end (issue 17 item 1, ADR 0036): CheckoutService (merchant) and
 * HostedCheckoutService (buyer, by client secret) over real HTTP, against the emulators and the
 * sandbox PSP, through the existing payments and billing use cases.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { CheckoutMode, CheckoutSessionStatus, type CreateCheckoutSessionRequest } from '../functions/src/gen/tally/checkout/v1/checkout_pb.js';
import { InvoiceStatus, PriceModel, SubscriptionStatus } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CreateCheckoutSessionRequestSchema } from '../functions/src/gen/tally/checkout/v1/checkout_pb.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { eventually } from './support/eventually.js';
import { outboxEventsOf } from './support/outbox-events.js';
import { Code, expectConnectError, rpcErrorOf } from './support/connect-error.js';
import { parseJson, runCli } from './support/cli-runner.js';
import { proPlanMonthlyEur } from './support/billing-fixtures.js';

const base = 'https://pay.shop.test';
let env: PaymentsStack;
/** The buyer: no credentials at all. */
let buyer: TallyClient;
beforeAll(async () => {
  env = await startPaymentsStack({ TALLY_CHECKOUT_BASE_URL: base });
  buyer = createTallyClient(env.stack.url, undefined);
}, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const SETTLE = { timeoutMs: 15_000, intervalMs: 100 } as const;
type Card = { pspTokens: Record<string, string>; brand: string; last4: string; country: string };
const cards: Record<'ok' | 'declined' | 'challenge', Card> = {
  ok: { pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', last4: '4242', country: 'US' },
  declined: { pspTokens: { stripe: 'pm_card_chargeDeclinedInsufficientFunds' }, brand: 'visa', last4: '9995', country: 'US' },
  challenge: { pspTokens: { stripe: 'pm_card_threeDSecure2Required' }, brand: 'visa', last4: '3220', country: 'US' },
};
const returnUrl = 'http://localhost:5173/checkout/';

async function shop(name = 'Corner Shop') {
  const tenant = await env.stack.newTenant(name);
  await tenant.owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  return tenant;
}

type CreateInit = MessageInitShape<typeof CreateCheckoutSessionRequestSchema>;
const adHoc: CreateInit = {
  mode: CheckoutMode.PAYMENT, currency: 'EUR',
  lineItems: [{ name: 'T-shirt', unitAmountMinor: 1_500n, quantity: 2n }, { name: 'Sticker', unitAmountMinor: 250n }],
  customerEmail: 'buyer@example.com', successUrl: 'https://shop.test/thanks', cancelUrl: 'https://shop.test/cart',
  metadata: { order: 'A-1' },
};

async function newSession(owner: TallyClient, init: CreateInit = adHoc) {
  return (await owner.checkout.createCheckoutSession({ ...init, idempotencyKey: key() } as CreateCheckoutSessionRequest)).session!;
}

async function confirm(secret: string, card = cards.ok, idempotencyKey = key()) {
  return buyer.hostedCheckout.confirmHostedSession({ clientSecret: secret, card, returnUrl, idempotencyKey });
}

async function paymentsOf(owner: TallyClient) {
  return (await owner.payments.listPayments({ pageSize: 100 })).payments;
}

async function completedEvents(tenantId: string, sessionId: string) {
  return outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: sessionId, type: 'checkout.session.completed' });
}

describe('checkout sessions (merchant)', () => {
  it('creates a session of ad-hoc amounts: priced, a URL with the secret in its fragment, the secret shown once', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    expect(s).toMatchObject({
      mode: CheckoutMode.PAYMENT, status: CheckoutSessionStatus.OPEN, currency: 'EUR', currencyExponent: 2,
      amountSubtotalMinor: 3_250n, amountTaxMinor: 0n, amountTotalMinor: 3_250n, metadata: { order: 'A-1' },
    });
    expect(s.lineItems.map((l) => [l.name, l.quantity, l.unitAmountMinor, l.amountTotalMinor])).toEqual([['T-shirt', 2n, 1_500n, 3_000n], ['Sticker', 1n, 250n, 250n]]);
    expect(s.id).toMatch(/^cs_/);
    expect(s.clientSecret).toMatch(new RegExp(`^${s.id}_secret_[A-Za-z0-9_-]{32}$`));
    expect(s.url).toBe(`${base}/checkout/#${s.clientSecret}`);
    expect(Number(s.expireTime!.seconds) * 1000 - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const yen = await newSession(owner, { ...adHoc, currency: 'JPY', lineItems: [{ name: 'Tea', unitAmountMinor: 1_200n }] });
    expect(yen).toMatchObject({ currencyExponent: 0, amountTotalMinor: 1_200n });
    await owner.checkout.expireCheckoutSession({ sessionId: yen.id, idempotencyKey: key() });

    // A retry under the same key answers the same session, URL included; a different request under it is refused.
    const sameKey = key();
    const first = (await owner.checkout.createCheckoutSession({ ...adHoc, idempotencyKey: sameKey })).session!;
    expect((await owner.checkout.createCheckoutSession({ ...adHoc, idempotencyKey: sameKey })).session).toEqual(first);
    await expectConnectError(owner.checkout.createCheckoutSession({ ...adHoc, currency: 'USD', idempotencyKey: sameKey }),
      Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    await owner.checkout.expireCheckoutSession({ sessionId: first.id, idempotencyKey: key() });

    const got = (await owner.checkout.getCheckoutSession({ sessionId: s.id })).session!;
    expect(got).toMatchObject({ id: s.id, amountTotalMinor: 3_250n, clientSecret: '', url: '' });
    const listed = (await owner.checkout.listCheckoutSessions({})).sessions;
    expect(listed.map((x) => [x.id, x.clientSecret])).toEqual([[first.id, ''], [yen.id, ''], [s.id, '']]);
    // Pages: newest first, a cursor to the rest.
    const page1 = await owner.checkout.listCheckoutSessions({ pageSize: 1 });
    expect(page1.sessions.map((x) => x.id)).toEqual([first.id]);
    const page2 = await owner.checkout.listCheckoutSessions({ pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2).toMatchObject({ sessions: [{ id: yen.id }, { id: s.id }], nextPageToken: '' });
    // Only the hash is stored.
    const doc = (await env.stack.services.db.doc(`tenants/${tenantId}/checkoutSessions/${s.id}`).get()).data()!;
    expect(doc.clientSecretSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(s.clientSecret.split('_secret_')[1]);

    const hosted = (await buyer.hostedCheckout.getHostedSession({ clientSecret: s.clientSecret })).session!;
    expect(hosted).toMatchObject({
      merchantDisplayName: 'Corner Shop', status: CheckoutSessionStatus.OPEN, amountTotalMinor: 3_250n, currencyExponent: 2,
      customerEmail: 'buyer@example.com', successUrl: 'https://shop.test/thanks', cardFieldsUrl: `${env.sandbox.url}/elements/card`,
    });
  });

  it('prices billing prices and computes tax through the tenant TaxCalculator (DE seller, FR buyer: 20 %)', async () => {
    const { owner } = await shop();
    await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV' }, idempotencyKey: key() });
    const product = (await owner.billing.createProduct({ name: 'Espresso machine', idempotencyKey: key() })).product!;
    const price = (await owner.billing.createPrice({ price: { productId: product.id, currency: 'EUR', scheme: { model: PriceModel.PER_UNIT, amountMinor: 10_000n } }, idempotencyKey: key() })).price!;
    const s = await newSession(owner, {
      ...adHoc, automaticTax: true, customerCountry: 'FR',
      lineItems: [{ priceId: price.id, quantity: 2n }, { name: 'Gift wrap', unitAmountMinor: 600n, taxInclusive: true }],
    });
    expect(s.lineItems.map((l) => [l.name, l.amountSubtotalMinor, l.amountTaxMinor, l.amountTotalMinor, l.taxRatePpm])).toEqual([
      ['Espresso machine', 20_000n, 4_000n, 24_000n, 200_000],
      ['Gift wrap', 500n, 100n, 600n, 200_000],
    ]);
    expect(s).toMatchObject({ amountSubtotalMinor: 20_500n, amountTaxMinor: 4_100n, amountTotalMinor: 24_600n, automaticTax: true });
    expect(s.taxLines).toEqual([expect.objectContaining({ ratePpm: 200_000, country: 'FR', taxableAmountMinor: 20_500n, amountMinor: 4_100n })]);
    // Paying charges exactly the taxed total.
    const paid = await confirm(s.clientSecret);
    expect(paid.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    const session = (await owner.checkout.getCheckoutSession({ sessionId: s.id })).session!;
    expect((await owner.payments.getPayment({ paymentId: session.paymentId })).payment).toMatchObject({ amountCapturedMinor: 24_600n, status: PaymentStatus.SUCCEEDED });
  });

  it('refuses bad input with typed errors and writes nothing', async () => {
    const { tenantId, owner } = await shop();
    const bad: [CreateInit, Code, string, string][] = [
      [{ ...adHoc, lineItems: [] }, Code.InvalidArgument, 'FIELD_REQUIRED', 'line_items'],
      [{ ...adHoc, mode: CheckoutMode.UNSPECIFIED }, Code.InvalidArgument, 'FIELD_REQUIRED', 'mode'],
      [{ ...adHoc, currency: 'ZZZ' }, Code.InvalidArgument, 'UNKNOWN_CURRENCY', 'currency'],
      [{ ...adHoc, successUrl: 'javascript:alert(1)' }, Code.InvalidArgument, 'FIELD_INVALID', 'success_url'],
      [{ ...adHoc, cancelUrl: '' }, Code.InvalidArgument, 'FIELD_REQUIRED', 'cancel_url'],
      [{ ...adHoc, lineItems: [{ name: 'x', unitAmountMinor: -5n }] }, Code.InvalidArgument, 'AMOUNT_OUT_OF_RANGE', 'line_items[0].unit_amount_minor'],
      [{ ...adHoc, lineItems: [{ name: 'x', unitAmountMinor: 5n, quantity: 10_001n }] }, Code.InvalidArgument, 'FIELD_INVALID', 'line_items[0].quantity'],
      [{ ...adHoc, lineItems: [{ priceId: 'price_nope', name: 'x' }] }, Code.InvalidArgument, 'FIELD_INVALID', 'line_items[0]'],
      [{ ...adHoc, lineItems: [{ priceId: 'price_nope' }] }, Code.NotFound, 'NOT_FOUND', 'line_items[0].price_id'],
      [{ ...adHoc, automaticTax: true }, Code.InvalidArgument, 'FIELD_REQUIRED', 'customer_country'],
      [{ ...adHoc, automaticTax: true, customerCountry: 'FR' }, Code.InvalidArgument, 'FIELD_INVALID', 'automatic_tax'],
      [{ ...adHoc, expiresInSeconds: 60 }, Code.InvalidArgument, 'FIELD_INVALID', 'expires_in_seconds'],
      [{ ...adHoc, customerEmail: 'not-an-email' }, Code.InvalidArgument, 'FIELD_INVALID', 'customer_email'],
      [{ ...adHoc, customerPostcode: 'a/b' }, Code.InvalidArgument, 'FIELD_INVALID', 'customer_postcode'],
      [{ ...adHoc, lineItems: [{ priceId: '../prices/x' }] }, Code.InvalidArgument, 'FIELD_INVALID', 'line_items[0].price_id'],
      [{ ...adHoc, mode: CheckoutMode.SUBSCRIPTION, customerCountry: 'FR' }, Code.InvalidArgument, 'FIELD_REQUIRED', 'line_items[0].price_id'],
      [{ ...adHoc, lineItems: [{ name: 'x', unitAmountMinor: 9_007_199_254_740_991n, quantity: 2n }] }, Code.InvalidArgument, 'AMOUNT_OUT_OF_RANGE', 'line_items[0].unit_amount_minor'],
    ];
    for (const [init, code, reason, field] of bad) {
      await expectConnectError(owner.checkout.createCheckoutSession({ ...init, idempotencyKey: key() } as CreateCheckoutSessionRequest), code, reason, { field });
    }
    await expectConnectError(owner.checkout.getCheckoutSession({ sessionId: '../x' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'session_id' });
    const db = env.stack.services.db;
    expect((await db.collection(`tenants/${tenantId}/checkoutSessions`).count().get()).data().count).toEqual(0n);
    expect((await db.collection(`tenants/${tenantId}/idempotency`).where('method', '==', 'tally.checkout.v1.CheckoutService/CreateCheckoutSession').count().get()).data().count).toEqual(0n);
  });

  it("another tenant's session id, or a forged or empty secret, answers NOT_FOUND and no data", async () => {
    const a = await shop('Shop A');
    const b = await shop('Shop B');
    const s = await newSession(a.owner);
    await expectConnectError(b.owner.checkout.getCheckoutSession({ sessionId: s.id }), Code.NotFound, 'NOT_FOUND');
    await expectConnectError(b.owner.checkout.expireCheckoutSession({ sessionId: s.id, idempotencyKey: key() }), Code.NotFound, 'NOT_FOUND');
    expect((await b.owner.checkout.listCheckoutSessions({})).sessions).toEqual([]);
    const forged = `${s.id}_secret_${'A'.repeat(32)}`;
    for (const secret of [forged, '', s.id, `${s.clientSecret}x`, 'x'.repeat(500)]) {
      const error = rpcErrorOf(await buyer.hostedCheckout.getHostedSession({ clientSecret: secret }).catch((e: unknown) => e));
      expect({ code: Code[error.code], reason: error.reason }).toEqual({ code: 'NotFound', reason: 'NOT_FOUND' });
      expect(error.message).not.toContain(s.id);
      await expectConnectError(confirm(secret), Code.NotFound, 'NOT_FOUND');
      await expectConnectError(buyer.hostedCheckout.syncHostedSession({ clientSecret: secret }), Code.NotFound, 'NOT_FOUND');
    }
    // The merchant's API key does not open the buyer's service to another tenant's sessions either: the secret decides.
    expect((await b.owner.hostedCheckout.getHostedSession({ clientSecret: s.clientSecret })).session?.merchantDisplayName).toBe('Shop A');
    expect((await a.owner.checkout.getCheckoutSession({ sessionId: s.id })).session?.status).toBe(CheckoutSessionStatus.OPEN);
  });

  it('expires: ExpireCheckoutSession (once, with its event) and the expiry time; an expired session refuses payment', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const expired = (await owner.checkout.expireCheckoutSession({ sessionId: s.id, idempotencyKey: key() })).session!;
    expect(expired.status).toBe(CheckoutSessionStatus.EXPIRED);
    expect((await owner.checkout.expireCheckoutSession({ sessionId: s.id, idempotencyKey: key() })).session?.status).toBe(CheckoutSessionStatus.EXPIRED);
    await expectConnectError(confirm(s.clientSecret), Code.FailedPrecondition, 'CHECKOUT_SESSION_EXPIRED', { session_id: s.id });
    expect(await outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: s.id, type: 'checkout.session.expired' })).toHaveLength(1);
    expect((await buyer.hostedCheckout.getHostedSession({ clientSecret: s.clientSecret })).session).toMatchObject({ status: CheckoutSessionStatus.EXPIRED, cardFieldsUrl: '' });

    // Its expiry time passing: stored as open, read and refused as expired.
    const late = await newSession(owner);
    await env.stack.services.db.doc(`tenants/${tenantId}/checkoutSessions/${late.id}`).update({ expiresAtMs: Date.now() - 1 });
    expect((await owner.checkout.getCheckoutSession({ sessionId: late.id })).session?.status).toBe(CheckoutSessionStatus.EXPIRED);
    await expectConnectError(confirm(late.clientSecret), Code.FailedPrecondition, 'CHECKOUT_SESSION_EXPIRED');
    expect(await paymentsOf(owner)).toEqual([]);
  });
});

describe('hosted checkout (buyer)', () => {
  it('pays a session: payment captured, session complete once, checkout.session.completed in the outbox', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const res = await confirm(s.clientSecret);
    expect(res).toMatchObject({ nextActionUrl: '', declineMessage: '' });
    expect(res.session).toMatchObject({ status: CheckoutSessionStatus.COMPLETE, cardFieldsUrl: '' });
    const session = (await owner.checkout.getCheckoutSession({ sessionId: s.id })).session!;
    expect(session).toMatchObject({ status: CheckoutSessionStatus.COMPLETE, paymentId: expect.stringMatching(/^pay_/), customerId: expect.stringMatching(/^cus_/) });
    expect(session.completeTime).toBeDefined();
    const payment = (await owner.payments.getPayment({ paymentId: session.paymentId })).payment!;
    expect(payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 3_250n, customerId: session.customerId, metadata: { order: 'A-1', checkout_session_id: s.id } });
    const events = await completedEvents(tenantId, s.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ sessionId: s.id, paymentId: session.paymentId, amountTotalMinor: '3250', currency: 'EUR', metadata: { order: 'A-1' } });
  });

  it('a decline leaves the session open with a message; a retry with another card and a new key pays it, charged once', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const attempt = key();
    const declined = await confirm(s.clientSecret, cards.declined, attempt);
    expect(declined).toMatchObject({ declineCode: 'insufficient_funds', declineMessage: expect.stringContaining('insufficient funds'), nextActionUrl: '' });
    expect(declined.session).toMatchObject({ status: CheckoutSessionStatus.OPEN, declineMessage: declined.declineMessage });
    // The same attempt again (a reload resubmitting it) answers the same decline, without a second try.
    expect(await confirm(s.clientSecret, cards.declined, attempt)).toEqual(declined);
    const paid = await confirm(s.clientSecret, cards.ok);
    expect(paid.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    const payments = await paymentsOf(owner);
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 3_250n });
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('a challenge: next_action_url, then SyncHostedSession after the buyer completes it completes the session', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const waiting = await confirm(s.clientSecret, cards.challenge);
    expect(waiting.nextActionUrl).toContain('/_sandbox/challenge/stripe/');
    expect(waiting.session).toMatchObject({ status: CheckoutSessionStatus.OPEN, nextActionUrl: waiting.nextActionUrl });
    // Before the challenge is done, a sync says so again.
    expect((await buyer.hostedCheckout.syncHostedSession({ clientSecret: s.clientSecret })).nextActionUrl).toBe(waiting.nextActionUrl);
    const pspReference = waiting.nextActionUrl.split('/').at(-1)!;
    expect(env.sandbox.control.completeChallenge('stripe', pspReference, 'success')).toBe(true);
    const synced = await eventually(async () => {
      const r = await buyer.hostedCheckout.syncHostedSession({ clientSecret: s.clientSecret });
      expect(r.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
      return r;
    }, SETTLE);
    expect(synced.nextActionUrl).toBe('');
    await buyer.hostedCheckout.syncHostedSession({ clientSecret: s.clientSecret });
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
    expect((await paymentsOf(owner)).map((p) => p.amountCapturedMinor)).toEqual([3_250n]);
  });

  it('a buyer who completes the challenge and never comes back: the merchant reading the session completes it', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const waiting = await confirm(s.clientSecret, cards.challenge);
    expect((await owner.checkout.getCheckoutSession({ sessionId: s.id })).session?.status).toBe(CheckoutSessionStatus.OPEN);
    expect(env.sandbox.control.completeChallenge('stripe', waiting.nextActionUrl.split('/').at(-1)!, 'success')).toBe(true);
    await eventually(async () => expect((await owner.checkout.getCheckoutSession({ sessionId: s.id })).session?.status).toBe(CheckoutSessionStatus.COMPLETE), SETTLE);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('a challenge finished after the merchant expired the session still completes it: the buyer paid', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const waiting = await confirm(s.clientSecret, cards.challenge);
    expect((await owner.checkout.expireCheckoutSession({ sessionId: s.id, idempotencyKey: key() })).session?.status).toBe(CheckoutSessionStatus.EXPIRED);
    expect((await buyer.hostedCheckout.getHostedSession({ clientSecret: s.clientSecret })).session).toMatchObject({ status: CheckoutSessionStatus.EXPIRED, nextActionUrl: '' });
    expect(env.sandbox.control.completeChallenge('stripe', waiting.nextActionUrl.split('/').at(-1)!, 'success')).toBe(true);
    await eventually(async () => expect((await buyer.hostedCheckout.getHostedSession({ clientSecret: s.clientSecret })).session?.status).toBe(CheckoutSessionStatus.COMPLETE), SETTLE);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('a failed challenge reads as a decline; another card then pays', async () => {
    const { owner } = await shop();
    const s = await newSession(owner);
    const waiting = await confirm(s.clientSecret, cards.challenge);
    expect(env.sandbox.control.completeChallenge('stripe', waiting.nextActionUrl.split('/').at(-1)!, 'failure')).toBe(true);
    const failed = await eventually(async () => {
      const r = await buyer.hostedCheckout.syncHostedSession({ clientSecret: s.clientSecret });
      expect(r.declineMessage).not.toBe('');
      return r;
    }, SETTLE);
    expect(failed.session?.status).toBe(CheckoutSessionStatus.OPEN);
    expect((await confirm(s.clientSecret, cards.ok)).session?.status).toBe(CheckoutSessionStatus.COMPLETE);
  });

  it("the buyer's email, when the merchant gave none, goes to the customer and the session; a bad one is refused", async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner, { ...adHoc, customerEmail: '' });
    await expectConnectError(buyer.hostedCheckout.confirmHostedSession({ clientSecret: s.clientSecret, card: cards.ok, returnUrl, customerEmail: 'nope', idempotencyKey: key() }),
      Code.InvalidArgument, 'FIELD_INVALID', { field: 'customer_email' });
    const paid = await buyer.hostedCheckout.confirmHostedSession({ clientSecret: s.clientSecret, card: cards.ok, returnUrl, customerEmail: 'typed@example.com', idempotencyKey: key() });
    expect(paid.session).toMatchObject({ status: CheckoutSessionStatus.COMPLETE, customerEmail: 'typed@example.com' });
    const session = (await owner.checkout.getCheckoutSession({ sessionId: s.id })).session!;
    expect(session.customerEmail).toBe('typed@example.com');
    expect((await env.stack.services.payments.store.getCustomer(tenantId, session.customerId))?.email).toBe('typed@example.com');
  });

  it('a double click (same key) and a reload confirming again (new key) charge once', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const attempt = key();
    const [first, second] = await Promise.all([confirm(s.clientSecret, cards.ok, attempt), confirm(s.clientSecret, cards.ok, attempt)]);
    expect([first.session?.status, second.session?.status]).toEqual([CheckoutSessionStatus.COMPLETE, CheckoutSessionStatus.COMPLETE]);
    const again = await confirm(s.clientSecret, cards.ok, key());
    expect(again.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    expect((await paymentsOf(owner)).map((p) => p.amountCapturedMinor)).toEqual([3_250n]);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('concurrent confirmations with different keys (two tabs) complete the session once and charge once', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => confirm(s.clientSecret, cards.ok, key())));
    const answers = results.map((r) => (r.status === 'fulfilled' ? `ok:${CheckoutSessionStatus[r.value.session!.status]}` : `err:${rpcErrorOf(r.reason).reason}`));
    // Each answer is the paid session, or the typed "another attempt is running" (retry: it then answers complete).
    for (const answer of answers) expect(['ok:COMPLETE', 'err:CONTENTION']).toContain(answer);
    expect(answers).toContain('ok:COMPLETE');
    const retried = await confirm(s.clientSecret, cards.ok, key());
    expect(retried.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    const payments = await paymentsOf(owner);
    expect(payments.map((p) => [p.status, p.amountCapturedMinor])).toEqual([[PaymentStatus.SUCCEEDED, 3_250n]]);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('a bad card is refused with a typed error and changes nothing', async () => {
    const { tenantId, owner } = await shop();
    const s = await newSession(owner);
    await expectConnectError(confirm(s.clientSecret, { ...cards.ok, pspTokens: { stripe: '4242424242424242' } }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'psp_tokens.stripe' });
    await expectConnectError(confirm(s.clientSecret, { ...cards.ok, pspTokens: {} }), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'psp_tokens' });
    await expectConnectError(confirm(s.clientSecret, { ...cards.ok, country: 'Narnia' }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'card.country' });
    await expectConnectError(buyer.hostedCheckout.confirmHostedSession({ clientSecret: s.clientSecret, returnUrl, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'card' });
    await expectConnectError(buyer.hostedCheckout.confirmHostedSession({ clientSecret: s.clientSecret, card: cards.ok, returnUrl: 'ftp://x', idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'return_url' });
    const db = env.stack.services.db;
    for (const collection of ['payments', 'customers', 'paymentMethods']) {
      expect((await db.collection(`tenants/${tenantId}/${collection}`).count().get()).data().count, collection).toEqual(0n);
    }
    expect((await owner.checkout.getCheckoutSession({ sessionId: s.id })).session).toMatchObject({ status: CheckoutSessionStatus.OPEN, customerId: '', paymentId: '' });
  });

  /** A tenant selling a monthly EUR 10.00 price from DE, and a SUBSCRIPTION session of 2 of it for a FR buyer. */
  async function subscriptionSession() {
    const { tenantId, owner } = await shop();
    const { price } = await proPlanMonthlyEur(owner);
    const s = await newSession(owner, { ...adHoc, mode: CheckoutMode.SUBSCRIPTION, customerCountry: 'FR', lineItems: [{ priceId: price.id, quantity: 2n }] } as CreateInit);
    return { tenantId, owner, price, s };
  }
  const subscriptionStatuses = async (tenantId: string) =>
    (await env.stack.services.db.collection(`tenants/${tenantId}/subscriptions`).get()).docs.map((d) => d.get('status') as string).sort();

  it('SUBSCRIPTION mode: the card becomes the default payment method and the subscription is created, its first invoice paid', async () => {
    const { tenantId, owner, price, s } = await subscriptionSession();
    expect(s).toMatchObject({ automaticTax: true, amountSubtotalMinor: 2_000n, amountTaxMinor: 400n, amountTotalMinor: 2_400n });
    expect(s.lineItems[0]).toMatchObject({ name: 'Pro plan', recurringInterval: 'month', recurringIntervalCount: 1 });
    const paid = await confirm(s.clientSecret, cards.ok);
    expect(paid.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    const session = (await owner.checkout.getCheckoutSession({ sessionId: s.id })).session!;
    const sub = (await owner.billing.getSubscription({ subscriptionId: session.subscriptionId })).subscription!;
    expect(sub).toMatchObject({ status: SubscriptionStatus.ACTIVE, customerId: session.customerId, items: [{ priceId: price.id, quantity: 2n }] });
    const invoice = (await owner.billing.getInvoice({ invoiceId: sub.latestInvoiceId })).invoice!;
    expect(invoice).toMatchObject({ status: InvoiceStatus.PAID, totalMinor: s.amountTotalMinor });
    expect(session.paymentId).toBe(invoice.paymentId);
    expect(await subscriptionStatuses(tenantId)).toEqual(['active']);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('SUBSCRIPTION mode: concurrent confirmations (two tabs) make one subscription, charged once', async () => {
    const { tenantId, owner, s } = await subscriptionSession();
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => confirm(s.clientSecret, cards.ok, key())));
    const answers = results.map((r) => (r.status === 'fulfilled' ? `ok:${CheckoutSessionStatus[r.value.session!.status]}` : `err:${rpcErrorOf(r.reason).reason}`));
    for (const answer of answers) expect(['ok:COMPLETE', 'err:CONTENTION']).toContain(answer);
    expect((await confirm(s.clientSecret, cards.ok, key())).session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    expect(await subscriptionStatuses(tenantId)).toEqual(['active']);
    expect((await paymentsOf(owner)).map((p) => p.amountCapturedMinor)).toEqual([2_400n]);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('SUBSCRIPTION mode: a declined card, or one that needs a challenge (billing charges off-session), leaves no subscription and the session open', async () => {
    const { tenantId, s } = await subscriptionSession();
    const declined = await confirm(s.clientSecret, cards.declined);
    expect(declined).toMatchObject({ session: { status: CheckoutSessionStatus.OPEN }, declineCode: 'insufficient_funds' });
    const challenged = await confirm(s.clientSecret, cards.challenge);
    expect(challenged).toMatchObject({ session: { status: CheckoutSessionStatus.OPEN }, nextActionUrl: '', declineCode: 'authentication_required' });
    expect(challenged.declineMessage).toContain('authentication');
    expect(await subscriptionStatuses(tenantId)).toEqual(['canceled', 'canceled']);
    expect(await completedEvents(tenantId, s.id)).toEqual([]);
  });
});

describe('hosted checkout through adyen', () => {
  const adyen = {
    ok: { pspTokens: { adyen: 'adyen_success' }, brand: 'visa', last4: '4242', country: 'NL' },
    declined: { pspTokens: { adyen: 'adyen_refused_insufficient_funds' }, brand: 'visa', last4: '9995', country: 'NL' },
    challenge: { pspTokens: { adyen: 'adyen_3ds_challenge' }, brand: 'visa', last4: '3220', country: 'NL' },
  };
  async function adyenShop() {
    const tenant = await env.stack.newTenant('Adyen Shop');
    await tenant.owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'adyen', weight: 1 }] }], idempotencyKey: key() });
    return tenant;
  }

  it('a decline, then a challenge completed and synced: one payment, captured once, completed once', async () => {
    const { tenantId, owner } = await adyenShop();
    const s = await newSession(owner);
    const declined = await confirm(s.clientSecret, adyen.declined);
    expect(declined).toMatchObject({ declineCode: 'insufficient_funds', session: { status: CheckoutSessionStatus.OPEN } });
    const waiting = await confirm(s.clientSecret, adyen.challenge);
    expect(waiting.nextActionUrl).toContain('/_sandbox/challenge/adyen/');
    expect(env.sandbox.control.completeChallenge('adyen', waiting.nextActionUrl.split('/').at(-1)!, 'success')).toBe(true);
    await eventually(async () => {
      expect((await buyer.hostedCheckout.syncHostedSession({ clientSecret: s.clientSecret })).session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    }, SETTLE);
    const payments = await paymentsOf(owner);
    expect(payments).toHaveLength(1);
    await eventually(async () => expect((await owner.payments.getPayment({ paymentId: payments[0]!.id })).payment).toMatchObject({ psp: 'adyen', amountCapturedMinor: 3_250n }), SETTLE);
    expect(await completedEvents(tenantId, s.id)).toHaveLength(1);
  });

  it('pays at once with an approved card', async () => {
    const { owner } = await adyenShop();
    const s = await newSession(owner);
    const paid = await confirm(s.clientSecret, adyen.ok);
    expect(paid.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    expect((await paymentsOf(owner)).map((p) => p.psp)).toEqual(['adyen']);
  });
});

describe('tally checkout CLI', () => {
  it('creates a session from major-unit amounts and prints its URL; an inexact amount is refused', async () => {
    const { ownerKey } = await shop();
    const tally = (...args: string[]) => runCli(['--api-url', env.stack.url, '--api-key', ownerKey, ...args]);
    const created = parseJson<{ id: string; url: string; amountTotalMinor: string; status: string }>(await tally('checkout', 'create', '--currency', 'EUR',
      '--item', 'T-shirt:15.00:2', '--item', 'Sticker:2.50', '--success-url', 'https://shop.test/ok', '--cancel-url', 'https://shop.test/cart', '--json'));
    expect(created).toMatchObject({ amountTotalMinor: '3250', status: 'CHECKOUT_SESSION_STATUS_OPEN', url: expect.stringContaining(`${base}/checkout/#${created.id}_secret_`) });
    // Two runs only: each CLI process costs seconds on a loaded machine (get/list/expire are thin over the same client).
    const bad = await tally('checkout', 'create', '--currency', 'EUR', '--item', 'T-shirt:15.001', '--success-url', 'https://a.test', '--cancel-url', 'https://a.test', '--json');
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('AMOUNT_PRECISION_EXCEEDED');
  });
});
