/**
 * Starts the Auth, Firestore and Pub/Sub emulators and a real ClickHouse server once for the
 * integration tests (test ports, so a running `npm start` is not disturbed), applies the ClickHouse
 * schema, and stops them afterwards. Fails loudly, never skips.
 */
import type { TestProject } from 'vitest/node';
import { startEmulators, type RunningEmulators } from '../../emulators/firebase-emulators.js';
import { startClickHouse, type RunningClickHouse } from '../../emulators/clickhouse.js';
import { ensureChromium } from '../../emulators/chromium.js';
import { migrate } from '../../functions/src/adapters/clickhouse/migrate.js';
import { parseConfig } from '../../functions/src/platform/config/config.js';

let emulators: RunningEmulators | undefined;
let clickhouse: RunningClickHouse | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorEnv: Record<string, string>;
    /** `http://127.0.0.1:<port>` of the test ClickHouse server (also TALLY_CLICKHOUSE_URL in every worker). */
    clickhouseUrl: string;
  }
}

export async function setup(project: TestProject): Promise<void> {
  // The browser tests' Chromium (Debian's package), installed when missing; one existsSync otherwise.
  ensureChromium();
  const started = await Promise.allSettled([startEmulators({ profile: 'test' }), startClickHouse({ profile: 'test' })]);
  if (started[0].status === 'fulfilled') emulators = started[0].value;
  if (started[1].status === 'fulfilled') clickhouse = started[1].value;
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await teardown();
    throw (failed as PromiseRejectedResult).reason;
  }
  try {
    // The schema every test reads and writes: the same migrations `npx tally analytics migrate` applies.
    await migrate(parseConfig({ TALLY_CLICKHOUSE_URL: clickhouse!.url }).clickhouse);
  } catch (error) {
    await teardown();
    throw error;
  }
  project.provide('emulatorEnv', emulators!.env);
  project.provide('clickhouseUrl', clickhouse!.url);
}

export async function teardown(): Promise<void> {
  await Promise.all([emulators?.stop(), clickhouse?.stop()]);
}
