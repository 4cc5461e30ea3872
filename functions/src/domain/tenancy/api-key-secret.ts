import { createHash } from 'node:crypto';

/**
 * API key secrets: `sk_` + 43 base64url characters (256 random bits). With that much entropy a
 * single SHA-256 is a sound at-rest hash (no salt or slow KDF needed, unlike passwords): nobody can
 * search the key space, and a fast hash keeps authentication to one document read. See ADR 0003.
 */
export const apiKeySecretPrefix = 'sk_';
const secretPattern = /^sk_[A-Za-z0-9_-]{43}$/;

export function apiKeySecretFromBytes(random: Uint8Array): string {
  if (random.length !== 32) throw new Error('assertion failed: an API key secret needs 32 random bytes');
  return `${apiKeySecretPrefix}${Buffer.from(random).toString('base64url')}`;
}

export function isWellFormedApiKeySecret(value: string): boolean {
  return secretPattern.test(value);
}

/** Hex SHA-256 of the secret: what is stored and looked up. */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
