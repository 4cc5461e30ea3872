/**
 * The signed-in console user: Firebase Auth (the Auth emulator locally) with custom claims
 * `{ tenantId, role }` that the backend also reads from the ID token. One reactive session per page.
 *
 * An expired or invalid session (a callable answers `unauthenticated`, or the token cannot be
 * refreshed) signs the user out and sends them to sign in, back to where they were afterwards.
 */
import { computed, ref, shallowRef } from 'vue';
import { onIdTokenChanged, signInWithEmailAndPassword, signOut as firebaseSignOut, type User } from 'firebase/auth';
import { consoleAuth } from './auth';

/** Roles in rising order; the backend's (owner > developer > viewer). */
export const roles = ['viewer', 'developer', 'owner'] as const;
export type Role = (typeof roles)[number];

const user = shallowRef<User | null>(null);
const tenantId = ref<string | null>(null);
const role = ref<Role | null>(null);
/** Why the user was last sent back to sign in (shown on the sign-in page), if it was not their choice. */
const endedReason = ref<string | null>(null);
/** Why the console could not start (its Firebase configuration unreachable), if it could not. */
const startupError = ref<string | null>(null);

let ready: Promise<void> | undefined;

function roleOf(value: unknown): Role | null {
  return typeof value === 'string' && (roles as readonly string[]).includes(value) ? (value as Role) : null;
}

/**
 * Resolves once Firebase Auth has restored (or not) the previous session of this browser. When the
 * configuration cannot be read, it resolves signed out with `startupError` set (the sign-in page
 * shows it), and the next navigation tries again.
 */
export function sessionReady(): Promise<void> {
  ready ??= restoreSession().catch((error: unknown) => {
    ready = undefined;
    startupError.value = `The console cannot reach its configuration: ${error instanceof Error ? error.message : String(error)}. Reload to try again.`;
  });
  return ready;
}

function restoreSession(): Promise<void> {
  return consoleAuth().then((auth) => new Promise<void>((resolve) => {
    onIdTokenChanged(auth, (next) => {
      void (async () => {
        if (next === null) {
          user.value = null; tenantId.value = null; role.value = null;
        } else {
          try {
            const token = await next.getIdTokenResult();
            tenantId.value = typeof token.claims.tenantId === 'string' ? token.claims.tenantId : null;
            role.value = roleOf(token.claims.role);
            user.value = next;
          } catch {
            // The token cannot be refreshed (revoked, disabled, network): the session is over.
            await endSession('Your session could not be renewed. Sign in again.');
          }
        }
        startupError.value = null;
        resolve();
      })();
    });
  }));
}

export async function signIn(email: string, password: string): Promise<void> {
  const auth = await consoleAuth();
  endedReason.value = null;
  const credential = await signInWithEmailAndPassword(auth, email, password);
  const token = await credential.user.getIdTokenResult();
  // A user without tenant claims can do nothing here: say so now rather than on every page.
  if (typeof token.claims.tenantId !== 'string' || roleOf(token.claims.role) === null) {
    await firebaseSignOut(auth);
    throw new Error('This account is not a member of any merchant (no tenant or role). Ask an owner to invite you.');
  }
  tenantId.value = token.claims.tenantId;
  role.value = roleOf(token.claims.role);
  user.value = credential.user;
}

/** Signs out; `reason` (when the session ended by itself) is shown on the sign-in page. */
export async function endSession(reason: string | null = null): Promise<void> {
  endedReason.value = reason;
  user.value = null; tenantId.value = null; role.value = null;
  await firebaseSignOut(await consoleAuth());
}

/** Whether the error says the caller's credentials are no longer good (callable `unauthenticated`). */
export function isSessionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'unauthenticated' || code === 'functions/unauthenticated' || code === 'auth/user-token-expired' || code === 'auth/user-disabled';
}

export function useSession() {
  return {
    user, tenantId, role, endedReason, startupError,
    signedIn: computed(() => user.value !== null),
    /** Whether the user's role is `min` or higher (the server checks again on every call). */
    can: (min: Role) => role.value !== null && roles.indexOf(role.value) >= roles.indexOf(min),
  };
}
