/**
 * `tally webhooks ...`: merchant webhook endpoints, their deliveries, resends, and `listen`, which
 * (as `stripe listen` does) registers a temporary endpoint on a local port of this process, prints
 * each event as it arrives, verifies it and forwards it signed (the same body and Standard Webhooks
 * headers) to --forward-to, and deletes the endpoint on Ctrl-C. `listen` needs a stack that can
 * reach this machine (`npm start`: the local URL profile allows http://127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Option, type Command } from 'commander';
import { Webhook } from 'standardwebhooks';
import type { WebhookDelivery, WebhookEndpoint } from '../gen/tally/webhooks/v1/webhooks_pb.js';
import { createTallyClient, type TallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

/** Pages a list reads at most (of 100 each). */
const LIST_PAGES_MAX = 100;
/** Largest event body `listen` accepts from Tally. */
const LISTEN_BODY_BYTES_MAX = 1024 * 1024;
/** How long `listen` waits for the forward target. */
const FORWARD_TIMEOUT_MS = 10_000;

const iso = (t: Timestamp | undefined): string => (t ? timestampDate(t).toISOString() : '');

function endpointJson(e: WebhookEndpoint): Record<string, unknown> {
  return {
    id: e.id, url: e.url, enabledEvents: e.enabledEvents, description: e.description, enabled: e.enabled, disabledReason: e.disabledReason,
    ...(e.secret ? { secret: e.secret } : {}), createTime: iso(e.createTime), updateTime: iso(e.updateTime),
    failingSince: e.failingSince ? iso(e.failingSince) : null, previousSecretExpireTime: e.previousSecretExpireTime ? iso(e.previousSecretExpireTime) : null,
  };
}

function deliveryJson(d: WebhookDelivery): Record<string, unknown> {
  return {
    id: d.id, endpointId: d.endpointId, eventId: d.eventId, eventType: d.eventType, status: d.status, failureReason: d.failureReason,
    createTime: iso(d.createTime), nextAttemptTime: d.nextAttemptTime ? iso(d.nextAttemptTime) : null,
    attempts: d.attempts.map((a) => ({ time: iso(a.attemptTime), status: a.responseStatus, latencyMs: Number(a.latencyMs), error: a.error })),
  };
}

const csv = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s !== '');

export function registerWebhooksCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const client = (cmd: Command): { g: GlobalOptions; api: TallyClient } => {
    const g = globals(cmd);
    const { url, key } = target(g);
    return { g, api: createTallyClient(url, key) };
  };
  const keyOption = () => new Option('--idempotency-key <key>', 'idempotency key (default: a new random one; reuse one to retry safely)');
  const webhooks = program.command('webhooks').description('merchant webhooks: endpoints, deliveries, resends, and listen for local development');
  const endpoint = webhooks.command('endpoint').description("the tenant's webhook endpoints");

  endpoint.command('create')
    .description('create an endpoint; its signing secret (whsec_...) is printed once')
    .requiredOption('--url <url>', 'where events are POSTed (https; http://localhost locally)')
    .option('--events <types>', 'comma-separated event types or prefixes (payment.created,ledger.*), or *', '*')
    .option('--description <text>', 'free text', '')
    .addOption(keyOption())
    .action(async (opts: { url: string; events: string; description: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.webhooks.createWebhookEndpoint({ url: opts.url, enabledEvents: csv(opts.events), description: opts.description, idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      const e = res.webhookEndpoint!;
      output(g, endpointJson(e), `webhook endpoint ${e.id} created for ${e.url} (${e.enabledEvents.join(', ')})\nsigning secret (shown once): ${e.secret || '(replayed request: secret not shown again)'}`);
    });

  endpoint.command('list')
    .description('list endpoints, newest first (never their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const all: WebhookEndpoint[] = [];
      let pageToken = '';
      for (let page = 0; page < LIST_PAGES_MAX; page++) {
        const res = await api.webhooks.listWebhookEndpoints({ pageSize: 100, pageToken });
        all.push(...res.webhookEndpoints);
        pageToken = res.nextPageToken;
        if (pageToken === '') break;
      }
      const rows = all.map(endpointJson);
      output(g, rows, table(rows.map((r) => ({ ...r, events: (r.enabledEvents as string[]).join(','), status: r.enabled ? 'enabled' : `disabled (${String(r.disabledReason)})` })), ['id', 'url', 'events', 'status', 'createTime']));
    });

  endpoint.command('update')
    .description('change an endpoint: only the options given change')
    .argument('<endpointId>', 'the endpoint, we_...')
    .option('--url <url>', 'new URL')
    .option('--events <types>', 'new comma-separated event types, or *')
    .option('--description <text>', 'new description')
    .addOption(new Option('--enabled <bool>', 'enable or disable').choices(['true', 'false']))
    .addOption(keyOption())
    .action(async (id: string, opts: { url?: string; events?: string; description?: string; enabled?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const updateMask = [
        ...(opts.url !== undefined ? ['url'] : []), ...(opts.events !== undefined ? ['enabled_events'] : []),
        ...(opts.description !== undefined ? ['description'] : []), ...(opts.enabled !== undefined ? ['enabled'] : []),
      ];
      if (updateMask.length === 0) throw new CliError('nothing to change: pass --url, --events, --description or --enabled');
      const res = await api.webhooks.updateWebhookEndpoint({
        webhookEndpointId: id, updateMask, url: opts.url ?? '', enabledEvents: csv(opts.events ?? ''), description: opts.description ?? '',
        enabled: opts.enabled === 'true', idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      const e = res.webhookEndpoint!;
      output(g, endpointJson(e), `webhook endpoint ${e.id} updated: ${e.url} (${e.enabledEvents.join(', ')}), ${e.enabled ? 'enabled' : 'disabled'}`);
    });

  endpoint.command('delete')
    .description('delete an endpoint (its pending deliveries end as failed)')
    .argument('<endpointId>', 'the endpoint, we_...')
    .addOption(keyOption())
    .action(async (id: string, opts: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.webhooks.deleteWebhookEndpoint({ webhookEndpointId: id, idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      output(g, endpointJson(res.webhookEndpoint!), `webhook endpoint ${id} deleted`);
    });

  endpoint.command('roll-secret')
    .description('replace the signing secret; the old one keeps signing for --overlap seconds (default 86400); the new one is printed once')
    .argument('<endpointId>', 'the endpoint, we_...')
    .option('--overlap <seconds>', 'seconds the old secret keeps signing, 0..604800')
    .addOption(keyOption())
    .action(async (id: string, opts: { overlap?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      if (opts.overlap !== undefined && !/^\d{1,6}$/.test(opts.overlap)) throw new CliError(`--overlap ${opts.overlap}: expected seconds, 0..604800`);
      const res = await api.webhooks.rollWebhookEndpointSecret({
        webhookEndpointId: id, ...(opts.overlap !== undefined ? { overlapSeconds: BigInt(opts.overlap) } : {}), idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      const e = res.webhookEndpoint!;
      output(g, endpointJson(e), `webhook endpoint ${e.id}: new signing secret (shown once): ${e.secret || '(replayed request: secret not shown again)'}${e.previousSecretExpireTime ? `\nthe previous secret signs until ${iso(e.previousSecretExpireTime)}` : ''}`);
    });

  webhooks.command('deliveries')
    .description("an endpoint's deliveries, newest first, with their attempts")
    .argument('<endpointId>', 'the endpoint, we_...')
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'succeeded', 'failed']))
    .option('--limit <n>', 'most deliveries shown, 1..100', '20')
    .action(async (id: string, opts: { status?: string; limit: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      if (!/^\d{1,3}$/.test(opts.limit) || Number(opts.limit) < 1 || Number(opts.limit) > 100) throw new CliError(`--limit ${opts.limit}: expected 1..100`);
      const res = await api.webhooks.listWebhookDeliveries({ webhookEndpointId: id, status: opts.status ?? '', pageSize: Number(opts.limit) });
      const rows = res.deliveries.map(deliveryJson);
      output(g, rows, table(res.deliveries.map((d) => {
        const last = d.attempts.at(-1);
        return {
          id: d.id, event: `${d.eventType} ${d.eventId}`, status: d.status, attempts: d.attempts.length,
          last: last ? `${last.responseStatus || '-'} ${Number(last.latencyMs)}ms ${last.error}`.trim() : '', next: d.nextAttemptTime ? iso(d.nextAttemptTime) : '',
        };
      }), ['id', 'event', 'status', 'attempts', 'last', 'next']));
    });

  webhooks.command('resend')
    .description("send a delivery's event again now, as a new delivery (same event id)")
    .argument('<deliveryId>', 'the delivery, whd_...')
    .addOption(keyOption())
    .action(async (id: string, opts: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const d = (await api.webhooks.resendWebhookDelivery({ deliveryId: id, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).delivery!;
      const last = d.attempts.at(-1);
      output(g, deliveryJson(d), `delivery ${d.id} (event ${d.eventId}): ${d.status}${last ? `, HTTP ${last.responseStatus || '-'} in ${Number(last.latencyMs)} ms${last.error ? `: ${last.error}` : ''}` : ''}`);
    });

  webhooks.command('listen')
    .description('register a temporary endpoint, print each event as it arrives and forward it signed to --forward-to; Ctrl-C removes the endpoint')
    .requiredOption('--forward-to <url>', 'where to forward each event, e.g. http://localhost:3000/webhooks')
    .option('--events <types>', 'comma-separated event types or prefixes, or *', '*')
    .action(async (opts: { forwardTo: string; events: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      let forwardTo: URL;
      try { forwardTo = new URL(opts.forwardTo); } catch { throw new CliError(`--forward-to ${opts.forwardTo}: not a URL`); }
      // Set once the endpoint exists (its secret verifies what arrives).
      const listening: { verifier?: Webhook } = {};
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        req.on('data', (c: Buffer) => { bytes += c.length; if (bytes <= LISTEN_BODY_BYTES_MAX) chunks.push(c); });
        req.on('end', () => void (async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const headers = { 'webhook-id': String(req.headers['webhook-id'] ?? ''), 'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''), 'webhook-signature': String(req.headers['webhook-signature'] ?? '') };
          let event: { id: string; type: string };
          try {
            event = listening.verifier!.verify(body, headers) as { id: string; type: string };
          } catch (error) {
            res.writeHead(400).end('signature does not verify');
            process.stderr.write(`rejected a request that does not verify: ${(error as Error).message}\n`);
            return;
          }
          let status = 0;
          let detail = '';
          try {
            const forwarded = await fetch(forwardTo, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, redirect: 'manual', signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS) });
            status = forwarded.status;
            await forwarded.body?.cancel();
          } catch (error) {
            detail = (error as Error).message;
          }
          // Tally sees the forward target's answer: a failing local app gets the normal retries.
          res.writeHead(status >= 200 && status < 300 ? 200 : 502).end();
          const line = { time: new Date().toISOString(), eventId: event.id, type: event.type, forwardedTo: forwardTo.toString(), status, ...(detail ? { error: detail } : {}) };
          process.stdout.write(`${g.json ? JSON.stringify(line) : `${line.time}  --> ${event.type} [${event.id}]  <-- [${status || detail}] POST ${forwardTo.toString()}`}\n`);
        })());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const created = (await api.webhooks.createWebhookEndpoint({
        url: `http://127.0.0.1:${port}/`, enabledEvents: csv(opts.events), description: 'tally webhooks listen (temporary)', idempotencyKey: randomUUID(),
      })).webhookEndpoint!;
      listening.verifier = new Webhook(created.secret);
      const ready = { endpointId: created.id, secret: created.secret, listening: `http://127.0.0.1:${port}/`, forwardTo: forwardTo.toString() };
      process.stdout.write(`${g.json ? JSON.stringify(ready) : `Ready! Your webhook signing secret is ${created.secret} (endpoint ${created.id}); forwarding to ${forwardTo.toString()}. Ctrl-C to stop.`}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      server.close();
      await api.webhooks.deleteWebhookEndpoint({ webhookEndpointId: created.id, idempotencyKey: randomUUID() });
      process.stdout.write(`${g.json ? JSON.stringify({ deleted: created.id }) : `endpoint ${created.id} removed`}\n`);
    });
}
