/**
 * The Stripe connector (official `stripe` package): client, transformers, webhook verification.
 */

/** `createStripeGateway(options)`: a `PspGateway` talking to Stripe (or the sandbox PSP). */
export { createStripeGateway } from './client.js';
export type { StripeGatewayOptions } from './client.js';
/** `verifyStripeSignature(rawBody, header, secrets, toleranceSec, nowMs)`: throws WebhookSignatureError. */
export { STRIPE_SIGNATURE_TOLERANCE_SEC, verifyStripeSignature } from './webhook-signature.js';
/** Amount conversion, decline mapping and event normalization (pure). */
export { declineReasonOf, fromStripeAmount, normalizeStripeEvent, stripeMetadataKeys, toStripeAmount } from './transformers.js';
