/**
 * Console sign-in with Firebase Auth (the Auth emulator locally). The user's custom claims carry
 * `tenantId` and `role`; the backend reads them from the ID token the callables SDK attaches.
 */
import { connectAuthEmulator, getAuth, type Auth } from 'firebase/auth';
import { firebaseHandles } from '@shared/firebase';

let auth: Promise<Auth> | undefined;

/** The page's Auth instance, connected to the emulator when the server says it runs one. */
export function consoleAuth(): Promise<Auth> {
  auth ??= firebaseHandles().then(({ app, env }) => {
    const instance = getAuth(app);
    if (env.authEmulatorUrl) connectAuthEmulator(instance, env.authEmulatorUrl, { disableWarnings: true });
    return instance;
  });
  return auth;
}
