/**
 * The browser harness itself (test/support/browser.ts): Chromium opens both apps from the local
 * server that hosts the API, and each app mounts (its root element renders) with no page error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, startBrowserStack, useBrowser, type BrowserStack } from './support/browser.js';

let stack: BrowserStack;
beforeAll(async () => { stack = await startBrowserStack(); }, 300_000);
afterAll(async () => { await stack?.close(); });

const browser = useBrowser();

describe('the built apps in a real browser', () => {
  it.each(['checkout', 'console'] as const)('opens /%s/ and the app mounts', async (app) => {
    const { page } = browser;
    const noErrors = collectPageErrors(page);
    const response = await page.goto(app === 'checkout' ? stack.checkoutUrl : stack.consoleUrl);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect.poll(() => page.locator(`[data-app="${app}"]`).count(), { timeout: 15_000 }).toBe(1);
    noErrors();
  });

  it('reaches the callables from the page, also without /__/tally/env.json (deployed, Hosting serves none)', async () => {
    const { page } = browser;
    await page.route('**/__/tally/env.json', (route) => route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
    const called = page.waitForResponse((r) => r.url().includes('/callables/tally.checkout.v1.HostedCheckoutService/GetHostedSession'));
    await page.goto(`${stack.checkoutUrl}#cs_forged_secret_not-a-session`);
    // The forged secret is answered NOT_FOUND through the callable, and the app says so.
    expect((await called).status()).toBe(404);
    await expect.poll(() => page.getByText('This checkout link is not valid').count()).toBe(1);
  });

  // Two tests in order: what the first stores must not be there in the second.
  it('stores something in the page (for the next test)', async () => {
    await browser.page.goto(stack.consoleUrl);
    await browser.page.evaluate(() => window.localStorage.setItem('tally-harness-probe', 'set'));
    expect(await browser.page.evaluate(() => window.localStorage.getItem('tally-harness-probe'))).toBe('set');
  });

  it('gives each test a fresh context (nothing stored by the previous test)', async () => {
    await browser.page.goto(stack.consoleUrl);
    expect(await browser.page.evaluate(() => window.localStorage.getItem('tally-harness-probe'))).toBeNull();
  });

  it('makes console users whose ID tokens carry the tenant and role', async () => {
    const { tenantId } = await stack.stack.newTenant();
    const user = await stack.consoleUser(tenantId, 'viewer');
    const res = await fetch(`http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: user.password, returnSecureToken: true }),
    });
    const { idToken } = (await res.json()) as { idToken: string };
    const principal = await stack.stack.services.authenticator.authenticate(`Bearer ${idToken}`);
    expect(principal).toMatchObject({ kind: 'tenant', tenantId, role: 'viewer' });
  });
});
