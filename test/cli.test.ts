/**
 * The `tally` CLI as users run it: `node bin/tally.mjs` in a subprocess against the real API over
 * HTTP, checking exit codes, JSON output, human tables and error messages.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson, repoRoot, runCli, type CliResult } from './support/cli-runner.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const stateFilePath = path.join(repoRoot, '.tally', 'stack.json');

let stack: TestStack;
/** Runs the CLI against the test stack with the given key. */
const tally = (key: string, ...args: string[]): Promise<CliResult> =>
  runCli(['--api-url', stack.url, '--api-key', key, ...args]);

interface KeyJson { id: string; tenantId: string; name: string; role: string; secret?: string; secretLast4: string; revokeTime: string | null }
interface CreateTenantJson { tenant: { id: string; name: string }; ownerApiKey: KeyJson }

beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

// Each test works on its own tenant, so they run concurrently: most of the time is process start-up.
describe.concurrent('tally CLI', () => {
  it('--help exits 0 and lists the tenant and apikey commands', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\s+tenant\b/m);
    expect(result.stdout).toMatch(/^\s+apikey\b/m);
  });

  it('tenant create --json returns a tenant and an owner key that then works', async () => {
    const created = parseJson<CreateTenantJson>(await tally(stack.adminKey, 'tenant', 'create', '--name', 'CLI Shop', '--json'));
    expect(created.tenant.id).toMatch(/^ten_/);
    expect(created.tenant.name).toBe('CLI Shop');
    expect(created.ownerApiKey.secret).toMatch(/^sk_/);
    expect(created.ownerApiKey.role).toBe('owner');
    expect(created.ownerApiKey.tenantId).toBe(created.tenant.id);

    const got = parseJson<{ id: string; name: string }>(await tally(created.ownerApiKey.secret!, 'tenant', 'get', '--json'));
    expect(got).toMatchObject({ id: created.tenant.id, name: 'CLI Shop' });
  });

  it('apikey create then apikey list shows the key with its role and without its secret', async () => {
    const { ownerKey, tenantId } = await stack.newTenant('CLI Keys');
    const key = parseJson<KeyJson>(await tally(ownerKey, 'apikey', 'create', '--name', 'ci', '--role', 'viewer', '--json'));
    expect(key).toMatchObject({ name: 'ci', role: 'viewer', tenantId });
    expect(key.id).toMatch(/^key_/);
    expect(key.secret).toMatch(/^sk_/);

    const listed = parseJson<KeyJson[]>(await tally(ownerKey, 'apikey', 'list', '--json'));
    const entry = listed.find((k) => k.id === key.id);
    expect(entry).toMatchObject({ name: 'ci', role: 'viewer', secretLast4: key.secret!.slice(-4), revokeTime: null });
    expect(entry).not.toHaveProperty('secret');
    // The owner key created with the tenant is listed too, also without a secret.
    expect(listed.length).toBe(2);
    expect(listed.every((k) => !('secret' in k))).toBe(true);
    expect(listed.map((k) => k.role).sort()).toEqual(['owner', 'viewer']);
  });

  it('apikey list without --json prints a table with an ID, NAME, ROLE header', async () => {
    const { ownerKey } = await stack.newTenant('CLI Table');
    parseJson<KeyJson>(await tally(ownerKey, 'apikey', 'create', '--name', 'table-key', '--role', 'developer', '--json'));
    const result = await tally(ownerKey, 'apikey', 'list');
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+ROLE\b/);
    expect(rows.some((row) => /\btable-key\s+developer\b/.test(row))).toBe(true);
    expect(result.stdout).not.toMatch(/sk_/);
  });

  it('apikey revoke makes the revoked secret fail with unauthenticated', async () => {
    const { ownerKey } = await stack.newTenant('CLI Revoke');
    const key = parseJson<KeyJson>(await tally(ownerKey, 'apikey', 'create', '--name', 'doomed', '--role', 'developer', '--json'));
    // Use it once first, so that the server has it cached: revocation must still apply at once.
    parseJson<{ id: string }>(await tally(key.secret!, 'tenant', 'get', '--json'));

    const revoked = await tally(ownerKey, 'apikey', 'revoke', key.id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(key.id);

    const refused = await tally(key.secret!, 'tenant', 'get');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: unauthenticated\b/);
    expect(refused.stdout).toBe('');

    const listed = parseJson<KeyJson[]>(await tally(ownerKey, 'apikey', 'list', '--json'));
    expect(listed.find((k) => k.id === key.id)?.revokeTime).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('tenant create with a tenant key instead of the admin key is permission_denied', async () => {
    const { ownerKey } = await stack.newTenant('CLI Not Admin');
    const result = await tally(ownerKey, 'tenant', 'create', '--name', 'Sneaky');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: permission_denied\b/);

    // With --json the error is machine-readable on stdout, with the same exit code.
    const json = await tally(ownerKey, 'tenant', 'create', '--name', 'Sneaky', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'permission_denied', reason: 'PERMISSION_DENIED' } });
  });

  it('apikey create --role bogus is rejected with the allowed choices', async () => {
    const { ownerKey } = await stack.newTenant('CLI Bad Role');
    const result = await tally(ownerKey, 'apikey', 'create', '--name', 'x', '--role', 'bogus');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("argument 'bogus' is invalid");
    expect(result.stderr).toMatch(/owner, developer, viewer/);
    // Rejected before any request: the tenant still has only its owner key.
    const listed = parseJson<KeyJson[]>(await tally(ownerKey, 'apikey', 'list', '--json'));
    expect(listed.map((k) => k.role)).toEqual(['owner']);
  });

  // The state file path is fixed; while someone runs `npm start` it exists and this case cannot arise.
  it.runIf(!existsSync(stateFilePath))('without a stack file or --api-url it says to run npm start', async () => {
    const result = await runCli(['tenant', 'get']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('npm start');
    expect(result.stderr).toContain('--api-url');
  });
});

describe('tally ledger verify', () => {
  it('reports a clean chain (exit 0) and names the tampered entry (exit 1), for the admin with --tenant too', async () => {
    const { tenantId, ownerKey, owner } = await stack.newTenant('Verify');
    const { openAccount, transfer } = await import('./support/ledger-helpers.js');
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await owner.ledger.createEntry(transfer(a, b, 5n))).entry!.id);

    const clean = await tally(ownerKey, 'ledger', 'verify', '--json');
    expect(parseJson<{ ok: boolean; entriesChecked: number }>(clean)).toMatchObject({ ok: true, entriesChecked: 3, firstBadEntryId: null });
    const human = await tally(ownerKey, 'ledger', 'verify');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('ledger chain OK: 3 records');

    await stack.services.db.doc(`tenants/${tenantId}/journal/${ids[1]}`).update({ description: 'edited behind the ledger' });
    // Before the signed watermark: found by --full (ADR 0026).
    const broken = await tally(stack.adminKey, 'ledger', 'verify', '--full', '--tenant', tenantId, '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, firstBadEntryId: ids[1] });
    const brokenHuman = await tally(ownerKey, 'ledger', 'verify', '--full');
    expect(brokenHuman.code).toBe(1);
    expect(brokenHuman.stdout).toContain(`BROKEN at entry ${ids[1]}`);
  });
});

interface VerifyJson {
  ok: boolean; complete: boolean; mode: string; jobId: string | null; chunks: number; entriesChecked: number; entriesVerified: number;
  entriesTotal: number; firstBadEntryId: string | null; failureReason: string | null;
}

describe('tally ledger verify --full (issue 12 item 2)', () => {
  it('runs chunk by chunk with a progress line each, resumes an interrupted job, and exits 1 naming a record tampered before the watermark', async () => {
    const { tenantId, ownerKey, owner } = await stack.newTenant('Verify full');
    const { openAccount, transfer } = await import('./support/ledger-helpers.js');
    const a = await openAccount(owner);
    const b = await openAccount(owner);
    const entries = Array.from({ length: 30 }, (_, i) => transfer(a, b, BigInt(i + 1)));
    await Promise.all(entries.map((e) => owner.ledger.createEntry(e)));

    // Incremental, in chunks of 8: a progress line per chunk, then the summary.
    const incremental = await tally(ownerKey, 'ledger', 'verify', '--chunk-records', '8');
    expect(incremental.code).toBe(0);
    expect(incremental.stderr.match(/^chunk \d+: /gm)?.length).toBeGreaterThanOrEqual(4);
    expect(incremental.stdout).toContain('ledger chain OK: 30 records');

    // A full job stopped after one chunk ("interrupted"): exit 3, not complete.
    const partRun = await tally(ownerKey, 'ledger', 'verify', '--full', '--chunk-records', '10', '--chunks-max', '1', '--json');
    expect(partRun.code).toBe(3);
    const part = JSON.parse(partRun.stdout) as VerifyJson;
    expect(part).toMatchObject({ ok: true, complete: false, mode: 'full', chunks: 1 });
    expect(part.entriesVerified).toBeGreaterThan(0);
    expect(part.entriesVerified).toBeLessThan(30);
    const stopped = await tally(ownerKey, 'ledger', 'verify', '--full', '--chunk-records', '10', '--chunks-max', '1');
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toContain('run again to resume');
    // Resumed: the same job, reading only what the first runs did not.
    const resumed = await tally(ownerKey, 'ledger', 'verify', '--full', '--chunk-records', '10', '--json');
    expect(resumed.code).toBe(0);
    const done = parseJson<VerifyJson>(resumed);
    expect(done).toMatchObject({ ok: true, complete: true, jobId: part.jobId, entriesVerified: 30, entriesTotal: 30 });
    expect(done.entriesChecked).toBeLessThan(30);

    // Tampered before the incremental watermark: incremental passes, --full (a new job) names it.
    await stack.services.db.doc(`tenants/${tenantId}/journal/${entries[2]!.entryId}`).update({ description: 'edited behind the ledger' });
    expect((await tally(ownerKey, 'ledger', 'verify')).code).toBe(0);
    const full = await tally(ownerKey, 'ledger', 'verify', '--full', '--chunk-records', '10');
    expect(full.code).toBe(1);
    expect(full.stdout).toContain(`BROKEN at entry ${entries[2]!.entryId}`);
    expect(full.stderr).toMatch(/MISMATCH/);
  });
});
