/**
 * `npm run bench:api`: throughput and latency of an authenticated GetTenant through the full stack
 * (HTTP guard, ConnectRPC, auth, Firestore emulator read) against a bare Functions Framework
 * handler, measured side by side in one run with the same real load generator (autocannon, in its
 * own process). Prints one JSON object as its last line. Goal: apiRps / bareRps >= 0.5.
 */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import { benchLog, runBench } from './support.js';

const durationS = Number(process.env.BENCH_DURATION_S ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const root = path.resolve(import.meta.dirname, '..');
const log = benchLog('bench:api');

interface LoadResult { rps: number; p50Ms: number; p99Ms: number; errors: number; non2xx: number; requests: number }

/** Runs autocannon in a child process so that the load generator does not share our event loop. */
async function load(url: string, options: { method: string; headers: Record<string, string>; body?: string; seconds: number }): Promise<LoadResult> {
  const args = ['-c', String(connections), '-d', String(options.seconds), '-m', options.method, '--json'];
  for (const [k, v] of Object.entries(options.headers)) args.push('-H', `${k}=${v}`);
  if (options.body !== undefined) args.push('-b', options.body);
  args.push(url);
  const { stdout } = await promisify(execFile)(path.join(root, 'node_modules/.bin/autocannon'), args, { maxBuffer: 64 * 1024 * 1024, timeout: (options.seconds + 60) * 1000 });
  const r = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
  return { rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors, non2xx: r.non2xx, requests: r.requests.total };
}

runBench('bench:api', async () => {
  {
    const { createHash, randomBytes, randomUUID } = await import('node:crypto');
    const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
    process.env.TALLY_PLATFORM_ADMIN_KEY_SHA256 = createHash('sha256').update(adminKey).digest('hex');
    const { parseConfig } = await import('../functions/src/platform/config/config.js');
    const { composeServices } = await import('../functions/src/compose.js');
    const { startHttpServer } = await import('./../emulators/api-server.js');
    const { createTallyClient } = await import('../functions/src/cli/client.js');
    const api = await startHttpServer(composeServices(parseConfig()), { port: 0 });
    // The same stack with the per-instance auth and tenant caches off: every request reads Firestore.
    const apiNoCache = await startHttpServer(composeServices(parseConfig({ ...process.env, TALLY_AUTH_CACHE_TTL_MS: '0', TALLY_TENANT_CACHE_TTL_MS: '0' })), { port: 0 });
    const created = await createTallyClient(api.url, adminKey).tenancy.createTenant({ name: 'Bench', idempotencyKey: randomUUID() });
    const ownerKey = created.ownerApiKey!.secret;

    // The baseline: the smallest possible Functions Framework HTTP function, same process.
    const ff = await import('@google-cloud/functions-framework');
    const { getTestServer } = await import('@google-cloud/functions-framework/testing');
    ff.http('bareBench', (_req, res) => { res.status(200).json({ tenant: { id: 'ten_bare', name: 'Bare' } }); });
    const bareServer = getTestServer('bareBench');
    await new Promise<void>((resolve) => bareServer.listen(0, '127.0.0.1', resolve));
    const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}/`;

    const apiRequest = {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ownerKey}` },
      body: '{}',
    };
    const apiUrl = `${api.url}/tally.tenancy.v1.TenancyService/GetTenant`;
    const apiNoCacheUrl = `${apiNoCache.url}/tally.tenancy.v1.TenancyService/GetTenant`;
    log(`warming up (${connections} connections) ...`);
    await load(bareUrl, { ...apiRequest, seconds: 2 });
    await load(apiUrl, { ...apiRequest, seconds: 2 });
    log(`measuring bare handler for ${durationS}s ...`);
    const bare = await load(bareUrl, { ...apiRequest, seconds: durationS });
    log(`measuring GetTenant through the full stack for ${durationS}s ...`);
    const full = await load(apiUrl, { ...apiRequest, seconds: durationS });
    log(`measuring GetTenant with caches off for ${durationS}s ...`);
    const noCache = await load(apiNoCacheUrl, { ...apiRequest, seconds: durationS });
    for (const [name, r] of [['api', full], ['api without caches', noCache]] as const) {
      if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name} answered ${r.non2xx} non-2xx and ${r.errors} errors out of ${r.requests}`);
    }

    await new Promise<void>((resolve) => bareServer.close(() => resolve()));
    await api.close();
    await apiNoCache.close();
    const result = {
      bareRps: Math.round(bare.rps),
      apiRps: Math.round(full.rps),
      apiP50Ms: full.p50Ms,
      apiP99Ms: full.p99Ms,
      ratio: Number((full.rps / bare.rps).toFixed(3)),
      goal: 'apiRps / bareRps >= 0.5',
      connections,
      durationS,
      apiRequests: full.requests,
      apiNoCacheRps: Math.round(noCache.rps),
      apiNoCacheP50Ms: noCache.p50Ms,
      apiNoCacheP99Ms: noCache.p99Ms,
      bareP50Ms: bare.p50Ms,
      bareP99Ms: bare.p99Ms,
    };
    return result;
  }
});
