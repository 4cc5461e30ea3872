/**
 * The demo console users `npm start` creates in the Auth emulator (issue 17, ADR 0037): an owner
 * and a viewer of the demo tenant, custom claims `{ tenantId, role }` as the authenticator reads
 * them. Emulator only: the password is printed in the banner and documented in the README.
 */
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth, type Auth } from 'firebase-admin/auth';

export const demoConsolePassword = 'tally-demo-password';
export const demoConsoleEmails = { owner: 'owner@demo.tally.test', viewer: 'viewer@demo.tally.test' } as const;

/** Creates (or, after a restart against kept emulator data, updates) the demo users; returns their emails. */
export async function ensureDemoConsoleUsers(projectId: string, tenantId: string): Promise<typeof demoConsoleEmails> {
  if (!process.env.FIREBASE_AUTH_EMULATOR_HOST) throw new Error('demo console users are created in the Auth emulator only (FIREBASE_AUTH_EMULATOR_HOST is not set)');
  const app = getApps().find((a) => a.options.projectId === projectId) ?? initializeApp({ projectId }, `demo-users-${projectId}`);
  const auth = getAuth(app);
  for (const role of ['owner', 'viewer'] as const) await ensureUser(auth, demoConsoleEmails[role], tenantId, role);
  return demoConsoleEmails;
}

async function ensureUser(auth: Auth, email: string, tenantId: string, role: string): Promise<void> {
  let uid: string;
  try {
    uid = (await auth.createUser({ email, password: demoConsolePassword, emailVerified: true, displayName: `Demo ${role}` })).uid;
  } catch (error) {
    if ((error as { code?: string }).code !== 'auth/email-already-exists') throw error;
    uid = (await auth.getUserByEmail(email)).uid;
    await auth.updateUser(uid, { password: demoConsolePassword, disabled: false });
  }
  await auth.setCustomUserClaims(uid, { tenantId, role });
}
