// Runs in each test worker before the test file: points the Google SDKs at the test emulators.
import { inject } from 'vitest';

Object.assign(process.env, inject('emulatorEnv'), {
  // No GCE metadata server here: skip the SDKs' slow probe for one.
  METADATA_SERVER_DETECTION: 'none',
  TALLY_TRACE_EXPORTER: 'memory',
  TALLY_LOG_LEVEL: 'ERROR',
});
