/**
 * The sandbox's hosted card fields in a real browser, framed by merchant pages on two origins of
 * their own: the page answers `tally.tokenize` only from its parent at the declared origin (a
 * sibling frame of another origin is ignored), only the declared origin can frame it at all (CSP
 * frame-ancestors), and its answers (tokens, field errors, Enter to pay) reach the parent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxPsp, startSandboxPsp } from '../emulators/sandbox-psp/index.js';
import { useBrowser } from './support/browser.js';

interface Origins { a: string; b: string }
let sandbox: SandboxPsp;
let servers: http.Server[] = [];
let origins: Origins;
const browser = useBrowser();

/** A merchant page that frames the card fields (declaring `declared`) and a sibling frame of origin B. */
function parentPage(declared: string): string {
  return `<!doctype html><html><body>
<iframe id="card" title="Card details" src="${sandbox.url}/elements/card?origin=${encodeURIComponent(declared)}" onload="window.cardLoaded = true"></iframe>
<iframe id="sibling" title="Another origin" src="${origins.b}/sibling"></iframe>
<script>
  window.received = [];
  addEventListener('message', (event) => {
    if (event.origin === ${JSON.stringify(sandbox.url)} && event.source === document.getElementById('card').contentWindow) window.received.push(event.data);
  });
  window.tokenize = (requestId) => document.getElementById('card').contentWindow.postMessage({ type: 'tally.tokenize', requestId }, ${JSON.stringify(sandbox.url)});
</script></body></html>`;
}

async function startOrigin(): Promise<string> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (url.pathname === '/sibling') res.end('<!doctype html><title>sibling</title>');
    else res.end(parentPage(url.searchParams.get('declare') ?? `http://${req.headers.host}`));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  sandbox = await startSandboxPsp({ webhookTargets: {}, stripeWebhookSecret: 'whsec_x', adyenHmacKeyHex: '00'.repeat(32) });
  origins = { a: await startOrigin(), b: await startOrigin() };
});

afterAll(async () => {
  await sandbox.stop();
  await Promise.all(servers.map((s) => new Promise((resolve) => { s.close(resolve); s.closeAllConnections(); })));
  servers = [];
});

type Received = Array<{ type: string; requestId?: string; card?: Record<string, unknown>; message?: string; field?: string }>;
const all = (): Promise<Received> => browser.page.evaluate(() => (window as unknown as { received: Received }).received);
/** What the fields said, but their size reports (they come whenever the form's height changes). */
const received = async (): Promise<Received> => (await all()).filter((m) => m.type !== 'tally.card_resize');

describe('hosted card fields in a browser', () => {
  it('tokenizes for its parent at the declared origin only; a sibling frame of another origin is ignored', async () => {
    const { page } = browser;
    await page.goto(origins.a);
    const card = page.frameLocator('#card');
    await expect.poll(async () => (await received()).map((m) => m.type)).toEqual(['tally.card_ready']);
    // It reports its height, so the parent can size the frame to the form.
    const resize = (await all()).find((m) => m.type === 'tally.card_resize') as { height?: number } | undefined;
    expect(resize?.height).toBeGreaterThan(100);
    await card.getByLabel('Card number').fill('4242424242424242');
    await card.getByLabel('Expiry (MM / YY)').fill('1239');
    await card.getByLabel('Security code').fill('123');
    expect(await card.getByLabel('Card number').inputValue()).toBe('4242 4242 4242 4242');
    expect(await card.getByLabel('Expiry (MM / YY)').inputValue()).toBe('12 / 39');
    // The sibling (origin B) asks first; if the fields obeyed it, its request would run and the
    // parent's (sent while that one is busy) would be dropped.
    const sibling = page.frame({ url: `${origins.b}/sibling` });
    await sibling!.evaluate(() => window.parent.frames[0]!.postMessage({ type: 'tally.tokenize', requestId: 'sibling' }, '*'));
    await page.evaluate(() => (window as unknown as { tokenize(id: string): void }).tokenize('parent'));
    await expect.poll(async () => (await received()).filter((m) => m.type === 'tally.card_token').length).toBe(1);
    const [token] = (await received()).filter((m) => m.type === 'tally.card_token');
    expect(token).toEqual({
      type: 'tally.card_token', requestId: 'parent',
      card: { pspTokens: { stripe: expect.stringMatching(/^pm_/), adyen: expect.stringMatching(/^adyen_tok_/) }, brand: 'visa', last4: '4242', country: 'US' },
    });
  });

  it('cannot be framed by an origin other than the one it was asked for', async () => {
    const { page } = browser;
    // Origin B frames the fields, declaring origin A: the browser refuses to render them.
    await page.goto(`${origins.b}/?declare=${encodeURIComponent(origins.a)}`);
    await page.waitForFunction(() => (window as unknown as { cardLoaded?: boolean }).cardLoaded === true);
    expect(await page.frameLocator('#card').locator('#number').count()).toBe(0);
    expect(await all()).toEqual([]);
  });

  it('reports a bad field to the parent and marks it for the buyer; Enter asks the parent to pay', async () => {
    const { page } = browser;
    await page.goto(origins.a);
    const card = page.frameLocator('#card');
    await expect.poll(async () => (await received()).length).toBe(1);
    await card.getByLabel('Card number').fill('4242424242424241');
    await card.getByLabel('Expiry (MM / YY)').fill('12 / 39');
    await card.getByLabel('Security code').fill('123');
    await page.evaluate(() => (window as unknown as { tokenize(id: string): void }).tokenize('bad'));
    await expect.poll(async () => (await received()).find((m) => m.type === 'tally.card_error')).toEqual({
      type: 'tally.card_error', requestId: 'bad', message: 'Your card number is invalid.', field: 'number', code: 'invalid_number',
    });
    await expect.poll(() => card.getByRole('alert').textContent()).toBe('Your card number is invalid.');
    expect(await card.getByLabel('Card number').getAttribute('aria-invalid')).toBe('true');
    await card.getByLabel('Security code').press('Enter');
    await expect.poll(async () => (await received()).some((m) => m.type === 'tally.card_submit')).toBe(true);
  });
});
