/**
 * Merchant webhooks for tests that start their own stack (browser tests): the fake KMS that seals
 * endpoint secrets, a local HTTP receiver that records what it gets (answers 200), and the
 * `webhook-dispatcher` bridge from `domain-events` to the dispatcher, as `npm start` wires it.
 * Events reach `domain-events` when the test drains the outbox (drainOutbox), as the relay would.
 *
 *   const rig = await startWebhookRig();
 *   stack = await startBrowserStack(rig.env);   // or startPaymentsStack(rig.env)
 *   await rig.attach(stack.stack);
 *   ... rig.receiverUrl, rig.received ...
 *   await rig.stop();                            // before stack.close()
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeKms, type FakeKms } from '../../emulators/fake-kms/server.js';
import { bridgeTopicToHandler, type Bridge } from '../../emulators/pubsub-bridge.js';
import { domainEventsTopic } from '../../functions/src/app/outbox/outbox-message.js';
import { createWebhookDispatcherHandler } from '../../functions/src/handlers/pubsub/webhook-dispatcher.js';
import type { TestStack } from './test-stack.js';

const kmsKey = 'projects/demo-tally/locations/global/keyRings/tally/cryptoKeys/webhook-secrets';

/** What the receiver got. */
export interface ReceivedWebhook { path: string; headers: Record<string, string>; body: string }

export interface WebhookRig {
  /** Environment for the stack: secrets sealed by the fake KMS, no endpoint cache, short timeouts. */
  env: Record<string, string>;
  /** `http://127.0.0.1:<port>`: endpoints under it are accepted in the local profile. */
  receiverUrl: string;
  received: ReceivedWebhook[];
  /** Bridges `domain-events` to the webhook dispatcher of this stack. */
  attach(stack: TestStack): Promise<void>;
  stop(): Promise<void>;
}

export async function startWebhookRig(): Promise<WebhookRig> {
  const kms: FakeKms = await startFakeKms();
  const received: ReceivedWebhook[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: (req.url ?? '/').split('?')[0]!, headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])), body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  let bridge: Bridge | undefined;
  return {
    env: {
      TALLY_WEBHOOK_SECRETS_KMS_KEY: kmsKey, TALLY_KMS_ENDPOINT: kms.address, TALLY_WEBHOOK_ENDPOINTS_CACHE_TTL_MS: '0', TALLY_WEBHOOK_TIMEOUT_MS: '2000',
      TALLY_WEBHOOK_LEASE_MS: '5000',
    },
    receiverUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
    received,
    async attach(stack) {
      bridge = await bridgeTopicToHandler({
        client: stack.services.bus.client, projectId: stack.services.config.projectId, topic: domainEventsTopic,
        subscription: `webhook-dispatcher-test-${randomUUID().slice(0, 8)}`,
        handler: forTenantsOf(stack, createWebhookDispatcherHandler({ webhooks: stack.services.webhooks, logger: stack.services.logger })),
        retryBackoff: { minimumMs: 100, maximumMs: 1_000 },
      });
    },
    async stop() {
      await bridge?.stop();
      await new Promise((resolve) => receiver.close(resolve));
      await kms.stop();
    },
  };
}

/**
 * A domain-events consumer that acks, untouched, the events of tenants this stack did not make. Every
 * test file's dispatcher subscribes to the one domain-events topic of the shared emulator; without
 * this, one file's dispatcher (with its own fake KMS) would also attempt another file's deliveries.
 */
export function forTenantsOf<E extends { data?: { message?: { attributes?: Record<string, string> } } }>(
  stack: Pick<TestStack, 'tenantIds'>,
  handler: (event: E) => Promise<void>,
): (event: E) => Promise<void> {
  return async (event) => {
    const tenantId = event.data?.message?.attributes?.tenantId;
    if (tenantId === undefined || !stack.tenantIds.has(tenantId)) return;
    await handler(event);
  };
}
