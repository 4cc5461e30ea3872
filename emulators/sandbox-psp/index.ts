/**
 * The sandbox PSP: a local stand-in for Stripe and Adyen (which cannot run here), speaking both wire
 * protocols well enough for our connectors and the official `stripe` client, with test cards,
 * signed webhooks and a control API for fault injection. See README.md in this folder.
 */

/** `startSandboxPsp(options)`: starts the server on 127.0.0.1; resolves once it listens. */
export { startSandboxPsp } from './server.js';
/** The bounds every queue, log and store of the sandbox keeps. */
export { defaultSandboxLimits } from './server.js';
export type { SandboxControl, SandboxLimits, SandboxPsp, SandboxPspOptions, SandboxRequestRecord } from './server.js';

/** Fault settings (per PSP) and their patch shape for `control.setFaults` / `POST /_control/faults`. */
export type { PspFaults, SandboxFaults, SandboxFaultsPatch, SandboxPspName } from './faults.js';
/** Thrown by `control.setFaults` for malformed input (the HTTP control API answers 400). */
export { SandboxInputError } from './faults.js';

/** One webhook delivery attempt (or non-attempt: dropped, held, overflow) as the sandbox recorded it. */
export type { SandboxWebhookRecord, WebhookLimits } from './webhooks.js';

/** The test-card table (Stripe tokens and Adyen stored ids with their behaviour). */
export { testCards } from './test-cards.js';
export type { CardBehaviour, DeclineSpec, TestCard } from './test-cards.js';

/** The hosted card fields' test card numbers (number, brand, country, the test card each behaves as). */
export { testCardNumbers } from './card-fields.js';
export type { CardBrand, CardTokenResult, TestCardNumber } from './card-fields.js';
