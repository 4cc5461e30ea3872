/**
 * Standard Webhooks signing (https://www.standardwebhooks.com) through the `standardwebhooks`
 * package: `webhook-id` = the event id, `webhook-timestamp` = seconds at sending (wall time: it is
 * the receiver's replay protection, whatever clock schedules retries), `webhook-signature` = one
 * `v1,<base64>` per secret currently signing, space-separated (two during a roll's overlap).
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The prefix Standard Webhooks secrets carry. */
export const secretPrefix = 'whsec_';
/** Raw secret bytes (Standard Webhooks: 24 to 64). */
export const secretBytes = 24;

export function newSecret(): { raw: Uint8Array; shown: string } {
  const raw = new Uint8Array(randomBytes(secretBytes));
  return { raw, shown: `${secretPrefix}${Buffer.from(raw).toString('base64')}` };
}

export function signedHeaders(eventId: string, body: string, secrets: readonly Uint8Array[], sentAt: Date): Record<string, string> {
  if (secrets.length === 0) throw new Error('assertion failed: a delivery signed by no secret');
  const signatures = secrets.map((raw) => new Webhook(Buffer.from(raw).toString('base64')).sign(eventId, sentAt, body));
  return { 'webhook-id': eventId, 'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)), 'webhook-signature': signatures.join(' ') };
}
