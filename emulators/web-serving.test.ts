/**
 * The local static serving of the built apps (web-serving.ts) over real HTTP: content types, cache
 * and security headers, Hosting's reserved URLs, the SPA fallback, and no way out of an app's folder.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallableFunctionName } from '../functions/src/compose-callables.js';
import { repoRoot } from './toolchain.js';
import { contentSecurityPolicy, createWebHandler, htmlCacheControl, immutableCacheControl, webApps, type WebApp } from './web-serving.js';

let root: string;
let server: http.Server;
let port: number;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tally-web-serving-'));
  const dist = path.join(root, 'dist');
  for (const app of ['checkout', 'console']) {
    mkdirSync(path.join(dist, app, 'assets'), { recursive: true });
    writeFileSync(path.join(dist, app, 'index.html'), `<!doctype html><title>${app}</title>`);
    writeFileSync(path.join(dist, app, 'assets', 'index-AbC123.js'), 'console.log(1)');
    writeFileSync(path.join(dist, app, 'assets', 'index-AbC123.css'), 'body{}');
  }
  writeFileSync(path.join(dist, 'console', 'assets', 'logo.svg'), '<svg/>');
  writeFileSync(path.join(dist, 'console', 'assets', 'data.bin'), 'x');
  // Things that must never be served: a secret beside the dist folder, one next to the apps, and
  // a symlink inside an app pointing out of it.
  writeFileSync(path.join(root, 'secret.txt'), 'secret');
  writeFileSync(path.join(dist, 'sibling-secret.txt'), 'secret');
  symlinkSync(path.join(root, 'secret.txt'), path.join(dist, 'console', 'assets', 'link.txt'));
  const handler = createWebHandler({
    distDir: dist,
    firebaseInit: { projectId: 'demo-x', apiKey: 'k', authDomain: 'demo-x.firebaseapp.com' },
    tallyEnv: { authEmulatorUrl: 'http://127.0.0.1:9099' },
    cardFieldsOrigin: 'http://127.0.0.1:12111',
  });
  server = http.createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(418);
      res.end('api');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

/** A raw request: the path is sent exactly as written (fetch would normalize "..").*/
function get(rawPath: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serving the built apps', () => {
  it.each(['checkout', 'console'])('serves /%s/ as its index.html, revalidated, with the app CSP', async (app) => {
    const res = await get(`/${app}/`);
    expect(res.status).toBe(200);
    expect(res.body).toContain(`<title>${app}</title>`);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe(htmlCacheControl);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const csp = res.headers['content-security-policy']!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain('connect-src \'self\' http://127.0.0.1:9099');
    expect(csp).toContain(app === 'checkout' ? 'frame-src http://127.0.0.1:12111' : "frame-src 'self' blob:");
  });

  it('serves hashed assets with their content type, cached for a year', async () => {
    for (const [file, type] of [['index-AbC123.js', 'text/javascript; charset=utf-8'], ['index-AbC123.css', 'text/css; charset=utf-8'], ['logo.svg', 'image/svg+xml'], ['data.bin', 'application/octet-stream']]) {
      const res = await get(`/console/assets/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers['content-type'], file).toBe(type);
      expect(res.headers['cache-control'], file).toBe(immutableCacheControl);
      expect(res.headers['content-security-policy'], file).toBeUndefined();
    }
  });

  it('redirects /console to /console/ (relative asset URLs resolve against the folder)', async () => {
    const res = await get('/console?x=1');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/console/');
  });

  it('falls back to index.html for an extensionless path, 404 for a missing file', async () => {
    expect((await get('/console/payments/pay_123')).body).toContain('<title>console</title>');
    expect((await get('/console/assets/missing-123.js')).status).toBe(404);
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get('/checkout/assets/index-AbC123.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('console.log(1)'.length));
    expect(head.body).toBe('');
    const post = await get('/checkout/', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it.each([
    '/console/../secret.txt',
    '/console/../../secret.txt',
    '/console/..%2f..%2fsecret.txt',
    '/console/%2e%2e/%2e%2e/secret.txt',
    '/console/%2E%2E%2F%2E%2E%2Fsecret.txt',
    '/console/..%5c..%5csecret.txt',
    '/console/assets/..%2f..%2f..%2fsibling-secret.txt',
    '/console/..%252f..%252fsecret.txt',
    '/console/%00../secret.txt',
    '/console/assets/link.txt',
    '/console/%E0%A4%A',
    '/checkout/../console/../../secret.txt',
  ])('never serves anything outside the app folder: %s', async (rawPath) => {
    const res = await get(rawPath);
    expect(res.body).not.toContain('secret');
    // A path naming nothing may get the app shell (SPA fallback) or a 404, nothing else.
    expect([200, 404]).toContain(res.status);
    if (res.status === 200) expect(res.body).toMatch(/<title>(console|checkout)<\/title>/);
  });

  it('serves Hosting\'s init.json and the local env.json, never cached', async () => {
    const init = await get('/__/firebase/init.json');
    expect(JSON.parse(init.body)).toEqual({ projectId: 'demo-x', apiKey: 'k', authDomain: 'demo-x.firebaseapp.com' });
    expect(init.headers['cache-control']).toBe('no-store');
    expect(JSON.parse((await get('/__/tally/env.json')).body)).toEqual({ authEmulatorUrl: 'http://127.0.0.1:9099' });
    expect((await get('/__/other')).status).toBe(404);
  });

  it('leaves every other path to the API', async () => {
    for (const p of ['/tally.payments.v1.PaymentsService/ListPayments', '/checkoutx/', '/healthz', '/']) expect((await get(p)).status, p).toBe(418);
  });
});

describe('firebase.json hosting (the deployed serving)', () => {
  interface Site {
    target: string; public: string; ignore: string[];
    rewrites: { source?: string; regex?: string; destination?: string; function?: { functionId: string; region: string } }[];
    headers: { source?: string; regex?: string; headers: { key: string; value: string }[] }[];
  }
  const hosting = (JSON.parse(readFileSync(path.join(repoRoot, 'firebase.json'), 'utf8')) as { hosting: Site[] }).hosting;
  const siteOf = (app: WebApp) => hosting.find((s) => s.target === app)!;
  const functionOf: Record<WebApp, CallableFunctionName> = { checkout: 'checkoutCallables', console: 'consoleCallables' };
  // What the deployed apps talk to: their origin (callables, init.json), and Firebase Auth for the console.
  const deployedAuthOrigins: Record<WebApp, string[]> = { checkout: [], console: ['https://identitytoolkit.googleapis.com', 'https://securetoken.googleapis.com'] };

  it.each(webApps)('serves the %s app under /<app>/ as locally, and only that app', (app) => {
    const site = siteOf(app);
    expect(site.public).toBe('web/dist');
    expect(site.ignore).toContain(`${webApps.find((a) => a !== app)}/**`);
    expect(site.rewrites).toContainEqual({ regex: `^/${app}/[^.]*$`, destination: `/${app}/index.html` });
  });

  it.each(webApps)('rewrites /callables/** of the %s site to its callable function, in the functions\' region', (app) => {
    const rewrite = siteOf(app).rewrites.find((r) => r.source === '/callables/**');
    expect(rewrite?.function?.functionId).toBe(functionOf[app]);
    const terraformRegion = /variable "region" \{[^}]*default\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(repoRoot, 'terraform/main.tf'), 'utf8'))?.[1];
    expect(rewrite?.function?.region).toBe(terraformRegion);
  });

  it.each(webApps)('sends the %s app the same CSP and cache headers as the local server', (app) => {
    const headers = siteOf(app).headers;
    const all = headers.find((h) => h.source === `/${app}/**`)!.headers;
    const csp = all.find((h) => h.key === 'Content-Security-Policy')!.value;
    const frame = /frame-src ([^;]+)/.exec(csp)![1]!;
    expect(csp).toBe(contentSecurityPolicy(app, { cardFieldsOrigin: frame, authOrigins: deployedAuthOrigins[app] }));
    if (app === 'checkout') expect(frame).toMatch(/^https:\/\/[^ ]+$/); // exactly one origin: the PSP's card fields
    expect(all).toContainEqual({ key: 'X-Content-Type-Options', value: 'nosniff' });
    expect(headers.find((h) => h.source === `/${app}/assets/**`)!.headers).toEqual([{ key: 'Cache-Control', value: immutableCacheControl }]);
    expect(headers.find((h) => h.regex === `^/${app}/[^.]*$`)!.headers).toEqual([{ key: 'Cache-Control', value: htmlCacheControl }]);
  });
});
