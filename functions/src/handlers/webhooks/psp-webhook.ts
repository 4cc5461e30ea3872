/**
 * `pspWebhook` (HTTP POST /webhooks/{psp}): verify the signature over the raw body, store each
 * event in the inbox keyed by PSP event id, publish a pointer to `psp-events`, answer 2xx at once.
 * Processing happens in `processPspEvent`: never act on an external event before recording it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { receiveWebhook, type PaymentsDeps } from '../../app/payments/index.js';
import { TallyError } from '../../domain/errors.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { injectContext } from '../../platform/telemetry/tracing.js';
import type { EventBus } from '../../ports/event-bus.js';
import { pspNames, WebhookSignatureError, type PspName } from '../../ports/psp-gateway.js';

export const pspEventsTopic = 'psp-events';
const webhookBodyBytesMax = 1024 * 1024;

async function rawBodyOf(req: IncomingMessage & { rawBody?: Buffer }): Promise<Buffer | undefined> {
  if (req.rawBody) return req.rawBody;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > webhookBodyBytesMax) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function createPspWebhookHandler(deps: { payments: PaymentsDeps; bus: EventBus; logger: Logger }) {
  return async (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse): Promise<void> => {
    const psp = /\/webhooks\/([a-z]+)\/?$/.exec((req.url ?? '').split('?')[0]!)?.[1];
    if (req.method !== 'POST' || !psp || !(pspNames as readonly string[]).includes(psp)) {
      res.writeHead(404).end();
      return;
    }
    const body = await rawBodyOf(req);
    if (!body) {
      res.writeHead(413).end();
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
    try {
      const { stored, unmatched, parked } = await receiveWebhook(deps.payments, psp as PspName, body, headers);
      for (const event of unmatched) {
        deps.logger.warn('webhook for an unknown payment', { psp, pspEventId: event.pspEventId, paymentId: event.paymentId, action: event.action });
      }
      for (const event of parked) {
        deps.logger.info('webhook parked until its PSP reference is known', { psp, pspEventId: event.pspEventId, pspReference: event.pspReference, action: event.action });
      }
      await Promise.all(stored.map((s) => deps.bus.publish(pspEventsTopic, Buffer.from(JSON.stringify(s)), { ...injectContext(), tenantId: s.tenantId }, s.paymentId)));
      // Adyen expects the literal "[accepted]"; Stripe any 2xx.
      res.writeHead(200, { 'content-type': 'text/plain' }).end(psp === 'adyen' ? '[accepted]' : 'ok');
    } catch (error) {
      if (error instanceof WebhookSignatureError) {
        deps.logger.warn('webhook rejected', { psp, reason: error.message });
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid signature');
        return;
      }
      if (error instanceof TallyError && error.reason === 'NOT_FOUND') {
        res.writeHead(404).end();
        return;
      }
      // Inbox or publish failed: 5xx so that the PSP redelivers (the inbox dedupes).
      deps.logger.error('webhook failed', { psp, error });
      res.writeHead(500).end();
    }
  };
}
