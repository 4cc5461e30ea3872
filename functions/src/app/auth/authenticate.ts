/**
 * Resolves the caller from `Authorization: Bearer <credential>`: a secret API key (`sk_...`),
 * the platform admin key, or a Firebase Auth ID token whose custom claims name tenant and role.
 */
import { timingSafeEqual } from 'node:crypto';
import { TallyError } from '../../domain/errors.js';
import { hashApiKeySecret, isWellFormedApiKeySecret, apiKeySecretPrefix } from '../../domain/tenancy/api-key-secret.js';
import { isRole, roleAtLeast, type Role } from '../../domain/tenancy/role.js';
import { createTtlCache } from '../../platform/cache/ttl-cache.js';
import type { Clock } from '../../ports/clock.js';
import type { IdTokenVerifier } from '../../ports/id-token-verifier.js';
import type { ApiKeyIndexEntry, TenancyRepository } from '../../ports/tenancy-repository.js';
import type { Principal } from './principal.js';

export interface Authenticator {
  authenticate(authorizationHeader: string | null): Promise<Principal>;
  /** Drops a key from this instance's cache at once (on revoke). */
  forget(secretHashOrKeyId: string): void;
}

export interface AuthenticatorDeps {
  repo: TenancyRepository;
  idTokens: IdTokenVerifier;
  clock: Clock;
  platformAdminKeySha256: string;
  cacheTtlMs: number;
  cacheEntriesMax: number;
}

const invalid = (message: string) => new TallyError('CREDENTIALS_INVALID', message);

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  // Bounded cache of key lookups (hits and misses). Revocation in this instance evicts at once;
  // other instances notice within cacheTtlMs.
  const cache = createTtlCache<ApiKeyIndexEntry | undefined>({ clock: deps.clock, ttlMs: deps.cacheTtlMs, entriesMax: deps.cacheEntriesMax });
  const lookup = (secretHash: string) => cache.get(secretHash, () => deps.repo.findApiKeyByHash(secretHash));

  const isAdminKey = (secretHash: string): boolean => {
    if (deps.platformAdminKeySha256 === '') return false;
    return timingSafeEqual(Buffer.from(secretHash, 'hex'), Buffer.from(deps.platformAdminKeySha256, 'hex'));
  };

  return {
    async authenticate(header) {
      if (header === null || header.trim() === '') {
        throw new TallyError('CREDENTIALS_MISSING', 'send Authorization: Bearer <api key or ID token>');
      }
      const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
      if (!match) throw invalid('Authorization must be "Bearer <credential>"');
      const credential = match[1]!;
      if (credential.startsWith(apiKeySecretPrefix)) {
        if (!isWellFormedApiKeySecret(credential)) throw invalid('malformed API key');
        const secretHash = hashApiKeySecret(credential);
        if (isAdminKey(secretHash)) return { kind: 'platform_admin' };
        const entry = await lookup(secretHash);
        if (!entry || entry.revoked) throw invalid('unknown or revoked API key');
        return { kind: 'tenant', tenantId: entry.tenantId, role: entry.role, via: 'api_key', keyId: entry.keyId };
      }
      let verified: Awaited<ReturnType<IdTokenVerifier['verify']>>;
      try {
        verified = await deps.idTokens.verify(credential);
      } catch (error) {
        throw new TallyError('CREDENTIALS_INVALID', 'invalid or expired ID token', {}, { cause: error });
      }
      const { tenantId, role, platformAdmin } = verified.claims;
      if (platformAdmin === true) return { kind: 'platform_admin' };
      if (typeof tenantId !== 'string' || tenantId === '' || !isRole(role)) {
        throw new TallyError('PERMISSION_DENIED', 'the ID token has no tenantId/role custom claims');
      }
      return { kind: 'tenant', tenantId, role, via: 'id_token', uid: verified.uid };
    },
    forget(secretHash) {
      cache.delete(secretHash);
    },
  };
}

/** The caller's tenant, if their role is at least `needed`. Admins act on no tenant. */
export function requireTenantRole(principal: Principal, needed: Role): { tenantId: string; role: Role } {
  if (principal.kind !== 'tenant') {
    throw new TallyError('PERMISSION_DENIED', 'this call acts on a tenant: use a tenant API key or ID token');
  }
  if (!roleAtLeast(principal.role, needed)) {
    throw new TallyError('PERMISSION_DENIED', `requires role ${needed} or higher; caller has ${principal.role}`);
  }
  return { tenantId: principal.tenantId, role: principal.role };
}

export function requirePlatformAdmin(principal: Principal): void {
  if (principal.kind !== 'platform_admin') throw new TallyError('PERMISSION_DENIED', 'platform admin only');
}
