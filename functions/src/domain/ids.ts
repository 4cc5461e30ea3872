import { randomBytes } from 'node:crypto';

/** Prefixes of Tally's opaque ids, so that an id says what it names (`pay_...`, `je_...`). */
export const idPrefixes = {
  tenant: 'ten',
  apiKey: 'key',
} as const;

/** A new opaque id: prefix + 128 random bits in base64url (22 characters). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}
