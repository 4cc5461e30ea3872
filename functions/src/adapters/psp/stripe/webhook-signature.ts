/**
 * Stripe webhook signatures, verified here rather than by the SDK so the rules are ours and tested
 * against the SDK as an oracle: header `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`,
 * where each `v1` is HMAC-SHA256 over `<t>.<raw body bytes>` keyed by a `whsec_...` secret. Several
 * `v1` values appear while Stripe rolls a secret; several secrets are accepted for the same reason.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from '../../../ports/psp-gateway.js';

/** Stripe's default tolerance: a signature older (or further in the future) than this is refused. */
export const STRIPE_SIGNATURE_TOLERANCE_SEC = 300;

// A header is a handful of short `k=v` pairs; anything longer is not Stripe's.
const HEADER_LENGTH_MAX = 4_096;
const SIGNATURES_MAX = 16;
const V1_HEX = /^[0-9a-f]{64}$/;

interface ParsedHeader {
  timestampSec: number;
  v1: Buffer[];
}

function parseHeader(header: string): ParsedHeader {
  if (header.length > HEADER_LENGTH_MAX) throw new WebhookSignatureError('Stripe-Signature header too long');
  let timestampSec: number | null = null;
  const v1: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestampSec = Number(value);
    // Other schemes (v0 in test mode) and malformed values are ignored, as Stripe's libraries do.
    if (key === 'v1' && V1_HEX.test(value) && v1.length < SIGNATURES_MAX) v1.push(Buffer.from(value, 'hex'));
  }
  if (timestampSec === null) throw new WebhookSignatureError('Stripe-Signature header has no timestamp');
  if (v1.length === 0) throw new WebhookSignatureError('Stripe-Signature header has no v1 signature');
  return { timestampSec, v1 };
}

/**
 * A programmer error, not a bad request: an empty secret is an HMAC key anyone can compute, so a
 * verifier holding one must never run (config refuses it at start-up; ADR 0019).
 */
export function assertStripeWebhookSecrets(secrets: readonly string[]): void {
  if (secrets.length === 0) throw new Error('assertion failed: at least one Stripe webhook secret');
  if (secrets.some((secret) => typeof secret !== 'string' || secret.trim() === '')) throw new Error('assertion failed: Stripe webhook secrets are non-empty');
}

/**
 * Throws WebhookSignatureError unless one `v1` in `header` is the HMAC of `rawBody` under one of
 * `secrets` and the timestamp is within `toleranceSec` of `nowMs`. The body is hashed as received:
 * never a re-serialization, which would change bytes and break the signature.
 */
export function verifyStripeSignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  toleranceSec: number,
  nowMs: number,
): void {
  if (header === undefined || header.trim() === '') throw new WebhookSignatureError('missing Stripe-Signature header');
  assertStripeWebhookSecrets(secrets);
  const { timestampSec, v1 } = parseHeader(header);
  const signedPayload = Buffer.concat([Buffer.from(`${timestampSec}.`, 'utf8'), rawBody]);
  let matched = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(signedPayload).digest();
    // Compare against every candidate (no early exit), each comparison constant-time.
    for (const candidate of v1) matched = timingSafeEqual(expected, candidate) || matched;
  }
  if (!matched) throw new WebhookSignatureError('no Stripe-Signature v1 matches the payload');
  const skewSec = Math.abs(Math.floor(nowMs / 1000) - timestampSec);
  // Stripe's libraries only refuse old timestamps; we also refuse ones far in the future, which a
  // correct sender never produces and a replay tool might.
  if (skewSec > toleranceSec) throw new WebhookSignatureError(`Stripe-Signature timestamp outside the ${toleranceSec} s tolerance`);
}
