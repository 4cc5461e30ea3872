// Runs in each test worker before the test file: points the Google SDKs at the test emulators.
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';

const env = inject('emulatorEnv');
Object.assign(process.env, env, {
  // No GCE metadata server here: skip the SDKs' slow probe for one.
  METADATA_SERVER_DETECTION: 'none',
  // The real ClickHouse server global-setup started (schema applied), for the analytics tests.
  TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'),
  TALLY_TRACE_EXPORTER: 'memory',
  TALLY_LOG_LEVEL: 'ERROR',
  // One checkpoint signing key for every test worker of this run (as production has one KMS key):
  // maintenance in one worker may sign checkpoints of tenants another worker verifies.
  TALLY_LOCAL_SIGNING_KEY_FILE: path.join(tmpdir(), `tally-test-signing-${env.FIRESTORE_EMULATOR_HOST?.replace(/\W/g, '_')}-${process.ppid}.pem`),
});
