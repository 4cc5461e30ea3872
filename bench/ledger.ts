/**
 * `npm run bench:ledger`: ledger write throughput on the Firestore emulator, three ways in one run
 * at the same concurrency:
 *   rawTxPerSec          single-document read-modify-write transactions on distinct documents
 *   spreadEntriesPerSec  two-posting entries over many accounts (full CreateEntry use case)
 *   hotEntriesPerSec     every entry credits one sharded account
 * Prints one JSON object as its last line. Goals: hot/spread >= 0.8, spread/raw >= 0.3.
 */
import { randomUUID } from 'node:crypto';
import { benchConcurrency as concurrency, benchDurationMs as durationMs, benchLog, measureWorkers, runBench } from './support.js';

const log = benchLog('bench:ledger');
const measure = (label: string, op: (worker: number, i: number) => Promise<void>) => measureWorkers(log, label, op);

runBench('bench:ledger', async () => {
  {
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
    return result;
  }
});
