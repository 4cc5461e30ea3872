/**
 * npm start's demo console users (emulators/demo-users.ts): created in the Auth emulator with the demo
 * tenant's claims, signed in with the documented password, accepted by the API's authenticator with
 * their role; a second start (users already there) moves them to the new demo tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConsoleEmails, demoConsolePassword, ensureDemoConsoleUsers } from '../emulators/demo-users.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); }, 120_000);
afterAll(async () => { await stack?.close(); });

async function signIn(email: string): Promise<string> {
  const res = await fetch(`http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: demoConsolePassword, returnSecureToken: true }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { idToken: string }).idToken;
}

describe('demo console users', () => {
  it('are an owner and a viewer of the demo tenant, and follow the tenant of the latest start', async () => {
    for (const run of [1, 2]) {
      const { tenantId } = await stack.newTenant(`Demo Shop ${run}`);
      expect(await ensureDemoConsoleUsers(stack.services.config.projectId, tenantId)).toEqual(demoConsoleEmails);
      for (const role of ['owner', 'viewer'] as const) {
        const principal = await stack.services.authenticator.authenticate(`Bearer ${await signIn(demoConsoleEmails[role])}`);
        expect(principal, `${role}, start ${run}`).toMatchObject({ kind: 'tenant', tenantId, role });
      }
    }
  });
});
