/** What every bench shares: emulators started and stopped around it, workers measured alike. */
import { startEmulators, type RunningEmulators } from '../emulators/firebase-emulators.js';

// Benches run on their own emulator ports (default offset 4000), so a test run or `npm start`
// can run alongside; per-request logs off (stdout writes would dominate loopback figures).
process.env.TALLY_EMULATOR_PORT_OFFSET ??= '4000';
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.TALLY_LOG_LEVEL = 'WARNING';

export const benchDurationMs = Number(process.env.BENCH_DURATION_S ?? 8) * 1000;
export const benchConcurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Unmeasured run of each path first, so that both compare warm (JIT-compiled, connections open). */
export const benchWarmUpMs = Number(process.env.BENCH_WARMUP_S ?? 3) * 1000;

export function benchLog(name: string): (text: string) => void {
  return (text) => process.stderr.write(`${name}: ${text}\n`);
}

/** Runs `op` from `benchConcurrency` workers until the deadline: completed ops per second and latency. */
export async function measureWorkers(log: (text: string) => void, label: string, op: (worker: number, i: number) => Promise<void>, durationMs = benchDurationMs) {
  log(`${label}: ${benchConcurrency} workers for ${durationMs / 1000}s ...`);
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: benchConcurrency }, async (_, worker) => {
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

/**
 * Starts the emulators, runs the bench, prints its result as the last stdout line (one JSON
 * object), stops everything, and exits non-zero on failure.
 */
export function runBench(name: string, bench: (emulators: RunningEmulators) => Promise<Record<string, unknown>>): void {
  const log = benchLog(name);
  const main = async () => {
    log('starting emulators ...');
    const emulators = await startEmulators({ profile: 'test' });
    Object.assign(process.env, emulators.env);
    try {
      const result = await bench(emulators);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await emulators.stop();
    }
  };
  main().then(() => process.exit(0), (error: unknown) => {
    process.stderr.write(`${name} failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
