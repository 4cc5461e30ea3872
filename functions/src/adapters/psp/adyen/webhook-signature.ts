/**
 * Adyen standard-notification HMAC: each `NotificationRequestItem` carries
 * `additionalData.hmacSignature`, the base64 HMAC-SHA256 (key = the hex key from the Customer Area,
 * hex-decoded) of
 * `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
 * with absent fields empty.
 *
 * Escaping: Adyen's own libraries (e.g. `@adyen/api-library`'s `HmacValidator.getDataToSign`) join
 * these values as they are, without escaping; the `\` and `:` escaping applies to Adyen's
 * key-value signing of other products. We compute what Adyen computes, and keep our references
 * free of `:` and `\` (see transformers' `adyenReferenceShape`), so the two readings never differ
 * for our payments.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from '../../../ports/psp-gateway.js';

/** The signed fields of a notification item, as parsed from the JSON body. */
export interface AdyenSignedItem {
  pspReference?: unknown;
  originalReference?: unknown;
  merchantAccountCode?: unknown;
  merchantReference?: unknown;
  amount?: { value?: unknown; currency?: unknown } | null;
  eventCode?: unknown;
  success?: unknown;
  additionalData?: Record<string, unknown> | null;
}

const HEX_KEY = /^(?:[0-9a-fA-F]{2})+$/;
// A SHA-256 HMAC is 32 bytes; base64 of it is 44 characters.
const SIGNATURE_BYTES = 32;

function field(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new WebhookSignatureError('Adyen notification item has a non-scalar signed field');
}

/** The string Adyen signs for one item. */
export function adyenSigningString(item: AdyenSignedItem): string {
  return [
    field(item.pspReference),
    field(item.originalReference),
    field(item.merchantAccountCode),
    field(item.merchantReference),
    field(item.amount?.value),
    field(item.amount?.currency),
    field(item.eventCode),
    field(item.success),
  ].join(':');
}

/** The base64 HMAC of one item under a hex key. */
export function adyenHmac(item: AdyenSignedItem, hmacKeyHex: string): string {
  if (!HEX_KEY.test(hmacKeyHex)) throw new Error('assertion failed: Adyen HMAC key is hex');
  return createHmac('sha256', Buffer.from(hmacKeyHex, 'hex')).update(adyenSigningString(item), 'utf8').digest('base64');
}

/**
 * A programmer error, not a bad request: an empty key is an HMAC key anyone can compute, so a
 * verifier holding one must never run (config refuses it at start-up; ADR 0019).
 */
export function assertAdyenHmacKeys(hmacKeysHex: readonly string[]): void {
  if (hmacKeysHex.length === 0) throw new Error('assertion failed: at least one Adyen HMAC key');
  if (!hmacKeysHex.every((key) => typeof key === 'string' && HEX_KEY.test(key))) throw new Error('assertion failed: Adyen HMAC keys are non-empty hex');
}

/** Throws WebhookSignatureError unless the item's `hmacSignature` matches under one of `hmacKeysHex`. */
export function verifyAdyenItem(item: AdyenSignedItem, hmacKeysHex: readonly string[]): void {
  assertAdyenHmacKeys(hmacKeysHex);
  const signature = item.additionalData?.hmacSignature;
  if (typeof signature !== 'string' || signature === '') throw new WebhookSignatureError('Adyen notification item is not signed (no additionalData.hmacSignature)');
  const received = Buffer.from(signature, 'base64');
  if (received.length !== SIGNATURE_BYTES) throw new WebhookSignatureError('Adyen hmacSignature is not a SHA-256 HMAC');
  let matched = false;
  for (const key of hmacKeysHex) {
    const expected = Buffer.from(adyenHmac(item, key), 'base64');
    matched = timingSafeEqual(expected, received) || matched;
  }
  if (!matched) throw new WebhookSignatureError('Adyen hmacSignature does not match the notification item');
}
