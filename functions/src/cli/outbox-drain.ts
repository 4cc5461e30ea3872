/**
 * `tally outbox drain`: the API has no RPC for it (publishing is the relay's job, not a merchant's),
 * so the CLI talks to Firestore and Pub/Sub itself: the emulators named in .tally/stack.json when
 * `npm start` runs (or FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST already set), otherwise the
 * project in GOOGLE_CLOUD_PROJECT with ambient credentials.
 */
import { readStackState, stateFile } from '../../../emulators/state-file.js';
import { createFirestore } from '../adapters/firestore/firestore-client.js';
import { createPubSubEventBus } from '../adapters/pubsub/pubsub-event-bus.js';
import { drainOutbox, type DrainReport } from '../app/outbox/relay.js';
import { composeOutbox } from '../compose.js';
import { parseConfig } from '../platform/config/config.js';
import { systemClock } from '../ports/clock.js';

export async function drainOutboxCommand(options: {
  tenantId?: string; batchMax?: number; batchesMax: number; onBatch: ((report: DrainReport) => void) | undefined;
}): Promise<DrainReport> {
  if (process.env.FIRESTORE_EMULATOR_HOST === undefined && process.env.GOOGLE_CLOUD_PROJECT === undefined) {
    const state = readStackState();
    if (!state) throw new Error(`no running stack found (${stateFile} is missing) and GOOGLE_CLOUD_PROJECT is not set: start one with "npm start"`);
    Object.assign(process.env, state.emulators, { METADATA_SERVER_DETECTION: 'none' });
  }
  const config = parseConfig();
  const db = createFirestore(config.projectId);
  const bus = createPubSubEventBus(config.projectId);
  try {
    const deps = composeOutbox(config, db, bus, systemClock);
    return await drainOutbox(deps, {
      batchMax: options.batchMax ?? config.outboxSweepBatchMax, batchesMax: options.batchesMax,
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
    }, options.onBatch);
  } finally {
    await Promise.allSettled([db.terminate(), bus.client.close()]);
  }
}
