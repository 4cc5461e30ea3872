/**
 * The web apps' JavaScript budgets (issue 17): what a browser downloads for each app, gzipped, from
 * Vite's build output - checkout under 120 KB (a buyer on a phone network), console under 350 KB.
 */
import { describe, expect, it } from 'vitest';
import { measureWebBundle, webBundleBudgetsGzipBytes, type WebApp } from './support/web-bundles.js';
import { ensureWebBuilt } from './support/web-build.js';

describe('web bundle budgets', () => {
  it.each(Object.keys(webBundleBudgetsGzipBytes) as WebApp[])('%s JavaScript stays within its gzipped budget', async (app) => {
    await ensureWebBuilt();
    const bundle = measureWebBundle(app);
    // The walk found the entry and what it loads (a walk that finds nothing would pass any budget).
    expect(bundle.files.some((f) => /^assets\/index-[\w-]+\.js$/.test(f))).toBe(true);
    expect(bundle.gzipBytes).toBeGreaterThan(10 * 1024);
    expect(bundle.gzipBytes, `${app}: ${bundle.files.join(', ')}`).toBeLessThan(webBundleBudgetsGzipBytes[app]);
  }, 400_000);
});
