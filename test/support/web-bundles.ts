/**
 * What each built web app makes a browser download: the JavaScript reachable from its index.html
 * (entry, module preloads, then every chunk a reachable chunk imports, statically or lazily), each
 * file gzipped with node:zlib as a server would send it. Walking from index.html, not listing
 * assets/, matters: the browser tests' builds leave older hashed files beside the current ones.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { webDistDir } from './web-build.js';

/** The apps' JavaScript budgets (issue 17), gzipped bytes. */
export const webBundleBudgetsGzipBytes = { checkout: 120 * 1024, console: 350 * 1024 } as const;
export type WebApp = keyof typeof webBundleBudgetsGzipBytes;

/** Bound on the chunk walk: an app of a few dozen chunks; more means the walk is wrong. */
const chunksMax = 1_000;

export interface WebBundle {
  app: WebApp;
  /** Sum of every reachable chunk, each gzipped (level 9, as static hosting precompresses). */
  gzipBytes: number;
  rawBytes: number;
  /** Reachable chunks, relative to the app's dist folder. */
  files: string[];
}

/** Measures web/dist/<app> as built (build it first: ensureWebBuilt or `npm run web:build`). */
export function measureWebBundle(app: WebApp): WebBundle {
  const root = path.join(webDistDir, app);
  const html = readFileSync(path.join(root, 'index.html'), 'utf8');
  const queue = [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.js)"/g)].map((m) => path.normalize(m[1]!));
  if (queue.length === 0) throw new Error(`${app}: no script in web/dist/${app}/index.html`);
  const seen = new Set<string>();
  let gzipBytes = 0;
  let rawBytes = 0;
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    if (seen.size >= chunksMax) throw new Error(`${app}: more than ${chunksMax} chunks reachable from index.html`);
    seen.add(file);
    const code = readFileSync(path.join(root, file));
    rawBytes += code.length;
    gzipBytes += gzipSync(code, { level: 9 }).length;
    // Chunks name each other relative to their own folder: `./x.js` (imports, Vite's preload lists).
    for (const m of code.toString('utf8').matchAll(/["'`]\.\/([\w.$~-]+\.js)["'`]/g)) queue.push(path.join(path.dirname(file), m[1]!));
  }
  return { app, gzipBytes, rawBytes, files: [...seen].sort() };
}
