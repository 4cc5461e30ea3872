/**
 * Starts the Auth, Firestore and Pub/Sub emulators once for the integration tests (test ports,
 * so a running `npm start` is not disturbed) and stops them afterwards. Fails loudly, never skips.
 */
import type { TestProject } from 'vitest/node';
import { startEmulators, type RunningEmulators } from '../../emulators/firebase-emulators.js';

let emulators: RunningEmulators | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorEnv: Record<string, string>;
  }
}

export async function setup(project: TestProject): Promise<void> {
  emulators = await startEmulators({ profile: 'test' });
  project.provide('emulatorEnv', emulators.env);
}

export async function teardown(): Promise<void> {
  await emulators?.stop();
}
