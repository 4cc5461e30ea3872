/** What every bench shares: emulators started and stopped around it, workers measured alike. */
import { startEmulators, type RunningEmulators } from '../emulators/firebase-emulators.js';

// Benches run on their own emulator ports (default offset 4000), so a test run or `npm start`
// can run alongside; per-request logs off (stdout writes would dominate loopback figures).
process.env.TALLY_EMULATOR_PORT_OFFSET ??= '4000';
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.TALLY_LOG_LEVEL = 'WARNING';

export const benchDurationMs = Number(process.env.BENCH_DURATION_S ?? 8) * 1000;
export const benchConcurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
/**
 * Unmeasured run of each path first, so that both compare warm (JIT-compiled, connections open).
 * The Firestore emulator's JVM needs tens of seconds of load to compile its hot paths: measured on
 * this kind of machine, raw creates went 160/s -> 1 400/s over the first 40 s of load.
 */
export const benchWarmUpMs = Number(process.env.BENCH_WARMUP_S ?? 10) * 1000;
/** Measured rounds per path when paths are compared (`measureInterleaved`). */
export const benchRounds = Number(process.env.BENCH_ROUNDS ?? 4);

export function benchLog(name: string): (text: string) => void {
  return (text) => process.stderr.write(`${name}: ${text}\n`);
}

/** What one measurement reports. */
export interface Measured { perSec: number; ops: number; p50Ms: number; p99Ms: number }

/** One timed run: every op's latency, and the time it took. */
interface Run { latenciesMs: number[]; elapsedMs: number }

async function runWorkers(op: (worker: number, i: number) => Promise<void>, durationMs: number): Promise<Run> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: benchConcurrency }, async (_, worker) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const t0 = performance.now();
      await op(worker, i);
      latenciesMs.push(performance.now() - t0);
    }
  }));
  return { latenciesMs, elapsedMs: performance.now() - started };
}

/** Runs as one measurement: total ops over total time, latency percentiles over all ops. */
function summarize(runs: readonly Run[]): Measured {
  const latencies = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const elapsedS = runs.reduce((a, r) => a + r.elapsedMs, 0) / 1000;
  const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(1));
  return { perSec: Math.round(latencies.length / elapsedS), ops: latencies.length, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** Runs `op` from `benchConcurrency` workers until the deadline: completed ops per second and latency. */
export async function measureWorkers(log: (text: string) => void, label: string, op: (worker: number, i: number) => Promise<void>, durationMs = benchDurationMs): Promise<Measured> {
  log(`${label}: ${benchConcurrency} workers for ${durationMs / 1000}s ...`);
  return summarize([await runWorkers(op, durationMs)]);
}

/**
 * Compares paths fairly: `benchRounds` rounds, each running every path in turn for its share of
 * `benchDurationMs`, so that no path is measured on a colder or warmer emulator than another (the
 * JVM keeps compiling for a long time). Each path's figures cover all its rounds.
 */
export async function measureInterleaved<K extends string>(
  log: (text: string) => void, paths: Readonly<Record<K, (worker: number, i: number) => Promise<void>>>,
): Promise<Record<K, Measured>> {
  const roundMs = benchDurationMs / benchRounds;
  const entries = Object.entries(paths) as [K, (worker: number, i: number) => Promise<void>][];
  const runs = new Map<K, Run[]>(entries.map(([label]) => [label, []]));
  for (let round = 1; round <= benchRounds; round++) {
    for (const [label, op] of entries) {
      log(`round ${round}/${benchRounds}: ${label}: ${benchConcurrency} workers for ${roundMs / 1000}s ...`);
      runs.get(label)!.push(await runWorkers(op, roundMs));
    }
  }
  return Object.fromEntries(entries.map(([label]) => [label, summarize(runs.get(label)!)])) as Record<K, Measured>;
}

/**
 * Compares paths that each drain a fixed number of operations (a backlog, a batch of requests)
 * rather than run for a duration (`measureInterleaved`): `rounds` rounds, each running every path
 * once in turn, `beforeEach` (e.g. waiting for a quiet machine) before every run. A path's run
 * resolves to its elapsed ms. Logs each round; returns each path's operations per second over all
 * its rounds.
 */
export async function measureRounds<K extends string>(log: (text: string) => void, options: {
  rounds: number; opsPerRound: number; paths: Readonly<Record<K, (label: string) => Promise<number>>>; beforeEach?: () => Promise<void>;
}): Promise<Record<K, number>> {
  const entries = Object.entries(options.paths) as [K, (label: string) => Promise<number>][];
  const totalMs = new Map<K, number>(entries.map(([label]) => [label, 0]));
  const perSec = (ops: number, ms: number) => Math.round(ops / (ms / 1000));
  for (let round = 1; round <= options.rounds; round++) {
    const figures: string[] = [];
    for (const [label, run] of entries) {
      await options.beforeEach?.();
      log(`round ${round}/${options.rounds}: ${label}, ${options.opsPerRound} ...`);
      const ms = await run(`r${round}`);
      totalMs.set(label, totalMs.get(label)! + ms);
      figures.push(`${label} ${perSec(options.opsPerRound, ms)}/s`);
    }
    log(`round ${round}/${options.rounds}: ${figures.join(', ')}`);
  }
  return Object.fromEntries(entries.map(([label]) => [label, perSec(options.rounds * options.opsPerRound, totalMs.get(label)!)])) as Record<K, number>;
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
