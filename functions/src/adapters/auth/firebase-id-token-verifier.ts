/**
 * Firebase Auth ID tokens, verified with firebase-admin and checked for revocation (a revoked or
 * disabled user's token is refused at once, not when it expires). firebase-admin always makes that
 * check against the emulator; `checkRevoked` makes it in production too.
 *
 * Against the Auth emulator firebase-admin skips the signature check (emulator tokens are
 * unsigned, `alg: none`), so anyone could edit a token's claims. Two defences (ADR 0019):
 * - config refuses the emulator outside `demo-*` projects and when deployed;
 * - here, each emulator token is looked up on the emulator itself (`accounts:lookup` with the
 *   token: the emulator checks the user exists, is enabled and the token is not older than its
 *   revocation), and the claims authorization reads must equal the user's custom claims as the
 *   emulator stores them. An edited tenant, role or platformAdmin claim therefore fails.
 * What remains (and why the emulator is for development only): an unsigned token proves nothing
 * about who made it, so a token built for an existing user with exactly that user's claims passes.
 */
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import type { IdTokenVerifier } from '../../ports/id-token-verifier.js';

/** The claims `authenticate` decides on: each must match the emulator's record exactly. */
export const authorizationClaims = ['tenantId', 'role', 'platformAdmin'] as const;

export interface FirebaseIdTokenVerifierOptions {
  projectId: string;
  /** `host:port` of the Auth emulator (FIREBASE_AUTH_EMULATOR_HOST), or undefined in production. */
  emulatorHost: string | undefined;
  /** Deadline of the emulator lookup. */
  lookupTimeoutMs: number;
}

export function createFirebaseIdTokenVerifier(options: FirebaseIdTokenVerifierOptions): IdTokenVerifier {
  const app = getApps()[0] ?? initializeApp({ projectId: options.projectId });
  const auth = getAuth(app);
  return {
    async verify(idToken) {
      // checkRevoked: also reads the user (disabled? tokens revoked after this one was issued?).
      const decoded = await auth.verifyIdToken(idToken, true);
      if (options.emulatorHost !== undefined && options.emulatorHost !== '') {
        await confirmWithEmulator(options, idToken, decoded.uid, decoded as unknown as Readonly<Record<string, unknown>>);
      }
      return { uid: decoded.uid, claims: decoded };
    },
  };
}

async function confirmWithEmulator(options: FirebaseIdTokenVerifierOptions, idToken: string, uid: string, claims: Readonly<Record<string, unknown>>): Promise<void> {
  // A user's own lookup (an API key, no admin credential): the emulator then reads the user from
  // the token itself (parseIdToken) and refuses unknown, disabled and revoked users.
  const url = `http://${options.emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:lookup?key=emulator`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ idToken }),
    signal: AbortSignal.timeout(options.lookupTimeoutMs),
  });
  if (!res.ok) throw new Error(`Auth emulator refused the ID token (HTTP ${res.status})`);
  const body = (await res.json()) as { users?: { localId?: string; customAttributes?: string }[] };
  const user = body.users?.length === 1 ? body.users[0]! : undefined;
  if (user?.localId !== uid) throw new Error('Auth emulator: the ID token names another user');
  const stored = JSON.parse(user.customAttributes ?? '{}') as Record<string, unknown>;
  for (const name of authorizationClaims) {
    if (!sameClaim(claims[name], stored[name])) throw new Error(`Auth emulator: the ID token's ${name} claim is not the user's`);
  }
}

function sameClaim(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
