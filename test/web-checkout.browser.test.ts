/**
 * The hosted checkout in a real browser (issue 17): a buyer opens a merchant's checkout session on
 * the local stack (API + callables + built app on one origin, the sandbox PSP's card fields and
 * challenge page on another) and pays it - approved, declined then approved, through a challenge,
 * with a double click, with the keyboard only, on a phone. What was charged is checked through
 * the merchant API, never through the page alone. The same tests refresh the README's pictures
 * (docs/screenshots/checkout.png, decline.png, challenge.png).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { CheckoutMode, CheckoutSessionStatus, type CreateCheckoutSessionRequest, type CreateCheckoutSessionRequestSchema } from '../functions/src/gen/tally/checkout/v1/checkout_pb.js';
import { SubscriptionStatus } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { collectPageErrors, readmeScreenshot, startBrowserStack, useBrowser, type BrowserStack } from './support/browser.js';
import { proPlanMonthlyEur } from './support/billing-fixtures.js';

let stack: BrowserStack;
let merchant: { url: string; close(): Promise<void> };
const browser = useBrowser();

/** The merchant's own site: where the buyer lands after paying (or cancelling). */
async function startMerchantSite(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const page = new URL(req.url ?? '/', 'http://x').pathname === '/thanks' ? 'Thanks for your order' : 'Your cart';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>${page}</title><h1>${page}</h1>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

beforeAll(async () => {
  [stack, merchant] = await Promise.all([startBrowserStack(), startMerchantSite()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([stack?.close(), merchant?.close()]);
});

const key = (): string => randomUUID();
type CreateInit = MessageInitShape<typeof CreateCheckoutSessionRequestSchema>;

async function shop(name = 'Corner Shop', psp: 'stripe' | 'adyen' = 'stripe'): Promise<{ tenantId: string; owner: TallyClient }> {
  const tenant = await stack.stack.newTenant(name);
  await tenant.owner.payments.setRoutingRules({ rules: [{ choices: [{ psp, weight: 1 }] }], idempotencyKey: key() });
  return tenant;
}

/** A session of two ad-hoc items (2 × €15.00 + €2.50 = €32.50); returns its id and buyer URL on the local stack. */
async function checkoutSession(owner: TallyClient, init: Partial<CreateInit> = {}): Promise<{ id: string; url: string }> {
  const session = (await owner.checkout.createCheckoutSession({
    mode: CheckoutMode.PAYMENT, currency: 'EUR',
    lineItems: [{ name: 'T-shirt', unitAmountMinor: 1_500n, quantity: 2n }, { name: 'Sticker', unitAmountMinor: 250n }],
    customerEmail: 'buyer@example.com', successUrl: `${merchant.url}/thanks`, cancelUrl: `${merchant.url}/cart`,
    idempotencyKey: key(), ...init,
  } as CreateCheckoutSessionRequest)).session!;
  return { id: session.id, url: `${stack.checkoutUrl}#${session.clientSecret}` };
}

const cardFrame = (page: Page): FrameLocator => page.frameLocator('iframe[title^="Card details"]');
const payButton = (page: Page) => page.getByRole('button', { name: /^(Pay|Processing)/ });

async function fillCard(page: Page, number: string): Promise<void> {
  const frame = cardFrame(page);
  await frame.getByLabel('Card number').fill(number);
  await frame.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await frame.getByLabel('Security code').fill('123');
  // Pay is enabled once the card fields said they are ready.
  await expect.poll(() => payButton(page).isEnabled()).toBe(true);
}

async function expectPaidOnce(owner: TallyClient, sessionId: string, amountMinor = 3_250n): Promise<void> {
  const session = (await owner.checkout.getCheckoutSession({ sessionId })).session!;
  expect(session.status).toBe(CheckoutSessionStatus.COMPLETE);
  const payments = (await owner.payments.listPayments({ pageSize: 100 })).payments;
  const succeeded = payments.filter((p) => p.status === PaymentStatus.SUCCEEDED);
  expect(succeeded.map((p) => [p.id, p.amountCapturedMinor])).toEqual([[session.paymentId, amountMinor]]);
}

async function expectOnSuccessPage(page: Page): Promise<void> {
  await page.waitForURL(`${merchant.url}/thanks`);
  expect(await page.getByRole('heading').textContent()).toBe('Thanks for your order');
}

describe('hosted checkout in a browser', () => {
  it('a buyer pays: the order in their locale, the card typed only into the PSP frame, then the success page', async () => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    // Everything the page sends to Tally's origin, to prove no card number is in it.
    const sentToTally: string[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(stack.url)) sentToTally.push(`${request.url()} ${request.postData() ?? ''}`);
    });

    await page.goto(session.url);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Pay Corner Shop');
    const summary = page.getByRole('region', { name: 'Order summary' });
    expect(await summary.getByRole('listitem').allInnerTexts()).toEqual([expect.stringMatching(/T-shirt\s+2 × €15\.00\s+€30\.00/), expect.stringMatching(/Sticker\s+€2\.50\s+€2\.50/)]);
    expect(await page.getByTestId('total').textContent()).toBe('€32.50');
    expect(await page.getByTestId('email').textContent()).toBe('buyer@example.com');
    await fillCard(page, '4242 4242 4242 4242');
    expect(await payButton(page).textContent()).toContain('Pay €32.50');
    await readmeScreenshot(page, 'checkout', { fullPage: true });

    await payButton(page).click();
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
    expect(sentToTally.some((line) => line.includes('ConfirmHostedSession'))).toBe(true);
    expect(sentToTally.filter((line) => /4242\s?4242/.test(line))).toEqual([]);
    noErrors();
  });

  it("formats for the buyer's locale and the currency's exponent, with tax by rate (German buyer: EUR with French VAT, JPY)", async () => {
    const context = await browser.newContext({ locale: 'de-DE' });
    const page = await context.newPage();
    const { owner } = await shop();
    await owner.billing.updateBillingSettings({ settings: { originCountry: 'DE', invoicePrefix: 'INV' }, idempotencyKey: key() });
    const taxed = await checkoutSession(owner, { automaticTax: true, customerCountry: 'FR' });
    await page.goto(taxed.url);
    await expect.poll(() => page.getByTestId('total').textContent()).toMatch(/^39,00\s€$/);
    expect(await page.getByTestId('subtotal').textContent()).toMatch(/^32,50\s€$/);
    expect(await page.locator('.totals .row').allInnerTexts()).toEqual([
      expect.stringMatching(/^Subtotal\s+32,50\s€$/), expect.stringMatching(/^Tax \(20\s%, FR\)\s+6,50\s€$/), expect.stringMatching(/^Total due\s+39,00\s€$/),
    ]);
    // A zero-decimal currency: 1500 minor units of JPY are ¥1,500, not ¥15.00.
    const yen = await checkoutSession(owner, { currency: 'JPY', lineItems: [{ name: 'Matcha', unitAmountMinor: 1_500n, quantity: 1n }] });
    await page.goto(yen.url);
    await expect.poll(() => page.getByTestId('total').textContent()).toMatch(/^1\.500\s¥$/);
    expect(await page.getByRole('button', { name: /^Pay/ }).textContent()).toMatch(/Pay 1\.500\s¥/);
  });

  it('a subscription: the recurring price and what the card is for are shown; paying starts the subscription', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const { price } = await proPlanMonthlyEur(owner);
    const session = await checkoutSession(owner, { mode: CheckoutMode.SUBSCRIPTION, customerCountry: 'FR', lineItems: [{ priceId: price.id, quantity: 2n }] });
    await page.goto(session.url);
    await expect.poll(() => page.getByRole('listitem').first().innerText()).toMatch(/Pro plan\s+2 × €10\.00 per month\s+€20\.00/);
    expect(await page.getByText('You are subscribing').count()).toBe(1);
    expect(await page.getByTestId('total').textContent()).toBe('€24.00');
    await fillCard(page, '4242424242424242');
    await payButton(page).click();
    await expectOnSuccessPage(page);
    const done = (await owner.checkout.getCheckoutSession({ sessionId: session.id })).session!;
    expect(done.status).toBe(CheckoutSessionStatus.COMPLETE);
    expect((await owner.billing.getSubscription({ subscriptionId: done.subscriptionId })).subscription).toMatchObject({ status: SubscriptionStatus.ACTIVE, items: [{ priceId: price.id, quantity: 2n }] });
  });

  it('a decline is shown with a retry; another card then pays, once', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await fillCard(page, '4000000000009995');
    await payButton(page).click();

    const alert = page.getByRole('alert').filter({ hasText: 'declined' });
    await expect.poll(() => alert.textContent()).toMatch(/Your card was declined\..*insufficient funds/i);
    // Focus moves to the message, so it is read out and the next Tab continues from it.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('payment-error');
    await readmeScreenshot(page, 'decline', { fullPage: true });
    expect((await owner.checkout.getCheckoutSession({ sessionId: session.id })).session!.status).toBe(CheckoutSessionStatus.OPEN);

    await page.getByRole('button', { name: 'Try another card' }).click();
    await expect.poll(() => cardFrame(page).locator(':focus').getAttribute('id')).toBe('number');
    await fillCard(page, '4242424242424242');
    await payButton(page).click();
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
  });

  it('a challenge: to the bank page and back, then the success page', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await fillCard(page, '4000 0000 0000 3220');
    await payButton(page).click();

    await page.waitForURL(/\/_sandbox\/challenge\/stripe\//);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Authenticate your payment');
    expect(await page.locator('main').textContent()).toContain('32.50 EUR');
    await readmeScreenshot(page, 'challenge');
    await page.getByRole('button', { name: 'Complete' }).click();

    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
  });

  it('a failed challenge (Adyen this time) reads as a decline on the checkout page; another card pays', async () => {
    const { page } = browser;
    const { owner } = await shop('Corner Shop', 'adyen');
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await fillCard(page, '4000002500003155');
    await payButton(page).click();
    await page.waitForURL(/\/_sandbox\/challenge\/adyen\//);
    await page.getByRole('button', { name: 'Fail' }).click();

    await page.waitForURL((url) => url.pathname.endsWith('/checkout/') && url.search === '');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Your card was declined.');
    await fillCard(page, '4242424242424242');
    await payButton(page).click();
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
  });

  it('a double click charges once', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await fillCard(page, '4242424242424242');
    // Two clicks in the same task, before Vue can re-render the button disabled: the handler's own
    // guard must hold. Then a real double click for good measure (the second lands on a disabled button).
    await payButton(page).evaluate((button: HTMLButtonElement) => { button.click(); button.click(); });
    await payButton(page).dblclick({ force: true }).catch(() => undefined);
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
    const payments = (await owner.payments.listPayments({ pageSize: 100 })).payments;
    expect(payments).toHaveLength(1);
  });

  it('a reload while the payment is in flight charges once (the attempt resumes with its key)', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await fillCard(page, '4242424242424242');
    // Slow the PSP down so the reload lands while Tally is still waiting for it.
    stack.sandbox.control.setFaults({ stripe: { latencyMs: 1_000 } });
    try {
      const confirmSent = page.waitForRequest((request) => request.url().endsWith('/ConfirmHostedSession'));
      await payButton(page).click();
      await confirmSent;
      await page.reload();
      // Resumed on load (same key and card); if Tally was still busy with the first request, the
      // page says so and Pay replays it.
      const outcome = await Promise.race([
        page.waitForURL(`${merchant.url}/thanks`).then(() => 'paid' as const),
        page.getByRole('alert').filter({ hasText: 'not be charged twice' }).waitFor().then(() => 'retry' as const),
      ]);
      if (outcome === 'retry') await payButton(page).click();
      await expectOnSuccessPage(page);
    } finally {
      stack.sandbox.control.setFaults({ stripe: { latencyMs: 0 } });
    }
    await expectPaidOnce(owner, session.id);
    expect((await owner.payments.listPayments({ pageSize: 100 })).payments).toHaveLength(1);
  });

  it('keyboard only: Tab through the card fields to Pay, visible focus, Enter pays', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const session = await checkoutSession(owner);
    await page.goto(session.url);
    await expect.poll(() => payButton(page).isEnabled()).toBe(true);
    const focusedInFrame = () => cardFrame(page).locator(':focus').getAttribute('id');

    await page.keyboard.press('Tab');
    await expect.poll(focusedInFrame).toBe('number');
    await page.keyboard.type('4242424242424242');
    await page.keyboard.press('Tab');
    expect(await focusedInFrame()).toBe('expiry');
    await page.keyboard.type('1234');
    await page.keyboard.press('Tab');
    expect(await focusedInFrame()).toBe('cvc');
    await page.keyboard.type('123');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const element = document.activeElement as HTMLElement;
      const style = getComputedStyle(element);
      return { text: element.textContent?.trim(), outline: style.outlineStyle, outlineWidth: style.outlineWidth };
    });
    expect(focused).toEqual({ text: 'Pay €32.50', outline: 'solid', outlineWidth: '3px' });
    await page.keyboard.press('Enter');
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
  });

  it('on a phone (375 px): nothing overflows, and the buyer gives their email and pays', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const page = await context.newPage();
    const { owner } = await shop('A shop with a rather long name for a small screen');
    // The merchant gave no email: the page asks for one, and checks it before anything is charged.
    const session = await checkoutSession(owner, { customerEmail: '' });
    await page.goto(session.url);
    await fillCard(page, '4242424242424242');
    // The frame is sized to the form inside it (it reports its height): nothing cut off or scrolled.
    const frameHeight = (await page.locator('iframe[title^="Card details"]').boundingBox())!.height;
    const formHeight = await cardFrame(page).locator('html').evaluate((html) => html.scrollHeight);
    expect(formHeight).toBeGreaterThan(100);
    expect(formHeight).toBeLessThanOrEqual(Math.ceil(frameHeight));
    const emailField = page.getByRole('textbox', { name: 'Email' });
    await emailField.fill('not-an-email');
    await payButton(page).tap();
    await expect.poll(() => page.locator('#email-error').textContent()).toBe('Enter a valid email address, e.g. name@example.com.');
    expect(await emailField.evaluate((input) => input === document.activeElement)).toBe(true);
    expect((await owner.payments.listPayments({ pageSize: 10 })).payments).toEqual([]);
    await emailField.fill('phone.buyer@example.com');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    const box = await payButton(page).boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(375);
    expect(box!.height).toBeGreaterThanOrEqual(44); // a comfortable touch target
    await payButton(page).tap();
    await expectOnSuccessPage(page);
    await expectPaidOnce(owner, session.id);
    expect((await owner.checkout.getCheckoutSession({ sessionId: session.id })).session!.customerEmail).toBe('phone.buyer@example.com');
  });

  it('an expired session says so; a paid one says it is paid; cancel returns to the merchant', async () => {
    const { page } = browser;
    const { owner } = await shop();
    const expired = await checkoutSession(owner);
    await owner.checkout.expireCheckoutSession({ sessionId: expired.id, idempotencyKey: key() });
    await page.goto(expired.url);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('This checkout has expired');
    expect(await page.getByRole('button', { name: /^Pay/ }).count()).toBe(0);

    const open = await checkoutSession(owner);
    await page.goto(open.url);
    await page.getByRole('link', { name: 'Cancel and return to Corner Shop' }).click();
    await page.waitForURL(`${merchant.url}/cart`);

    // Paid through the API (a buyer client: no credentials but the secret), then opened again.
    const paid = await checkoutSession(owner);
    const buyer = createTallyClient(stack.url, undefined);
    const answer = await buyer.hostedCheckout.confirmHostedSession({
      clientSecret: paid.url.split('#')[1]!, returnUrl: stack.checkoutUrl, idempotencyKey: key(),
      card: { pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', last4: '4242', country: 'US' },
    });
    expect(answer.session?.status).toBe(CheckoutSessionStatus.COMPLETE);
    await page.goto(paid.url);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Payment complete');
    expect(await page.getByRole('status').textContent()).toBe('This order is paid. Thank you.');

    await page.goto(`${stack.checkoutUrl}#cs_nope_secret_${'x'.repeat(32)}`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Checkout unavailable');
  });
});
