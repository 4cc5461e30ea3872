import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure code next to its source, no services) and `integration` (test/, against
// the real Firestore/Auth/Pub/Sub emulators that test/support/global-setup.ts starts and stops).
export default defineConfig({
  test: {
    // firebase-functions' onCall logs every callable's token check at DEBUG to stdout, whatever the
    // level (ADR 0037): dropped here so that test output stays readable.
    onConsoleLog: (log) => !log.includes('"message":"Callable request verification passed"'),
    projects: [
      {
        test: {
          name: 'unit',
          include: ['functions/src/**/*.test.ts', 'emulators/**/*.test.ts'],
          environment: 'node',
          // Property tests are bounded by their run counts; this only catches a hang. The 5 s
          // default failed the ledger property (about 5.5 s) on a slower machine of this kind.
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/apply-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // The emulators are shared; files run in parallel on 2 workers, each on its own tenants.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
