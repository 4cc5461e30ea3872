import { createHash, randomBytes } from 'node:crypto';
import { invalidField } from './errors.js';

/** Prefixes of Tally's opaque ids, so that an id says what it names (`pay_...`, `je_...`). */
export const idPrefixes = {
  tenant: 'ten',
  apiKey: 'key',
  payment: 'pay',
  customer: 'cus',
  paymentMethod: 'pm',
  refund: 're',
  account: 'acc',
  entry: 'je',
  // Billing (issue 14).
  product: 'prod',
  price: 'price',
  coupon: 'coupon',
  subscription: 'sub',
  invoice: 'inv',
  creditNote: 'cn',
  testClock: 'clock',
  usageRecord: 'ur',
  // Merchant webhooks (issue 16).
  webhookEndpoint: 'we',
  webhookDelivery: 'whd',
  // Checkout (issue 17).
  checkoutSession: 'cs',
} as const;

/** The kinds of id a request may name. */
export type IdKind = keyof typeof idPrefixes;

/**
 * Longest part after the prefix. Generated ids have 22 characters, derived ones (entry ids that
 * embed a payment or refund id) a few dozen: 64 leaves room and keeps a document name short.
 */
export const ID_BODY_LENGTH_MAX = 64;

// One alphabet for every id: base64url. No `/` (a path separator), no `.` (so never `.` or `..`),
// and with the prefix in front an id can never be Firestore's reserved `__...__`.
const idBody = new RegExp(`^[A-Za-z0-9_-]{1,${ID_BODY_LENGTH_MAX}}$`);

/** A new opaque id: prefix + 128 random bits in base64url (22 characters). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

/**
 * An id derived from `parts` (same parts, same id; same shape as `newId`): for what a request
 * creates, so that a rerun of the same request finds what the first run created instead of
 * creating it again.
 */
export function derivedId(prefix: string, parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`); // length-prefixed: no ambiguity
  return `${prefix}_${hash.digest().subarray(0, 16).toString('base64url')}`;
}

/** True for a well-formed id of `kind`: its prefix, `_`, then 1..64 of `[A-Za-z0-9_-]`. */
export function isId(kind: IdKind, value: unknown): value is string {
  const prefix = `${idPrefixes[kind]}_`;
  return typeof value === 'string' && value.startsWith(prefix) && idBody.test(value.slice(prefix.length));
}

/**
 * The id a request names in `field`, checked before it reaches a document path (ADR 0019): empty
 * is FIELD_REQUIRED, anything but a well-formed id of `kind` is FIELD_INVALID (never a Firestore
 * error: `..`, `a/b`, `__x__` cannot name a document). The message does not echo the value.
 */
export function parseId(kind: IdKind, value: string, field: string): string {
  if (value === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (!isId(kind, value)) throw invalidField(field, `not a ${kind} id (${idPrefixes[kind]}_ followed by 1..${ID_BODY_LENGTH_MAX} of A-Z a-z 0-9 _ -)`);
  return value;
}

/** As `parseId` for a field that may be left empty: '' is null. */
export function parseOptionalId(kind: IdKind, value: string, field: string): string | null {
  return value === '' ? null : parseId(kind, value, field);
}
