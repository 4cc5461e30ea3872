/**
 * `npm run bench:web`: the hosted checkout in a real browser against the local stack, against the
 * same payment through the API alone, in one run. Prints one JSON object as its last line.
 *
 * - `checkoutToPaidMs`: p50 over `BENCH_WEB_RUNS` (20) buyers, each in a fresh browser context (no
 *   cache, as a new buyer): from opening the checkout URL to the merchant's success page, through
 *   the app's load (HTML, JS, Firebase config), GetHostedSession, the sandbox PSP's card fields
 *   (iframe load, typing the card, tokenization at the PSP) and ConfirmHostedSession (Stripe
 *   connector, approved, automatic capture), then the redirect.
 * - `apiCheckoutMs`: p50 of the same payment through the API alone (ConnectRPC over HTTP, no
 *   browser): GetHostedSession, then ConfirmHostedSession with a card token minted by the same
 *   sandbox endpoint the card fields call.
 * - The two apps' JavaScript, gzipped (what test/web-budgets.test.ts holds under 120 KB and 350 KB).
 * Goal: apiCheckoutMs / checkoutToPaidMs >= 0.1 (the browser adds at most 10x to the payment).
 *
 * Runs alternate browser and API, after unmeasured warm-up runs of each, so both see the same warmth.
 * Sessions are created (through the API) before each run, outside the timing. Everything runs on
 * loopback: the sandbox PSP in its own process (a PSP is another service), the API and Chromium here.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { startSandboxProcess } from './sandbox-process.js';
import { benchLog, runBench } from './support.js';

const log = benchLog('bench:web');
const runs = Number(process.env.BENCH_WEB_RUNS ?? 20);
const warmUpRuns = Number(process.env.BENCH_WEB_WARMUP_RUNS ?? 3);
/** Bound on one buyer's page flow: a hung page fails the bench instead of stalling it. */
const runTimeoutMs = 60_000;

function p50(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number((sorted[Math.floor((sorted.length - 1) / 2)] ?? 0).toFixed(1));
}

runBench('bench:web', async () => {
  const { ensureWebBuilt } = await import('../test/support/web-build.js');
  const { measureWebBundle } = await import('../test/support/web-bundles.js');
  const { chromiumPath, ensureChromium } = await import('../emulators/chromium.js');
  log('building the web apps (if stale) ...');
  await ensureWebBuilt();
  ensureChromium();
  const bundles = { checkout: measureWebBundle('checkout'), console: measureWebBundle('console') };

  log('starting the sandbox PSP (own process) ...');
  const stripeWebhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const sandbox = await startSandboxProcess(stripeWebhookSecret);
  const merchant = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Thanks</title><h1>Thanks</h1>'));
  await new Promise<void>((resolve) => merchant.listen(0, '127.0.0.1', resolve));
  const successUrl = `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/thanks`;
  const browser = await chromium.launch({
    executablePath: chromiumPath(), headless: true, timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  try {
    const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
    Object.assign(process.env, {
      TALLY_PLATFORM_ADMIN_KEY_SHA256: createHash('sha256').update(adminKey).digest('hex'),
      TALLY_STRIPE_API_KEY: 'sk_test_bench', TALLY_STRIPE_WEBHOOK_SECRET: stripeWebhookSecret, TALLY_STRIPE_API_URL: sandbox.url,
      TALLY_CHECKOUT_CARD_FIELDS_URL: `${sandbox.url}/elements/card`,
    });
    const { parseConfig } = await import('../functions/src/platform/config/config.js');
    const { composeServices } = await import('../functions/src/compose.js');
    const { composeCallables } = await import('../functions/src/compose-callables.js');
    const { startHttpServer } = await import('../emulators/api-server.js');
    const { createLocalCallablesHandler } = await import('../emulators/local-callables.js');
    const { createLocalWebHandler } = await import('../emulators/web-serving.js');
    const { createTallyClient } = await import('../functions/src/cli/client.js');
    const { CheckoutMode, CheckoutSessionStatus } = await import('../functions/src/gen/tally/checkout/v1/checkout_pb.js');
    const config = parseConfig();
    const services = composeServices(config);
    // As npm start serves it: API, callables and the built apps on one origin. Webhooks are not
    // wired: an approved card with automatic capture is paid synchronously, on both paths alike.
    const server = await startHttpServer({ ...services, callables: createLocalCallablesHandler(composeCallables(services)), web: createLocalWebHandler(config) }, { port: 0 });
    try {
      const created = await createTallyClient(server.url, adminKey).tenancy.createTenant({ name: 'Bench Shop', idempotencyKey: randomUUID() });
      const owner = createTallyClient(server.url, created.ownerApiKey!.secret);
      const buyer = createTallyClient(server.url, undefined);
      await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: randomUUID() });

      const newSession = async (): Promise<string> => (await owner.checkout.createCheckoutSession({
        mode: CheckoutMode.PAYMENT, currency: 'EUR', lineItems: [{ name: 'Bench item', unitAmountMinor: 1_990n, quantity: 1n }],
        customerEmail: 'buyer@bench.test', successUrl, cancelUrl: successUrl, idempotencyKey: randomUUID(),
      })).session!.clientSecret;

      /** One buyer in the browser, timed from opening the URL to the success page. */
      const browserRun = async (): Promise<number> => {
        const clientSecret = await newSession();
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
        context.setDefaultTimeout(runTimeoutMs);
        try {
          const page = await context.newPage();
          const t0 = performance.now();
          await page.goto(`${server.url}/checkout/#${clientSecret}`);
          const frame = page.frameLocator('iframe[title^="Card details"]');
          await frame.getByLabel('Card number').fill('4242424242424242');
          await frame.getByLabel('Expiry (MM / YY)').fill('12 / 34');
          await frame.getByLabel('Security code').fill('123');
          await page.getByRole('button', { name: /^Pay / }).click(); // waits until the fields said ready
          await page.waitForURL(successUrl);
          return performance.now() - t0;
        } finally {
          await context.close();
        }
      };

      /** The same payment through the API alone: load the session, tokenize at the PSP, confirm. */
      const apiRun = async (): Promise<number> => {
        const clientSecret = await newSession();
        const t0 = performance.now();
        await buyer.hostedCheckout.getHostedSession({ clientSecret });
        const tokenized = await fetch(`${sandbox.url}/elements/tokenize`, {
          method: 'POST', headers: { 'content-type': 'application/json', origin: sandbox.url },
          body: JSON.stringify({ number: '4242424242424242', expiry: '12 / 34', cvc: '123' }),
        });
        if (!tokenized.ok) throw new Error(`tokenize: HTTP ${tokenized.status} ${await tokenized.text()}`);
        const card = (await tokenized.json()) as { pspTokens: Record<string, string>; brand: string; last4: string; country: string };
        const answer = await buyer.hostedCheckout.confirmHostedSession({ clientSecret, card, returnUrl: `${server.url}/checkout/#${clientSecret}`, idempotencyKey: randomUUID() });
        if (answer.session?.status !== CheckoutSessionStatus.COMPLETE) throw new Error(`API checkout not paid: ${answer.declineMessage || answer.nextActionUrl || String(answer.session?.status)}`);
        return performance.now() - t0;
      };

      log(`warming up (${warmUpRuns} runs of each) ...`);
      for (let i = 0; i < warmUpRuns; i++) {
        await browserRun();
        await apiRun();
      }
      const browserMs: number[] = [];
      const apiMs: number[] = [];
      for (let i = 1; i <= runs; i++) {
        browserMs.push(await browserRun());
        apiMs.push(await apiRun());
        log(`run ${i}/${runs}: browser ${browserMs.at(-1)!.toFixed(0)} ms, API ${apiMs.at(-1)!.toFixed(0)} ms`);
      }
      const checkoutToPaidMs = p50(browserMs);
      const apiCheckoutMs = p50(apiMs);
      const ratio = Number((apiCheckoutMs / checkoutToPaidMs).toFixed(3));
      return {
        bench: 'web',
        checkoutToPaidMs,
        apiCheckoutMs,
        ratio,
        goal: 0.1,
        met: ratio >= 0.1,
        checkoutJsGzipBytes: bundles.checkout.gzipBytes,
        consoleJsGzipBytes: bundles.console.gzipBytes,
        budgetsGzipBytes: { checkout: 120 * 1024, console: 350 * 1024 },
        runs,
        checkoutToPaidMsMax: Number(Math.max(...browserMs).toFixed(1)),
        apiCheckoutMsMax: Number(Math.max(...apiMs).toFixed(1)),
      };
    } finally {
      await server.close();
    }
  } finally {
    await browser.close();
    await new Promise((resolve) => { merchant.close(resolve); merchant.closeAllConnections(); });
    await sandbox.stop();
  }
});
