/**
 * The pinned webhook sender over real TLS (issue 16 item 5, ADR 0034): the socket goes only to the
 * addresses the resolver answered and the SSRF check passed (each in turn when one refuses), while
 * the Host header, the TLS SNI and the certificate check keep the URL's name. The receivers are real node:https servers on loopback with
 * certificates for `*.merchant.test` names (test/fixtures/webhook-tls, a test CA; `.test` is reserved
 * by RFC 6761, so no system resolver answers it: a request can only arrive through the sender's own
 * resolver and pin). Loopback is reachable only in the `local` URL profile; the TLS path is the same in
 * both profiles (the profile decides which schemes and addresses pass, nothing else), and the deployed
 * profile is shown refusing the changed answer too. No profile or allowlist lets a test reach
 * loopback deployed, and none is added for tests.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookSender, type WebhookSenderOptions } from '../functions/src/adapters/http/webhook-sender.js';
import { signedHeaders } from '../functions/src/app/webhooks/signing.js';

const fixtures = path.join(import.meta.dirname, 'fixtures/webhook-tls');
const testCa = readFileSync(path.join(fixtures, 'ca.pem'), 'utf8');
const credentials = (name: string) => ({
  key: readFileSync(path.join(fixtures, `${name}.key.pem`)),
  cert: readFileSync(path.join(fixtures, `${name}.cert.pem`)),
});

interface Seen { servername: string | false | null; host: string | undefined; remoteAddress: string | undefined; headers: Record<string, string>; body: string }

/** A real HTTPS receiver presenting `certName`'s certificate; records what each request carried. */
async function receiver(certName: string): Promise<{ port: number; seen: Seen[]; handshakeErrors: string[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const handshakeErrors: string[] = [];
  const server = https.createServer(credentials(certName), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        servername: (req.socket as TLSSocket).servername, host: req.headers.host, remoteAddress: req.socket.remoteAddress,
        headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(204).end();
    });
  });
  server.on('tlsClientError', (error: Error & { code?: string }) => handshakeErrors.push(error.code ?? error.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port, seen, handshakeErrors,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const base = { timeoutMs: 5_000, responseBytesMax: 1_024, socketsPerHostMax: 2 } satisfies Partial<WebhookSenderOptions>;
/** The name maps to loopback only through this resolver; anything else does not resolve. */
const merchantDns = (answers: Record<string, string[]>) => async (hostname: string) => {
  const answer = answers[hostname];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return answer;
};

describe('webhook sender over https: pinned address, name kept for Host, SNI and the certificate', () => {
  let hooks: Awaited<ReturnType<typeof receiver>>;
  let other: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    hooks = await receiver('hooks.merchant.test');
    other = await receiver('other.merchant.test');
  });
  afterAll(async () => {
    await hooks.close();
    await other.close();
  });

  it('POSTs to the checked address with Host and SNI = the name, the certificate verified against it; the signature verifies', async () => {
    const sender = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: merchantDns({ 'hooks.merchant.test': ['127.0.0.1'] }) });
    const body = JSON.stringify({ id: 'evt_tls_1', type: 'payment.succeeded', created: 1_700_000_000, data: { object: { id: 'pay_1' } } });
    const headers = signedHeaders('evt_tls_1', body, [Buffer.from(secret.slice('whsec_'.length), 'base64')], new Date());
    const result = await sender.send({ url: `https://hooks.merchant.test:${hooks.port}/tally/hooks?x=1`, headers, body });
    expect(result).toMatchObject({ ok: true, statusCode: 204, error: '', refused: false });
    expect(hooks.seen).toHaveLength(1);
    const [request] = hooks.seen;
    expect(request!.servername).toBe('hooks.merchant.test');
    expect(request!.host).toBe(`hooks.merchant.test:${hooks.port}`);
    expect(request!.remoteAddress).toMatch(/127\.0\.0\.1$/);
    expect(request!.body).toBe(body);
    // The oracle: the bytes that arrived verify with the standard library.
    expect(new Webhook(secret).verify(request!.body, request!.headers)).toEqual(JSON.parse(body));
  });

  it('a certificate for another name is a failed attempt naming the mismatch, not a crash; nothing is POSTed', async () => {
    const sender = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: merchantDns({ 'hooks.merchant.test': ['127.0.0.1'] }) });
    const result = await sender.send({ url: `https://hooks.merchant.test:${other.port}/tally/hooks`, headers: {}, body: '{}' });
    expect(result).toMatchObject({ ok: false, statusCode: 0, refused: false });
    expect(result.error).toMatch(/^connection failed: ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(result.error).toContain('hooks.merchant.test');
    expect(other.seen).toHaveLength(0);
  });

  it("a certificate from a CA the sender does not trust is a failed attempt (Node's bundled roots by default)", async () => {
    const sender = createWebhookSender({ ...base, profile: 'local', resolve: merchantDns({ 'hooks.merchant.test': ['127.0.0.1'] }) });
    const before = hooks.seen.length;
    const result = await sender.send({ url: `https://hooks.merchant.test:${hooks.port}/tally/hooks`, headers: {}, body: '{}' });
    expect(result).toMatchObject({ ok: false, statusCode: 0, refused: false });
    expect(result.error).toMatch(/^connection failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(hooks.seen.length).toBe(before);
  });

  it('a DNS answer that changes to a private address after the check cannot move the socket; the next delivery is refused without connecting', async () => {
    const answers = [['127.0.0.1'], ['10.0.0.7'], ['10.0.0.7']];
    let lookups = 0;
    const rebinding = async (hostname: string) => {
      expect(hostname).toBe('hooks.merchant.test');
      return answers[Math.min(lookups++, answers.length - 1)]!;
    };
    const sender = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: rebinding });
    const before = hooks.seen.length;
    const url = `https://hooks.merchant.test:${hooks.port}/rebind`;
    // Checked answer 127.0.0.1; every later answer is 10.0.0.7: the POST still lands on the checked
    // address, and the name was resolved exactly once (nothing below the sender resolved it again).
    expect(await sender.send({ url, headers: {}, body: '{"n":1}' })).toMatchObject({ ok: true, statusCode: 204 });
    expect(lookups).toBe(1);
    expect(hooks.seen.slice(before).map((s) => [s.servername, s.body])).toEqual([['hooks.merchant.test', '{"n":1}']]);
    // The next delivery checks again: the private answer is refused before any connection, even
    // though a kept-alive socket to the earlier address is open.
    const refused = await sender.send({ url, headers: {}, body: '{"n":2}' });
    expect(refused).toMatchObject({ ok: false, statusCode: 0, refused: true });
    expect(refused.error).toBe('refused: hooks.merchant.test resolves to a refused address: 10.0.0.7 is private');
    expect(lookups).toBe(2);
    // Deployed, the same answer is refused the same way (and loopback would be too).
    const deployed = createWebhookSender({ ...base, profile: 'deployed', trustedCasPem: [testCa], resolve: rebinding });
    expect(await deployed.send({ url, headers: {}, body: '{"n":3}' })).toMatchObject({ ok: false, refused: true });
    expect(hooks.seen.length).toBe(before + 1);
  });
});

describe('webhook sender: every checked address is a way in', () => {
  it('a name answering ::1 then 127.0.0.1 (getaddrinfo for localhost on a dual-stack host) reaches a receiver on 127.0.0.1 only: the next checked address is tried, as Node does without pinning', async () => {
    const hooks = await receiver('hooks.merchant.test');
    try {
      // ::1 first refuses the connection (nothing listens there on this port), 127.0.0.1 answers.
      const sender = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: merchantDns({ 'hooks.merchant.test': ['::1', '127.0.0.1'] }) });
      const result = await sender.send({ url: `https://hooks.merchant.test:${hooks.port}/dual`, headers: {}, body: '{"dual":true}' });
      expect(result).toMatchObject({ ok: true, statusCode: 204, error: '' });
      expect(hooks.seen.map((s) => [s.servername, s.host, s.body])).toEqual([['hooks.merchant.test', `hooks.merchant.test:${hooks.port}`, '{"dual":true}']]);
      // Every address must still pass: one refused address among them refuses the delivery.
      const mixed = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: merchantDns({ 'hooks.merchant.test': ['127.0.0.1', '10.0.0.7'] }) });
      expect(await mixed.send({ url: `https://hooks.merchant.test:${hooks.port}/dual`, headers: {}, body: '{}' })).toMatchObject({ ok: false, refused: true });
      expect(hooks.seen).toHaveLength(1);
    } finally {
      await hooks.close();
    }
  });

  it('when no checked address accepts the connection, the attempt fails naming why', async () => {
    const hooks = await receiver('hooks.merchant.test');
    const { port } = hooks;
    await hooks.close(); // nothing listens on that port any more, on either address
    const sender = createWebhookSender({ ...base, profile: 'local', trustedCasPem: [testCa], resolve: merchantDns({ 'hooks.merchant.test': ['::1', '127.0.0.1'] }) });
    const result = await sender.send({ url: `https://hooks.merchant.test:${port}/gone`, headers: {}, body: '{}' });
    expect(result).toMatchObject({ ok: false, statusCode: 0, refused: false });
    expect(result.error).toMatch(/^connection failed: .*ECONNREFUSED/);
  });
});
