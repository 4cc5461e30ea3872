/**
 * The payments stack for integration tests: the sandbox PSP (both wire protocols), the full API with
 * both connectors pointed at it, webhooks delivered over real HTTP to /webhooks/{psp}, and the
 * `psp-events` topic on the Pub/Sub emulator bridged to `processPspEvent`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { bridgeTopicToHandler, type Bridge } from '../../emulators/pubsub-bridge.js';
import { startSandboxPsp, type SandboxPsp } from '../../emulators/sandbox-psp/index.js';
import { createProcessPspEventHandler } from '../../functions/src/handlers/pubsub/process-psp-event.js';
import { pspEventsTopic } from '../../functions/src/handlers/webhooks/psp-webhook.js';
import { startTestStack, type TestStack } from './test-stack.js';

export interface PaymentsStack {
  stack: TestStack;
  sandbox: SandboxPsp;
  close(): Promise<void>;
}

export async function startPaymentsStack(env: Record<string, string> = {}, sandboxLimits: { timeoutHoldMs?: number } = {}): Promise<PaymentsStack> {
  const stripeWebhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const adyenHmacKeyHex = randomBytes(32).toString('hex').toUpperCase();
  const sandbox = await startSandboxPsp({ port: 0, webhookTargets: {}, stripeWebhookSecret, adyenHmacKeyHex, limits: sandboxLimits });
  const stack = await startTestStack({
    // Each payments stack has its own sandbox PSP, so it gets its own emulator project: another
    // stack's janitor must never ask this sandbox about that stack's payments.
    GCLOUD_PROJECT: `demo-tally-pay-${randomUUID().slice(0, 8)}`,
    TALLY_STRIPE_API_KEY: 'sk_test_tally', TALLY_STRIPE_WEBHOOK_SECRET: stripeWebhookSecret, TALLY_STRIPE_API_URL: sandbox.url,
    TALLY_ADYEN_API_KEY: 'adyen-test-key', TALLY_ADYEN_MERCHANT_ACCOUNT: 'TallyTest', TALLY_ADYEN_HMAC_KEY_HEX: adyenHmacKeyHex,
    TALLY_ADYEN_BASE_URL: `${sandbox.url}/v71`, TALLY_ADYEN_SANDBOX_LOOKUP_URL: `${sandbox.url}/_sandbox/adyen`, TALLY_PSP_CALL_TIMEOUT_MS: '1500', TALLY_JANITOR_GRACE_MS: '3000',
    // Hosted checkout (ADR 0036): the sandbox's hosted card fields.
    TALLY_CHECKOUT_CARD_FIELDS_URL: `${sandbox.url}/elements/card`,
    ...env,
  });
  sandbox.control.setWebhookTargets({ stripe: `${stack.url}/webhooks/stripe`, adyen: `${stack.url}/webhooks/adyen` });
  const handler = createProcessPspEventHandler({ payments: stack.services.payments, logger: stack.services.logger });
  const bridge: Bridge = await bridgeTopicToHandler({
    client: stack.services.bus.client, projectId: stack.services.config.projectId, topic: pspEventsTopic,
    subscription: `psp-events-test-${randomUUID().slice(0, 8)}`, handler, inFlightMax: 32,
    // Backs off as deployed (doubling per failed attempt), scaled down so that tests stay fast.
    retryBackoff: { minimumMs: 100, maximumMs: 2_000 },
  });
  return {
    stack, sandbox,
    async close() {
      await bridge.stop();
      await stack.close();
      await sandbox.stop();
    },
  };
}
