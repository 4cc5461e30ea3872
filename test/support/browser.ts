/**
 * The browser-test harness (issue 17): Debian's Chromium driven by playwright-core, against the
 * real local stack (API + callables + the built apps on one origin, the sandbox PSP, the emulators).
 *
 * - `useBrowser()` in a test file: one browser per file, a fresh context (cookies, storage) per test,
 *   a screenshot to test-results/screenshots/<file>--<test>.png when a test fails.
 * - `startBrowserStack()`: the payments stack (test-stack + sandbox PSP + Pub/Sub bridge) on the
 *   emulators' default project (the one the Auth emulator signs browser users into), with the
 *   apps built once per run; `consoleUser()` makes Auth emulator users with `{tenantId, role}` claims.
 * - `readmeScreenshot(page, name)`: writes docs/screenshots/<name>.png when TALLY_UPDATE_SCREENSHOTS=1
 *   or when the file is missing.
 * Usage: /tmp/coord/browser-harness.md and test/web-smoke.browser.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { chromiumPath } from '../../emulators/chromium.js';
import { demoConsolePassword } from '../../emulators/demo-users.js';
import { repoRoot } from '../../emulators/toolchain.js';
import { startPaymentsStack, type PaymentsStack } from './payments-stack.js';
import { ensureWebBuilt } from './web-build.js';

/** The password of every console user the harness creates (npm start's demo users' too). */
export const consolePassword = demoConsolePassword;
/** Default bound on a single page action or expectation (the machine is shared and slow). */
export const actionTimeoutMs = 15_000;
const screenshotsDir = path.join(repoRoot, 'test-results', 'screenshots');
const readmeScreenshotsDir = path.join(repoRoot, 'docs', 'screenshots');

/** Chromium as the project runs it: headless, no sandbox (root), no GPU, no background traffic. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}

export interface BrowserHandle {
  /** The current test's page (a fresh context per test). */
  readonly page: Page;
  /** The current test's context (add pages, e.g. a second tab, from it). */
  readonly context: BrowserContext;
  readonly browser: Browser;
  /** A further isolated context within the current test (e.g. a second user); closed after the test. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
}

/**
 * Registers the hooks of a browser test file: launch once, a fresh context + page per test, a
 * failure screenshot, and clean-up. `contextOptions` applies to every test's context (e.g. a phone
 * viewport, a locale).
 */
export function useBrowser(contextOptions: BrowserContextOptions = {}): BrowserHandle {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let extra: BrowserContext[] = [];
  beforeAll(async () => { browser = await launchBrowser(); }, 120_000);
  afterAll(async () => { await browser?.close(); });
  beforeEach(async () => {
    context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', ...contextOptions });
    context.setDefaultTimeout(actionTimeoutMs);
    page = await context.newPage();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      const file = path.basename(ctx.task.file.name).replace(/\.test\.ts$/, '');
      const name = `${file}--${ctx.task.name}`.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 150);
      mkdirSync(screenshotsDir, { recursive: true });
      // Every page of every context of the test: the failing step may be in a second tab or user.
      const pages = [context, ...extra].flatMap((c) => c?.pages() ?? []);
      await Promise.all(pages.map((p, i) => p.screenshot({ path: path.join(screenshotsDir, `${name}${i === 0 ? '' : `-${i}`}.png`), fullPage: true, timeout: 5_000 })
        .catch(() => undefined)));
    }
    await Promise.all([context, ...extra].map((c) => c?.close()));
    extra = [];
  });
  return {
    get page() { if (!page) throw new Error('useBrowser: no page outside a test'); return page; },
    get context() { if (!context) throw new Error('useBrowser: no context outside a test'); return context; },
    get browser() { if (!browser) throw new Error('useBrowser: no browser outside a test'); return browser; },
    async newContext(options = {}) {
      const c = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', ...contextOptions, ...options });
      c.setDefaultTimeout(actionTimeoutMs);
      extra.push(c);
      return c;
    },
  };
}

/** Whether README screenshots are (re)written: TALLY_UPDATE_SCREENSHOTS=1, or the file is missing. */
export function shouldUpdateReadmeScreenshot(name: string): boolean {
  return process.env.TALLY_UPDATE_SCREENSHOTS === '1' || !existsSync(path.join(readmeScreenshotsDir, `${name}.png`));
}

/**
 * Saves the page as docs/screenshots/<name>.png (the README's pictures) when it should be updated.
 * Call it at the point of the test where the page shows what the README means.
 */
export async function readmeScreenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`readmeScreenshot: name "${name}" must be kebab-case`);
  if (!shouldUpdateReadmeScreenshot(name)) return;
  mkdirSync(readmeScreenshotsDir, { recursive: true });
  // Fonts and images settled, caret hidden: a screenshot that differs only by noise is not a change.
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: path.join(readmeScreenshotsDir, `${name}.png`), fullPage: options.fullPage ?? false, caret: 'hide', animations: 'disabled' });
}

export interface ConsoleUser {
  uid: string;
  email: string;
  password: string;
  tenantId: string;
  role: string;
}

export interface BrowserStack extends PaymentsStack {
  /** The origin serving the API, /callables/, /checkout/ and /console/. */
  url: string;
  checkoutUrl: string;
  consoleUrl: string;
  /** The emulators' project: the one the Auth emulator signs browser users into. */
  projectId: string;
  /** An Auth emulator user with custom claims `{tenantId, role}` (role: owner, developer, viewer, ...). */
  consoleUser(tenantId: string, role: string, email?: string): Promise<ConsoleUser>;
}

/** firebase-admin on the emulators' default project (FIREBASE_AUTH_EMULATOR_HOST is set by apply-env). */
function adminAuth() {
  const projectId = process.env.GCLOUD_PROJECT;
  const app = getApps().find((a) => a.options.projectId === projectId) ?? initializeApp({ projectId }, `browser-harness-${projectId}`);
  return getAuth(app);
}

/** Creates an Auth emulator user with `{tenantId, role}` claims and the console password. */
export async function createConsoleUser(tenantId: string, role: string, email = `${role}-${randomUUID().slice(0, 8)}@${tenantId.toLowerCase().replace(/[^a-z0-9]/g, '')}.test`): Promise<ConsoleUser> {
  const auth = adminAuth();
  const user = await auth.createUser({ email, password: consolePassword, emailVerified: true });
  await auth.setCustomUserClaims(user.uid, { tenantId, role });
  return { uid: user.uid, email, password: consolePassword, tenantId, role };
}

/**
 * The stack a browser test needs: the apps built (once per run), the payments stack on the
 * emulators' default project, serving the apps and the callables on its one origin.
 */
export async function startBrowserStack(env: Record<string, string> = {}): Promise<BrowserStack> {
  await ensureWebBuilt();
  const projectId = process.env.GCLOUD_PROJECT;
  if (!projectId) throw new Error('startBrowserStack: GCLOUD_PROJECT is not set (test/support/apply-env.ts sets it)');
  // The default project, not a per-stack one: the browser's Firebase Auth signs users in to the Auth
  // emulator's default project, and the API accepts ID tokens of its own project only.
  const payments = await startPaymentsStack({ GCLOUD_PROJECT: projectId, ...env });
  const url = payments.stack.url;
  return {
    ...payments,
    url,
    checkoutUrl: `${url}/checkout/`,
    consoleUrl: `${url}/console/`,
    projectId,
    consoleUser: (tenantId, role, email) => createConsoleUser(tenantId, role, email),
  };
}

/**
 * Starts recording the page's errors (uncaught exceptions, console.error, HTTP responses >= 400 but
 * the browser's own /favicon.ico probe); the returned function fails the test if any were seen.
 */
export function collectPageErrors(page: Page): () => void {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico') errors.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('console', (message) => {
    // The failed response itself is reported above, with its URL.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(`console.error: ${message.text()}`);
  });
  return () => expect(errors, 'errors in the page').toEqual([]);
}
