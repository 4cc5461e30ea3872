/**
 * Runs the sandbox PSP on its own: `npx tsx emulators/sandbox-psp/main.ts`. Settings come from the
 * environment (all optional), so the same process serves manual exploration and scripts:
 * TALLY_SANDBOX_PSP_PORT (default 12111), TALLY_SANDBOX_STRIPE_WEBHOOK_URL,
 * TALLY_SANDBOX_ADYEN_WEBHOOK_URL, TALLY_SANDBOX_STRIPE_WEBHOOK_SECRET, TALLY_SANDBOX_ADYEN_HMAC_KEY_HEX.
 */
import { startSandboxPsp } from './server.js';

const env = process.env;
const sandbox = await startSandboxPsp({
  port: Number(env.TALLY_SANDBOX_PSP_PORT ?? 12111),
  webhookTargets: {
    ...(env.TALLY_SANDBOX_STRIPE_WEBHOOK_URL === undefined ? {} : { stripe: env.TALLY_SANDBOX_STRIPE_WEBHOOK_URL }),
    ...(env.TALLY_SANDBOX_ADYEN_WEBHOOK_URL === undefined ? {} : { adyen: env.TALLY_SANDBOX_ADYEN_WEBHOOK_URL }),
  },
  stripeWebhookSecret: env.TALLY_SANDBOX_STRIPE_WEBHOOK_SECRET ?? 'whsec_sandbox',
  adyenHmacKeyHex: env.TALLY_SANDBOX_ADYEN_HMAC_KEY_HEX ?? '00'.repeat(32),
});
process.stdout.write(`sandbox PSP on ${sandbox.url} (Stripe ${sandbox.url}/v1, Adyen ${sandbox.url}/v71, control ${sandbox.url}/_control)\n`);
const stop = (): void => {
  void sandbox.stop().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
