/**
 * `npm run bench:ledger`: ledger write throughput on the Firestore emulator, three ways in one run
 * at the same concurrency:
 *   rawTxPerSec          single-document read-modify-write transactions on distinct documents
 *   spreadEntriesPerSec  two-posting entries over many accounts (full CreateEntry use case)
 *   hotEntriesPerSec     every entry credits one sharded account
 * Prints one JSON object as its last line. Goals: hot/spread >= 0.8, spread/raw >= 0.3.
 */
import { randomUUID } from 'node:crypto';

process.env.TALLY_EMULATOR_PORT_OFFSET ??= '4000';
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.TALLY_LOG_LEVEL = 'WARNING';

const durationMs = Number(process.env.BENCH_DURATION_S ?? 8) * 1000;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const log = (text: string) => process.stderr.write(`bench:ledger: ${text}\n`);

/** Runs `op` from `concurrency` workers until the deadline; returns completed ops per second. */
async function measure(name: string, op: (worker: number, i: number) => Promise<void>): Promise<{ perSec: number; ops: number; p50Ms: number; p99Ms: number }> {
  log(`${name}: ${concurrency} workers for ${durationMs / 1000}s ...`);
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const t0 = performance.now();
      await op(worker, i);
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsedS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(1));
  return { perSec: Math.round(latencies.length / elapsedS), ops: latencies.length, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

async function main(): Promise<void> {
  const { startEmulators } = await import('../emulators/firebase-emulators.js');
  log('starting emulators ...');
  const emulators = await startEmulators({ profile: 'test' });
  Object.assign(process.env, emulators.env);
  try {
    const { parseConfig } = await import('../functions/src/platform/config/config.js');
    const { composeServices } = await import('../functions/src/compose.js');
    const ledger = await import('../functions/src/app/ledger/ledger-use-cases.js');
    const services = composeServices(parseConfig());
    const deps = services.ledger;
    const db = services.db;
    const trace = { traceId: '', spanId: '' };
    const tenantId = `ten_bench_${randomUUID().slice(0, 8)}`;
    const account = (code: string, shardCount = 1) => ledger.createAccount(deps, tenantId, {
      code, name: code, currency: 'USD', type: 'asset', flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount,
    });
    const spreadAccounts = await Promise.all(Array.from({ length: 4 * concurrency }, (_, i) => account(`spread-${i}`)));
    const hot = await account('hot', 64);
    const hotSources = await Promise.all(Array.from({ length: concurrency }, (_, i) => account(`source-${i}`)));
    const entry = (debit: string, credit: string) => ledger.createEntry(deps, tenantId, {
      id: `je_${randomUUID().replaceAll('-', '')}`,
      postings: [
        { accountId: debit, direction: 'debit', amountMinor: 100n, currency: 'USD' },
        { accountId: credit, direction: 'credit', amountMinor: 100n, currency: 'USD' },
      ],
      description: 'bench', metadata: {},
    }, trace);

    // Warm up connections and the emulator's JIT.
    await Promise.all(Array.from({ length: concurrency }, (_, w) => entry(spreadAccounts[w]!.id, spreadAccounts[w + concurrency]!.id)));

    const raw = await measure('raw single-document transactions', async (worker) => {
      const ref = db.collection('benchRaw').doc(`${tenantId}-${worker}`);
      await db.runTransaction(async (tx) => {
        const n = ((await tx.get(ref)).get('n') as bigint | undefined) ?? 0n;
        tx.set(ref, { n: n + 1n });
      });
    });
    const spread = await measure('entries over many accounts', async (worker, i) => {
      const base = worker * 4;
      await entry(spreadAccounts[base + (i % 4)]!.id, spreadAccounts[base + ((i + 1) % 4)]!.id);
    });
    const hotResult = await measure('entries all crediting one hot account', async (worker) => {
      await entry(hotSources[worker]!.id, hot.id);
    });

    const hotBalance = await ledger.getBalance(deps, tenantId, hot.id, null);
    if (hotBalance.balance.postedCreditsMinor !== BigInt(hotResult.ops) * 100n) {
      throw new Error(`hot account balance ${hotBalance.balance.postedCreditsMinor} != ${hotResult.ops} entries x 100`);
    }
    const result = {
      rawTxPerSec: raw.perSec,
      spreadEntriesPerSec: spread.perSec,
      hotEntriesPerSec: hotResult.perSec,
      hotOverSpread: Number((hotResult.perSec / spread.perSec).toFixed(3)),
      spreadOverRaw: Number((spread.perSec / raw.perSec).toFixed(3)),
      goals: 'hotOverSpread >= 0.8, spreadOverRaw >= 0.3',
      concurrency,
      durationS: durationMs / 1000,
      chainStripes: services.config.ledgerChainStripes,
      hotShards: hot.shardCount,
      latencyMs: { raw: [raw.p50Ms, raw.p99Ms], spread: [spread.p50Ms, spread.p99Ms], hot: [hotResult.p50Ms, hotResult.p99Ms] },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await emulators.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench:ledger failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
