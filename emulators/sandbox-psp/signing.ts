/**
 * How the sandbox signs webhooks, exactly as each PSP documents it. Kept apart from the
 * connectors' verifiers on purpose: the tests check both sides against the official SDKs.
 */
import { createHmac } from 'node:crypto';

/** Stripe: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the whsec secret>`. */
export function stripeSignatureHeader(secret: string, body: string, timestampSec: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestampSec}.${body}`, 'utf8').digest('hex');
  return `t=${timestampSec},v1=${v1}`;
}

/** The fields of an Adyen notification item its HMAC covers. */
export interface AdyenSignedFields {
  pspReference: string;
  originalReference?: string;
  merchantAccountCode: string;
  merchantReference: string;
  amount: { value: number; currency: string };
  eventCode: string;
  success: string;
}

/**
 * Adyen: base64 HMAC-SHA256, keyed by the hex-decoded key, over
 * `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
 * (absent fields are empty). Adyen's own libraries join the values as they are, without escaping
 * (`@adyen/api-library`'s `HmacValidator.getDataToSign`); escaping `\` and `:` only applies to the
 * key-value signing of other Adyen products. The sandbox does what Adyen does.
 */
export function adyenHmacSignature(item: AdyenSignedFields, keyHex: string): string {
  const data = [
    item.pspReference,
    item.originalReference ?? '',
    item.merchantAccountCode,
    item.merchantReference,
    String(item.amount.value),
    item.amount.currency,
    item.eventCode,
    item.success,
  ].join(':');
  return createHmac('sha256', Buffer.from(keyHex, 'hex')).update(data, 'utf8').digest('base64');
}
