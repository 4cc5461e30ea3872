/**
 * `tally webhooks ...` (issue 16 item 6) against the
 * API on the emulators: endpoint create/list/update/roll-secret/delete, deliveries with --status,
 * resend (in process: a subprocess per command costs seconds of start-up on a loaded machine), and
 * `listen` as users run it (bin/tally.mjs in a subprocess), whose forwarded events a real receiver verifies with the printed secret
 * through the `standardwebhooks` package; Ctrl-C (SIGINT) removes the temporary endpoint.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli as runCliInProcess } from '../functions/src/cli/main.js';
import { parseJson, repoRoot, type CliResult } from './support/cli-runner.js';
import { eventually } from './support/eventually.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

/** The CLI's own entry in this process, its stdout captured. */
async function runCli(args: string[]): Promise<CliResult> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { chunks.push(String(chunk)); return true; });
  const stderrSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await runCliInProcess(args);
    process.exitCode = undefined;
    return { code, stdout: chunks.join(''), stderr: '' };
  } finally {
    spy.mockRestore();
    stderrSpy.mockRestore();
  }
}

let stack: TestStack;
let receiver: http.Server;
let receiverUrl: string;
const received: Array<{ path: string; headers: Record<string, string>; body: string }> = [];

beforeAll(async () => {
  stack = await startTestStack();
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])), body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.url === '/fail' ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('tally webhooks', () => {
  it('endpoint create/list/update/roll-secret/delete, deliveries --status, resend', async () => {
    const { ownerKey, owner } = await stack.newTenant();
    const tally = (...args: string[]): Promise<CliResult> => runCli(['--api-url', stack.url, '--api-key', ownerKey, ...args]);
    const created = parseJson<{ id: string; secret: string; enabledEvents: string[] }>(await tally('--json', 'webhooks', 'endpoint', 'create', '--url', `${receiverUrl}/fail`, '--events', 'payment.*,ledger.entry.posted'));
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.enabledEvents).toEqual(['ledger.entry.posted', 'payment.*']);
    const listed = parseJson<Array<{ id: string; secret?: string }>>(await tally('--json', 'webhooks', 'endpoint', 'list'));
    expect(listed).toEqual([expect.objectContaining({ id: created.id })]);
    expect(listed[0]!.secret).toBeUndefined();
    // A failed test delivery shows up under --status pending (retrying); the fix and a resend succeed.
    const test = await owner.webhooks.sendTestWebhookEvent({ webhookEndpointId: created.id, idempotencyKey: randomUUID() });
    const pending = parseJson<Array<{ id: string; status: string; attempts: Array<{ status: number }> }>>(await tally('--json', 'webhooks', 'deliveries', created.id, '--status', 'pending'));
    expect(pending).toEqual([expect.objectContaining({ id: test.delivery!.id, status: 'pending', attempts: [expect.objectContaining({ status: 500 })] })]);
    parseJson(await tally('--json', 'webhooks', 'endpoint', 'update', created.id, '--url', `${receiverUrl}/ok`));
    const resent = parseJson<{ status: string; eventId: string }>(await tally('--json', 'webhooks', 'resend', test.delivery!.id));
    expect(resent).toMatchObject({ status: 'succeeded', eventId: test.delivery!.eventId });
    const rolled = parseJson<{ secret: string; previousSecretExpireTime: string }>(await tally('--json', 'webhooks', 'endpoint', 'roll-secret', created.id, '--overlap', '60'));
    expect(rolled.secret).toMatch(/^whsec_/);
    expect(rolled.previousSecretExpireTime).not.toBeNull();
    parseJson(await tally('--json', 'webhooks', 'endpoint', 'delete', created.id));
    expect((await owner.webhooks.listWebhookEndpoints({})).webhookEndpoints).toEqual([]);
  }, 120_000);

  it('listen registers a temporary endpoint, forwards each event signed, and removes the endpoint on Ctrl-C', async () => {
    const { ownerKey, owner } = await stack.newTenant();
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'tally.mjs'), '--api-url', stack.url, '--api-key', ownerKey, '--json', 'webhooks', 'listen', '--forward-to', `${receiverUrl}/forwarded`],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const ready = await eventually(() => {
      const line = stdout.split('\n').find((l) => l.includes('"secret"'));
      expect(line).toBeDefined();
      return JSON.parse(line!) as { endpointId: string; secret: string };
    }, { timeoutMs: 45_000, intervalMs: 100 });
    const delivery = (await owner.webhooks.sendTestWebhookEvent({ webhookEndpointId: ready.endpointId, idempotencyKey: randomUUID() })).delivery!;
    expect(delivery.status).toBe('succeeded');
    const forwarded = received.filter((r) => r.path === '/forwarded');
    expect(forwarded).toHaveLength(1);
    expect(new Webhook(ready.secret).verify(forwarded[0]!.body, forwarded[0]!.headers)).toMatchObject({ id: delivery.eventId, type: 'webhook_endpoint.test' });
    await eventually(() => expect(stdout).toContain(`"eventId":"${delivery.eventId}"`), { timeoutMs: 5_000, intervalMs: 50 });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain(`"deleted":"${ready.endpointId}"`);
    expect((await owner.webhooks.listWebhookEndpoints({})).webhookEndpoints).toEqual([]);
  }, 90_000);
});
