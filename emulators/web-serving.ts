/**
 * Serves the built Vue apps locally the way Firebase Hosting serves them deployed (firebase.json
 * `hosting`): `web/dist/checkout` at `/checkout/`, `web/dist/console` at `/console/`, Hosting's
 * reserved `/__/firebase/init.json`, and `/__/tally/env.json` (where the apps find the Auth
 * emulator). Same origin as the API and the callables, so the apps need no CORS locally (ADR 0037).
 *
 * Static files only: GET/HEAD, no directory listings, nothing outside the app's folder (encoded
 * `..`, backslashes, NUL and symlinks leading out are refused), content types from a closed table,
 * and the same cache and security headers firebase.json declares for the deployed apps.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import path from 'node:path';
import { repoRoot } from './toolchain.js';

/** The apps the local server serves: URL prefix = folder name under web/dist. */
export const webApps = ['checkout', 'console'] as const;
export type WebApp = (typeof webApps)[number];

/** Content types by extension; anything else is served as application/octet-stream. */
const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite's content-hashed output (`assets/name-<hash>.js`): a new build never reuses a name. */
export const immutableCacheControl = 'public, max-age=31536000, immutable';
/** index.html names the hashed assets of the current build: always revalidated. */
export const htmlCacheControl = 'no-cache';

export interface WebServingOptions {
  /** The folder holding one built app per subfolder (web/dist). */
  distDir: string;
  /** What Hosting answers at /__/firebase/init.json: the web app's Firebase config. */
  firebaseInit: { projectId: string; apiKey: string; authDomain: string };
  /** /__/tally/env.json: `{ authEmulatorUrl }` locally, `{}` deployed. */
  tallyEnv: Readonly<Record<string, string>>;
  /** The origin of the PSP's hosted card fields (the checkout's only frame), for the CSP. */
  cardFieldsOrigin: string;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * The Content-Security-Policy of an app's HTML: scripts and styles from the app's own origin only,
 * data calls to the same origin (callables, init.json) plus Firebase Auth, and frames from the
 * PSP's card fields origin only (checkout) so card numbers are typed into the PSP's page (SAQ-A).
 * firebase.json declares the deployed equivalent; test/web-serving.test.ts keeps them in step.
 */
export function contentSecurityPolicy(app: WebApp, options: { cardFieldsOrigin: string; authOrigins: readonly string[] }): string {
  const frames = app === 'checkout' ? options.cardFieldsOrigin : "'self' blob:";
  return [
    "default-src 'self'",
    "script-src 'self'",
    // Vue's :style bindings set style attributes; no inline scripts are ever allowed.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    `connect-src 'self' ${options.authOrigins.join(' ')}`.trim(),
    `frame-src ${frames}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * A handler for the web paths: returns false (and leaves the response alone) for any other path, so
 * the caller passes the request on to the API.
 */
export function createWebHandler(options: WebServingOptions): (req: AnyRequest, res: AnyResponse) => boolean {
  const roots = new Map<string, string>(webApps.map((app) => [app, path.resolve(options.distDir, app)]));
  const authOrigins = options.tallyEnv.authEmulatorUrl ? [options.tallyEnv.authEmulatorUrl] : [];
  const json = (res: AnyResponse, body: unknown) => {
    const bytes = Buffer.from(JSON.stringify(body));
    (res as ServerResponse).writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.byteLength, 'cache-control': 'no-store' });
    res.end(bytes);
  };
  return (req, res) => {
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    const appName = /^\/([a-z]+)(\/|$)/.exec(pathname)?.[1];
    const isApp = appName !== undefined && roots.has(appName);
    if (!isApp && !pathname.startsWith('/__/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      (res as ServerResponse).writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    if (pathname === '/__/firebase/init.json') return json(res, options.firebaseInit), true;
    if (pathname === '/__/tally/env.json') return json(res, options.tallyEnv), true;
    if (!isApp) return notFound(res), true;
    const app = appName as WebApp;
    if (pathname === `/${app}`) {
      // Relative asset URLs (Vite base './') resolve against the folder: redirect as Hosting does.
      (res as ServerResponse).writeHead(301, { location: `/${app}/` });
      res.end();
      return true;
    }
    const file = resolveFile(roots.get(app)!, pathname.slice(app.length + 2));
    if (file === undefined) return notFound(res), true;
    const isHtml = path.extname(file) === '.html';
    const headers: Record<string, string | number> = {
      'content-type': contentTypes[path.extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cache-control': isHtml ? htmlCacheControl : pathname.startsWith(`/${app}/assets/`) ? immutableCacheControl : 'public, max-age=300',
      'x-content-type-options': 'nosniff',
    };
    if (isHtml) {
      headers['content-security-policy'] = contentSecurityPolicy(app, { cardFieldsOrigin: options.cardFieldsOrigin, authOrigins });
      headers['referrer-policy'] = 'no-referrer';
    }
    (res as ServerResponse).writeHead(200, headers);
    if (req.method === 'HEAD') return res.end(), true;
    createReadStream(file).on('error', () => res.destroy()).pipe(res as ServerResponse);
    return true;
  };
}

/**
 * The file a request path names inside `root`, or undefined. Each segment is percent-decoded once;
 * `.`/`..` segments, separators or NUL inside a segment, and symlinks leading out of `root` are
 * refused. A path naming no file and without an extension gets the app's index.html (the SPA
 * fallback firebase.json declares); a missing file with an extension is not found.
 */
export function resolveFile(root: string, relative: string): string | undefined {
  const segments: string[] = [];
  for (const raw of relative.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined; // malformed percent-encoding
    }
    if (segment === '') continue;
    if (segment === '.' || segment === '..' || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  const wanted = path.join(root, ...segments);
  const file = existingFile(root, wanted) ?? existingFile(root, path.join(wanted, 'index.html'));
  if (file !== undefined) return file;
  const last = segments.at(-1) ?? '';
  return last.includes('.') ? undefined : existingFile(root, path.join(root, 'index.html'));
}

function existingFile(root: string, candidate: string): string | undefined {
  try {
    const real = realpathSync(candidate);
    const realRoot = realpathSync(root);
    if (!real.startsWith(realRoot + path.sep)) return undefined;
    return statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined; // missing (or unreadable): not found
  }
}

function notFound(res: AnyResponse): void {
  (res as ServerResponse).writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end('not found\n');
}

/**
 * The local server's web handler for a composed stack: web/dist, the stack's Firebase project,
 * the Auth emulator it uses, and the origin of the card fields page (TALLY_CHECKOUT_CARD_FIELDS_URL,
 * else the sandbox PSP the Stripe connector talks to, which serves them locally) as the checkout's one
 * allowed frame origin.
 */
export function createLocalWebHandler(
  config: { projectId: string; authEmulatorHost: string; stripe: { apiUrl: string }; checkout: { cardFieldsUrl: string } },
  distDir = path.join(repoRoot, 'web', 'dist'),
) {
  const cardFieldsUrl = config.checkout.cardFieldsUrl !== '' ? config.checkout.cardFieldsUrl : config.stripe.apiUrl;
  return createWebHandler({
    distDir,
    // Any API key works against the Auth emulator; deployed, Hosting serves the real web config.
    firebaseInit: { projectId: config.projectId, apiKey: 'local-emulator-api-key', authDomain: `${config.projectId}.firebaseapp.com` },
    tallyEnv: config.authEmulatorHost === '' ? {} : { authEmulatorUrl: `http://${config.authEmulatorHost}` },
    cardFieldsOrigin: new URL(cardFieldsUrl).origin,
  });
}
