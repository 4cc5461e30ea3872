/**
 * The merchant console's business pages in a real browser (issue 17 items 4 and 6), against the
 * local stack: a merchant opens a customer's invoice and downloads its PDF, cancels the subscription;
 * creates an API key and sees its secret once (the key works, then is revoked); creates a webhook
 * endpoint, sees its signing secret once, sees the delivery of a payment's events, resends one,
 * rolls the secret; pays a declined invoice; a viewer sees a reconciliation break but cannot
 * resolve it, create API keys or webhook endpoints.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainOutbox } from '../functions/src/app/outbox/relay.js';
import { reconRequestsTopic } from '../functions/src/app/recon/recon-requests.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';
import { createReconRunHandler } from '../functions/src/handlers/pubsub/recon-run.js';
import { bridgeTopicToHandler, type Bridge } from '../emulators/pubsub-bridge.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { actionTimeoutMs, collectPageErrors, startBrowserStack, useBrowser, type BrowserStack, type ConsoleUser } from './support/browser.js';
import { eventually } from './support/eventually.js';
import { Code } from './support/connect-error.js';
import { startWebhookRig, type WebhookRig } from './support/webhook-rig.js';
import { proPlanMonthlyEur } from './support/billing-fixtures.js';

let rig: WebhookRig;
let stack: BrowserStack;
let recon: Bridge;
beforeAll(async () => {
  rig = await startWebhookRig();
  stack = await startBrowserStack(rig.env);
  await rig.attach(stack.stack);
  // reconRun, as npm start wires it: an uploaded report runs through `recon-requests`.
  const services = stack.stack.services;
  recon = await bridgeTopicToHandler({
    client: services.bus.client, projectId: services.config.projectId, topic: reconRequestsTopic,
    subscription: `recon-run-console-${randomUUID().slice(0, 8)}`, policy: subscriptionPolicies['recon-run'], retryBackoff: { minimumMs: 100, maximumMs: 1_000 },
    handler: createReconRunHandler({ reconService: services.recon, logger: services.logger }),
  });
}, 300_000);
afterAll(async () => {
  await recon?.stop();
  await rig?.stop();
  await stack?.close();
});

const browser = useBrowser();
const key = () => randomUUID();
/** Background work (a webhook delivery, a PSP webhook) on a loaded machine. */
const settleMs = 20_000;

/** Opens `hash`, is sent to sign in, signs in, and lands on `hash`. */
async function signIn(page: Page, user: ConsoleUser, hash: string): Promise<void> {
  await page.goto(`${stack.consoleUrl}${hash}`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => new URL(page.url()).hash, { timeout: actionTimeoutMs }).toBe(hash);
  await page.getByTestId('role').filter({ hasText: user.role }).waitFor();
}

/** A tenant selling a monthly EUR 10.00 plan from DE; a FR customer subscribed (first invoice paid: 12.00 with VAT). */
async function billedShop(cardToken = 'pm_card_visa'): Promise<{ tenantId: string; owner: TallyClient; customerId: string; invoiceId: string; invoiceNumber: string }> {
  const { tenantId, owner } = await stack.stack.newTenant('Console Books');
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const { price } = await proPlanMonthlyEur(owner);
  const customer = (await owner.payments.createCustomer({ email: 'marie@example.fr', name: 'Marie Curie', idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: cardToken }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR' }, idempotencyKey: key() });
  const { invoice } = await owner.billing.createSubscription({ customerId: customer.id, items: [{ priceId: price.id, quantity: 1n }], idempotencyKey: key() });
  return { tenantId, owner, customerId: customer.id, invoiceId: invoice!.id, invoiceNumber: invoice!.number };
}

describe('merchant console: business pages', () => {
  it("a merchant opens a customer's invoice (lines, tax, totals), downloads its PDF, cancels its subscription; creates an API key, sees it once, it works, revokes it", async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, customerId, invoiceId, invoiceNumber } = await billedShop();
    const user = await stack.consoleUser(tenantId, 'owner');

    await signIn(page, user, '#/customers');
    await page.locator(`tr[data-customer-id="${customerId}"]`).filter({ hasText: 'Marie Curie' }).click();
    await page.getByTestId('customer-facts').filter({ hasText: 'marie@example.fr' }).waitFor();
    await page.getByTestId('subscriptions-table').filter({ hasText: 'Active' }).waitFor();
    await page.locator(`tr[data-invoice-id="${invoiceId}"]`).filter({ hasText: invoiceNumber }).click();
    await expect.poll(() => page.getByTestId('invoice-total').textContent()).toBe('€12.00');
    expect(await page.getByTestId('invoice-tax').textContent()).toBe('€2.00');
    expect(await page.getByTestId('invoice-due').textContent()).toBe('€0.00');
    expect(await page.getByTestId('invoice-lines').textContent()).toContain('20 %');

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: actionTimeoutMs }), page.getByTestId('download-pdf').click()]);
    expect(download.suggestedFilename()).toBe(`${invoiceNumber}.pdf`);
    const pdf = readFileSync((await download.path())!);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');

    // Its subscription, canceled at the period's end after a confirmation.
    await page.getByTestId('invoice-facts').getByRole('link', { name: /^sub_/ }).click();
    await page.locator('button[data-action="cancel-subscription"]').click();
    await page.getByRole('dialog', { name: 'Cancel this subscription?' }).getByTestId('confirm').click();
    await page.getByText('Cancels at period end').locator('xpath=following-sibling::dd[1]').filter({ hasText: 'Yes' }).waitFor();
    expect(await page.locator('button[data-action="cancel-subscription"]').count()).toBe(0);

    // An API key: the secret is shown once, works, and is gone after dismissing (a reload shows only its last four).
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('Backend');
    await page.getByTestId('create-key').click();
    const secret = (await page.getByTestId('secret-value').inputValue());
    expect(secret).toMatch(/^sk_/);
    expect((await createTallyClient(stack.url, secret).tenancy.getTenant({})).tenant?.id).toBe(tenantId);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.locator('tr[data-key-id]').filter({ hasText: `sk_…${secret.slice(-4)}` }).waitFor();
    await page.reload();
    const keyRow = page.locator('tr[data-key-id]').filter({ hasText: 'Backend' });
    await keyRow.waitFor();
    expect(await page.getByTestId('secret-once').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    // Revoking asks first; Cancel changes nothing, Revoke key does, and the key stops working.
    await keyRow.locator('button[data-action="revoke"]').click();
    await page.getByRole('dialog', { name: 'Revoke this API key?' }).getByRole('button', { name: 'Cancel' }).click();
    expect(await keyRow.textContent()).toContain('Active');
    await keyRow.locator('button[data-action="revoke"]').click();
    await page.getByRole('dialog', { name: 'Revoke this API key?' }).getByTestId('confirm').click();
    await keyRow.filter({ hasText: 'Revoked' }).waitFor();
    await expect(createTallyClient(stack.url, secret).tenancy.getTenant({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    noErrors();
  });

  it('a merchant creates a webhook endpoint, sees its signing secret once, and sees the delivery of a payment', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, owner } = await stack.stack.newTenant('Console Hooks');
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const user = await stack.consoleUser(tenantId, 'developer');

    // A developer sees the API keys but only owners make or revoke them.
    await signIn(page, user, '#/api-keys');
    expect(await page.getByTestId('create-key').isDisabled()).toBe(true);
    await page.getByTestId('read-only').filter({ hasText: 'Only owners manage API keys' }).waitFor();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByTestId('empty-state').waitFor();
    const path = `/hooks/${tenantId}`;
    await page.getByLabel('Endpoint URL').fill(`${rig.receiverUrl}${path}`);
    await page.getByLabel('Events').fill('payment.*');
    await page.getByTestId('create-endpoint').click();
    const firstSecret = await page.getByTestId('secret-value').inputValue();
    expect(firstSecret).toMatch(/^whsec_/);
    await page.getByRole('link', { name: 'Open the new endpoint' }).click();
    await page.getByTestId('endpoint-facts').filter({ hasText: 'payment.*' }).waitFor();
    await page.getByTestId('empty-state').filter({ hasText: 'No deliveries yet' }).waitFor();

    // A payment through the API; the relay publishes its events; the dispatcher delivers them.
    const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
    const payment = (await owner.payments.createPayment({ amountMinor: 1_500n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
    expect(payment.status).toBe(PaymentStatus.SUCCEEDED);
    await drainOutbox(stack.stack.services.outbox, { tenantId, batchMax: 100, batchesMax: 20 });
    // The page polls the deliveries: the payment's events appear, delivered, without a reload.
    await page.locator('tr[data-event-type="payment.created"][data-status="succeeded"]').waitFor({ timeout: settleMs });
    await page.locator('tr[data-event-type="payment.status_changed"][data-status="succeeded"]').waitFor({ timeout: settleMs });
    const delivered = rig.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as { type: string; data: { object: { id?: string } } });
    expect(delivered.map((d) => d.type)).toContain('payment.created');
    expect(delivered.every((d) => d.type.startsWith('payment.'))).toBe(true);

    // A test event goes straight to the endpoint; a delivery is sent again on request.
    await page.locator('button[data-action="send-test"]').click();
    await page.getByTestId('webhook-notice').filter({ hasText: 'Test event sent: succeeded' }).waitFor();
    await page.locator('tr[data-event-type="payment.created"]').first().locator('button[data-action="resend"]').click();
    await page.getByTestId('webhook-notice').filter({ hasText: 'Resent payment.created: succeeded' }).waitFor();

    // Disable and enable; roll the secret (after a confirmation): the new one is shown once.
    await page.locator('button[data-action="toggle"]').click();
    await page.getByTestId('webhook-notice').filter({ hasText: 'Endpoint disabled' }).waitFor();
    await page.locator('button[data-action="toggle"]').filter({ hasText: 'Enable' }).click();
    await page.getByTestId('webhook-notice').filter({ hasText: 'Endpoint enabled' }).waitFor();
    await page.locator('button[data-action="roll"]').click();
    await page.getByRole('dialog', { name: 'Roll the signing secret?' }).getByTestId('confirm').click();
    const rolled = await page.getByTestId('secret-value').inputValue();
    expect(rolled).toMatch(/^whsec_/);
    expect(rolled).not.toBe(firstSecret);
    noErrors();
  });

  it('an invoice whose charge was declined is paid from the console once the customer has a working card', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { tenantId, owner, customerId, invoiceId } = await billedShop('pm_card_chargeDeclinedInsufficientFunds');
    const good = (await owner.payments.createPaymentMethod({ customerId, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
    await owner.billing.updateBillingCustomer({ customer: { customerId, defaultPaymentMethodId: good.id, country: 'FR' }, idempotencyKey: key() });
    const user = await stack.consoleUser(tenantId, 'owner');

    await signIn(page, user, `#/invoices/${invoiceId}`);
    await page.getByRole('heading').filter({ hasText: 'Open' }).waitFor();
    expect(await page.getByTestId('invoice-due').textContent()).toBe('€12.00');
    await page.locator('button[data-action="pay"]').click();
    await page.getByRole('dialog', { name: 'Charge this invoice now?' }).getByTestId('confirm').click();
    await page.getByTestId('invoice-outcome').filter({ hasText: 'Paid.' }).waitFor();
    await page.getByRole('heading').filter({ hasText: 'Paid' }).waitFor();
    expect(await page.getByTestId('invoice-due').textContent()).toBe('€0.00');
    expect(await page.locator('button[data-action="pay"]').count()).toBe(0);
    expect((await owner.billing.getInvoice({ invoiceId })).invoice?.amountPaidMinor).toBe(1_200n);
    noErrors();
  });

  it('a viewer sees a reconciliation break but cannot resolve it, nor create API keys or webhook endpoints', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const startedMs = Date.now();
    const { tenantId, owner } = await stack.stack.newTenant('Console Recon');
    const pay = async (amountMinor: bigint) => {
      const pm = (await owner.payments.createPaymentMethod({ pspTokens: { adyen: 'adyen_success' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
      const p = (await owner.payments.createPayment({ amountMinor, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
      return eventually(async () => {
        const current = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
        expect(current.amountCapturedMinor).toBe(amountMinor);
        return current;
      }, { timeoutMs: settleMs, intervalMs: 100 });
    };
    const [a, b] = [await pay(2_500n), await pay(4_000n)];
    await stack.sandbox.control.webhooksIdle(5_000);
    const day = await (await fetch(`${stack.sandbox.url}/_control/settlement-report?psp=adyen&batch=7&since=${startedMs}`)).text();
    // The report names a payment Tally does not know: an open unknown_reference break.
    const csv = day.replaceAll(b.id, 'pay_unknown0000000000000000').replaceAll(b.pspReference, 'UNKNOWNPSPREF0001');
    expect(csv).toContain(a.id);
    const run = (await owner.recon.uploadReport({ psp: 'adyen', fileName: 'batch-7.csv', content: Buffer.from(csv), idempotencyKey: key() })).run!;

    const viewer = await stack.consoleUser(tenantId, 'viewer');
    await signIn(page, viewer, '#/recon');
    // The list follows the run from queued to completed without a reload.
    const runRow = page.locator(`tr[data-run-id="${run.id}"]`);
    await runRow.filter({ hasText: 'completed' }).waitFor({ timeout: settleMs });
    await runRow.click();
    const row = page.locator('tr[data-kind="unknown_reference"]');
    await row.filter({ hasText: 'open' }).waitFor();
    expect(await row.textContent()).toContain('€40.00');
    expect(await row.locator('button[data-action="resolve"]').isDisabled()).toBe(true);

    // Keys and endpoints are not for viewers: not in the navigation, and the pages say so.
    const nav = page.getByRole('navigation', { name: 'Console' });
    expect(await nav.getByRole('link', { name: 'API keys' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Webhooks' }).count()).toBe(0);
    for (const hash of ['#/api-keys', '#/webhooks']) {
      await page.goto(`${stack.consoleUrl}${hash}`);
      await expect.poll(() => new URL(page.url()).hash).toMatch(/^#\/forbidden/);
      expect(await page.getByTestId('create-key').count() + await page.getByTestId('create-endpoint').count()).toBe(0);
    }
    noErrors();
  });
});
