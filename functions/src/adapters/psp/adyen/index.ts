/**
 * The Adyen connector (Checkout API v71 JSON over fetch): client, transformers, webhook verification.
 */

/** `createAdyenGateway(options)`: a `PspGateway` talking to Adyen Checkout (or the sandbox PSP). */
export { adyenIdempotencyKey, createAdyenGateway } from './client.js';
export type { AdyenGatewayOptions } from './client.js';
/** Adyen's notification HMAC: `adyenHmac(item, keyHex)`, `verifyAdyenItem(item, keysHex)` (throws WebhookSignatureError). */
export { adyenHmac, adyenSigningString, verifyAdyenItem } from './webhook-signature.js';
/** Amount conversion, refusal mapping and notification normalization (pure). */
export { adyenDeclineReason, fromAdyenAmount, normalizeAdyenItem, parseMerchantReference, refundReference, toAdyenAmount } from './transformers.js';
