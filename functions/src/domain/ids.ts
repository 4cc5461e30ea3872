import { createHash, randomBytes } from 'node:crypto';

/** Prefixes of Tally's opaque ids, so that an id says what it names (`pay_...`, `je_...`). */
export const idPrefixes = {
  tenant: 'ten',
  apiKey: 'key',
} as const;

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
