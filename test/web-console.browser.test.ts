/**
 * The merchant console in a real browser (issue 17 items 4 and 6), against the local stack: a
 * merchant signs in (Firebase Auth emulator), finds a payment made through the API, refunds part of
 * it and sees the refund, the payment's timeline and the ledger balance change; a viewer cannot
 * refund (the button is disabled and the callable refuses anyway); the refund's webhook is delivered
 * to the merchant's endpoint (checked through the API and a real receiver); a user of one tenant never sees
 * another's payment; an expired session goes back to sign in; analytics charts from ClickHouse.
 * Also refreshes the README's console screenshots.
 */
import { randomUUID } from 'node:crypto';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainOutbox } from '../functions/src/app/outbox/relay.js';
import { paymentAccountId } from '../functions/src/app/payments/index.js';
import { formatDecimal, money } from '../functions/src/domain/money/index.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { CaptureMethod, PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { startTestAnalyticsSink, type TestAnalyticsSink } from './support/analytics-sink.js';
import { startWebhookRig, type WebhookRig } from './support/webhook-rig.js';
import { actionTimeoutMs, collectPageErrors, readmeScreenshot, startBrowserStack, useBrowser, type BrowserStack, type ConsoleUser } from './support/browser.js';

let stack: BrowserStack;
let sink: TestAnalyticsSink;
/** The merchant's webhook receiver, the fake KMS sealing endpoint secrets, and the dispatcher on domain-events. */
let rig: WebhookRig;

beforeAll(async () => {
  rig = await startWebhookRig();
  stack = await startBrowserStack(rig.env);
  await rig.attach(stack.stack);
  const services = stack.stack.services;
  sink = await startTestAnalyticsSink({ client: services.bus.client, projectId: services.config.projectId });
}, 300_000);
afterAll(async () => {
  await sink?.stop();
  await rig?.stop();
  await stack?.close();
});

const browser = useBrowser();
const key = () => randomUUID();
/** Webhook-driven changes (refund settled by the PSP's webhook) under a loaded machine. */
const settleMs = 20_000;

/** A tenant routing to the sandbox's Stripe, with a card on file. */
async function shop(name: string): Promise<{ tenantId: string; owner: TallyClient; pm: string }> {
  const { tenantId, owner } = await stack.stack.newTenant(name);
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  return { tenantId, owner, pm };
}

async function pay(owner: TallyClient, pm: string, amountMinor: bigint, metadata: Record<string, string> = {}) {
  const payment = (await owner.payments.createPayment({ amountMinor, currency: 'EUR', paymentMethodId: pm, confirm: true, metadata, idempotencyKey: key() })).payment!;
  expect(payment.status).toBe(PaymentStatus.SUCCEEDED);
  return payment;
}

/** Opens `hash` (e.g. `#/payments`), is sent to sign in, signs in, and lands on `hash`. */
async function signIn(page: Page, user: ConsoleUser, hash = '#/payments'): Promise<void> {
  await page.goto(`${stack.consoleUrl}${hash}`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => new URL(page.url()).hash, { timeout: actionTimeoutMs }).toBe(hash);
  await page.getByTestId('role').filter({ hasText: user.role }).waitFor();
}

/** The merchant payable account's posted balance (EUR) as the API has it, as the console shows it. */
async function payableBalance(owner: TallyClient): Promise<string> {
  const balance = (await owner.ledger.getBalance({ accountId: paymentAccountId('merchant_payable', 'EUR') })).balance!;
  return formatDecimal(money(balance.postedCreditsMinor - balance.postedDebitsMinor, 'EUR'));
}

function adminAuth() {
  const projectId = process.env.GCLOUD_PROJECT;
  const app = getApps().find((a) => a.options.projectId === projectId) ?? initializeApp({ projectId }, `console-test-${projectId}`);
  return getAuth(app);
}

describe('merchant console', () => {
  it('a merchant signs in, finds a payment, refunds part of it, and sees the refund, the timeline, the webhook delivery and the ledger balance change', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, owner, pm } = await shop('Console Coffee');
    await pay(owner, pm, 1_250n, { order_id: 'o-1001' });
    const payment = await pay(owner, pm, 2_500n, { order_id: 'o-1002' });
    await pay(owner, pm, 4_990n, { order_id: 'o-1003' });
    const user = await stack.consoleUser(tenantId, 'owner');
    // The merchant listens for refunds; nothing has been refunded yet, so nothing is delivered.
    const endpoint = (await owner.webhooks.createWebhookEndpoint({
      url: `${rig.receiverUrl}/hooks/${tenantId}`, enabledEvents: ['payment.refund_succeeded'], description: 'refunds', idempotencyKey: key(),
    })).webhookEndpoint!;
    await drainOutbox(stack.stack.services.outbox, { batchMax: 100, batchesMax: 20, tenantId });
    expect((await owner.webhooks.listWebhookDeliveries({ webhookEndpointId: endpoint.id })).deliveries).toEqual([]);

    await signIn(page, user);
    const row = page.locator(`tr[data-payment-id="${payment.id}"]`);
    await expect.poll(() => row.textContent()).toContain('€25.00');
    await expect.poll(() => page.locator('tr[data-payment-id]').count()).toBe(3);
    await readmeScreenshot(page, 'console-payments');

    // The filters narrow the list (status, then a customer nobody has) and live in the URL.
    await page.getByLabel('Status').selectOption('SUCCEEDED');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/payments?status=SUCCEEDED');
    await expect.poll(() => page.locator('tr[data-payment-id]').count()).toBe(3);
    await page.getByLabel('Customer').fill('cus_nobody');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('empty-state').filter({ hasText: 'No payment matches these filters.' }).waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();

    // The ledger before: the merchant payable balance as the API has it.
    const payableBefore = await payableBalance(owner);
    await page.getByRole('link', { name: 'Ledger' }).click();
    const payableRow = page.locator('tr[data-account-code^="merchant_payable"]');
    await expect.poll(() => payableRow.getByTestId('posted-balance').textContent()).toContain(payableBefore);

    // Find the payment and refund EUR 7.00 of it.
    await page.getByRole('link', { name: 'Payments' }).click();
    await page.locator(`tr[data-payment-id="${payment.id}"]`).click();
    await expect.poll(() => page.getByTestId('payment-id').textContent()).toBe(payment.id);
    await page.locator('[data-event-type="payment.created"]').waitFor();
    await page.locator('button[data-action="refund"]').click();
    await page.getByLabel(/Amount/).fill('7.001');
    await page.getByTestId('confirm-action').click();
    await page.getByRole('alert').filter({ hasText: 'at most 2 fraction digits' }).waitFor(); // refused before any call: EUR has 2 decimals
    await page.getByLabel(/Amount/).fill('7.00');
    await page.getByTestId('confirm-action').click();
    await page.getByTestId('action-done').filter({ hasText: 'Refund of €7.00 sent.' }).waitFor();
    await expect.poll(() => page.getByTestId('refunded').textContent()).toBe('€7.00');
    await page.getByTestId('refunds').filter({ hasText: '€7.00' }).waitFor();
    // The PSP confirms the refund by webhook; the page follows without a reload.
    await page.locator('[data-event-type="payment.refund_succeeded"]').filter({ hasText: 'Refunded €7.00' }).waitFor({ timeout: settleMs });
    await readmeScreenshot(page, 'console-payment-detail', { fullPage: true });

    // Exactly one refund of 7.00, whatever the clicks: the API says so too.
    const after = (await owner.payments.getPayment({ paymentId: payment.id })).payment!;
    expect(after.refunds.map((r) => r.amountMinor)).toEqual([700n]);

    // The webhook delivery changed: the refund's event reached the merchant's endpoint (the relay's
    // work done now: outbox -> domain-events -> webhookDispatcher -> the receiver).
    await drainOutbox(stack.stack.services.outbox, { batchMax: 100, batchesMax: 20, tenantId });
    await expect.poll(async () => {
      const list = (await owner.webhooks.listWebhookDeliveries({ webhookEndpointId: endpoint.id })).deliveries;
      return list.map((d) => ({ type: d.eventType, status: d.status }));
    }, { timeout: settleMs, interval: 200 }).toEqual([{ type: 'payment.refund_succeeded', status: 'succeeded' }]);
    expect(rig.received.filter((r) => r.path === `/hooks/${tenantId}` && r.body.includes(payment.id))).toHaveLength(1);
    // ... and the console's endpoint page shows it.
    await page.goto(`${stack.consoleUrl}#/webhooks/${endpoint.id}`);
    await page.locator('[data-testid="deliveries-table"] tr[data-event-type="payment.refund_succeeded"][data-status="succeeded"]').waitFor({ timeout: settleMs });

    // The ledger after: merchant payable went down by the refund; the console shows the new balance.
    const payableAfter = await payableBalance(owner);
    expect(payableAfter).not.toBe(payableBefore);
    await page.getByRole('link', { name: 'Ledger' }).click();
    await expect.poll(() => payableRow.getByTestId('posted-balance').textContent(), { timeout: settleMs }).toContain(payableAfter);
    noErrors();
  });

  it('a viewer sees payments but cannot refund: the action is disabled, and the callable refuses anyway', async () => {
    const { page } = browser;
    const { tenantId, owner, pm } = await shop('Viewer shop');
    const payment = await pay(owner, pm, 1_000n);
    const viewer = await stack.consoleUser(tenantId, 'viewer');

    await signIn(page, viewer, `#/payments/${payment.id}`);
    await expect.poll(() => page.getByTestId('payment-id').textContent()).toBe(payment.id);
    await expect.poll(() => page.locator('button[data-action="refund"]').isDisabled()).toBe(true);
    await page.getByTestId('read-only').filter({ hasText: 'viewer' }).waitFor();

    // Past the UI: the viewer's own ID token on the refund callable is refused by the server.
    const signedIn = await fetch(`http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: viewer.email, password: viewer.password, returnSecureToken: true }),
    });
    const { idToken } = (await signedIn.json()) as { idToken: string };
    const refused = await fetch(`${stack.url}/callables/tally.payments.v1.PaymentsService/RefundPayment`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` },
      body: JSON.stringify({ data: { paymentId: payment.id, amountMinor: '100', idempotencyKey: key() } }),
    });
    const body = (await refused.json()) as { error?: { status?: string; details?: { reason?: string } } };
    expect({ http: refused.status, status: body.error?.status, reason: body.error?.details?.reason }).toEqual({ http: 403, status: 'PERMISSION_DENIED', reason: 'PERMISSION_DENIED' });
    expect((await owner.payments.getPayment({ paymentId: payment.id })).payment!.refunds).toEqual([]);
  });

  it('a developer captures part of an authorized payment and cancels another, each once', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, owner, pm } = await shop('Manual capture shop');
    const manual = async () => (await owner.payments.createPayment({
      amountMinor: 6_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key(),
    })).payment!;
    const [toCapture, toCancel] = [await manual(), await manual()];
    expect([toCapture.status, toCancel.status]).toEqual([PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_CAPTURE]);
    const user = await stack.consoleUser(tenantId, 'developer');

    await signIn(page, user, `#/payments/${toCapture.id}`);
    await page.locator('button[data-action="capture"]').click();
    await page.getByLabel(/Amount/).fill('45.50');
    // A double click is one action: one idempotency key, one capture.
    await page.getByTestId('confirm-action').dblclick();
    await page.getByTestId('action-done').filter({ hasText: 'Capture done.' }).waitFor();
    await expect.poll(() => page.getByTestId('captured').textContent()).toBe('€45.50');
    await page.getByTestId('status').filter({ hasText: 'Succeeded' }).waitFor();
    expect((await owner.payments.getPayment({ paymentId: toCapture.id })).payment!.amountCapturedMinor).toBe(4_550n);

    await page.goto(`${stack.consoleUrl}#/payments/${toCancel.id}`);
    await page.locator('button[data-action="cancel"]').click();
    await page.getByTestId('confirm-action').click();
    await page.getByTestId('status').filter({ hasText: 'Canceled' }).waitFor();
    await expect.poll(() => page.locator('button[data-action]').count()).toBe(0); // nothing left to do on a canceled payment
    expect((await owner.payments.getPayment({ paymentId: toCancel.id })).payment!.status).toBe(PaymentStatus.CANCELED);
    noErrors();
  });

  it('a user of one tenant never sees another tenant\'s payment, even by its id in the URL', async () => {
    const { page } = browser;
    const a = await shop('Tenant A');
    const b = await shop('Tenant B');
    const paymentOfA = await pay(a.owner, a.pm, 3_300n);
    const paymentOfB = await pay(b.owner, b.pm, 4_400n);
    const userOfB = await stack.consoleUser(b.tenantId, 'owner');

    await signIn(page, userOfB);
    await page.locator(`tr[data-payment-id="${paymentOfB.id}"]`).waitFor();
    expect(await page.locator('tr[data-payment-id]').count()).toBe(1);
    await page.goto(`${stack.consoleUrl}#/payments/${paymentOfA.id}`);
    await page.getByTestId('error-state').filter({ hasText: 'Not found' }).waitFor();
    expect(await page.content()).not.toContain('€33.00');
  });

  it('an expired session goes back to sign in, and signing in again returns to the page', async () => {
    const { page } = browser;
    const { tenantId, owner, pm } = await shop('Expiring shop');
    await pay(owner, pm, 1_500n);
    const user = await stack.consoleUser(tenantId, 'developer');
    await signIn(page, user);
    await page.locator('tr[data-payment-id]').waitFor();

    // The account is disabled: its ID token is refused at once (revocation and disabled users are checked).
    await adminAuth().updateUser(user.uid, { disabled: true });
    await page.getByRole('link', { name: 'Ledger' }).click();
    await page.getByTestId('session-ended').filter({ hasText: 'expired' }).waitFor();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/sign-in?next=/ledger');

    await adminAuth().updateUser(user.uid, { disabled: false });
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/ledger');
    await page.getByTestId('accounts-table').waitFor();
  });

  it('analytics charts the payments of the period from ClickHouse', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, owner, pm } = await shop('Analytics shop');
    const amounts = [1_200n, 2_500n, 990n, 4_000n, 1_750n];
    const paid: Awaited<ReturnType<typeof pay>>[] = [];
    for (const amountMinor of amounts) paid.push(await pay(owner, pm, amountMinor));
    // A decline (the authorization rate falls below 100 %) and a refund settled by the PSP's webhook.
    const declining = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_chargeDeclinedInsufficientFunds' }, brand: 'visa', country: 'NL', last4: '9995', idempotencyKey: key() })).paymentMethod!.id;
    await owner.payments.createPayment({ amountMinor: 3_000n, currency: 'EUR', paymentMethodId: declining, confirm: true, idempotencyKey: key() }).catch(() => undefined);
    await owner.payments.refundPayment({ paymentId: paid[1]!.id, amountMinor: 500n, idempotencyKey: key() });
    await expect.poll(async () => (await owner.payments.getPayment({ paymentId: paid[1]!.id })).payment!.refunds.map((r) => r.status), { timeout: settleMs }).toEqual(['succeeded']);
    // The relay's work, now: the outbox to domain-events, which the analytics sink reads.
    await drainOutbox(stack.stack.services.outbox, { batchMax: 100, batchesMax: 20, tenantId });
    const total = formatDecimal(money(amounts.reduce((s, a) => s + a, 0n), 'EUR'));
    await expect.poll(async () => {
      const res = await owner.analytics.getPaymentVolume({ startTime: { seconds: BigInt(Math.floor(Date.now() / 1000) - 86_400) }, endTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 86_400) } });
      return res.rows.reduce((s, r) => s + r.capturedAmountMinor, 0n);
    }, { timeout: 40_000, interval: 500 }).toBe(amounts.reduce((s, a) => s + a, 0n));

    const user = await stack.consoleUser(tenantId, 'viewer');
    await signIn(page, user, '#/analytics');
    await page.locator('figure').filter({ hasText: 'Captured volume' }).filter({ hasText: `total €${total}` }).waitFor();
    await page.getByTestId('status-table').filter({ hasText: 'succeeded' }).waitFor();
    await page.locator('figure').filter({ hasText: 'Refunded volume' }).filter({ hasText: 'total €5.00' }).waitFor();
    await page.getByLabel('Period').selectOption('7');
    await page.locator('figure').filter({ hasText: 'Captured volume' }).filter({ hasText: `total €${total}` }).waitFor();
    await readmeScreenshot(page, 'console-analytics', { fullPage: true });
    noErrors();
  });
});
