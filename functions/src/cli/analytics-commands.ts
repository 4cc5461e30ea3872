/**
 * `tally analytics ...` (issue 13): operator commands on the analytics ClickHouse. `migrate`
 * applies the schema (ADR 0029); it talks to ClickHouse directly: TALLY_CLICKHOUSE_URL (and
 * _DATABASE, _USER, _PASSWORD), or the server of the `npm start` stack named in .tally/stack.json.
 * Further `analytics` subcommands register on the same command (`registerAnalyticsCommands`).
 */
import type { Command } from 'commander';
import { readStackState, stateFile } from '../../../emulators/state-file.js';
import { analyticsRetentionMonthsDefault, applyAnalyticsRetention, retentionPartitionsMaxDefault } from '../adapters/clickhouse/retention.js';
import { parseConfig } from '../platform/config/config.js';
import { CliError, output, type GlobalOptions } from './cli-support.js';

/** The ClickHouse config: the environment's, else the running stack's server. */
export function clickhouseConfigForCli(): ReturnType<typeof parseConfig>['clickhouse'] {
  if ((process.env.TALLY_CLICKHOUSE_URL ?? '') === '') {
    const url = readStackState()?.emulators.TALLY_CLICKHOUSE_URL;
    if (url === undefined) throw new CliError(`no ClickHouse configured: set TALLY_CLICKHOUSE_URL or start the local stack with "npm start" (${stateFile} is missing or names none)`);
    process.env.TALLY_CLICKHOUSE_URL = url;
  }
  return parseConfig().clickhouse;
}

/** Registers `tally analytics` and returns it, so that other analytics subcommands can join it. */
export function registerAnalyticsCommands(program: Command, globals: (cmd: Command) => GlobalOptions): Command {
  const analytics = program.command('analytics').description('merchant analytics in ClickHouse (fed by analyticsSink from domain-events)');
  analytics.command('migrate')
    .description('apply the versioned ClickHouse schema (functions/src/adapters/clickhouse/migrations): idempotent; refuses edited, missing or out-of-order migrations and changes nothing then')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const config = clickhouseConfigForCli();
      const { migrate, MigrationError } = await import('../adapters/clickhouse/migrate.js');
      try {
        const result = await migrate(config, { onApplied: g.json ? undefined : (label) => process.stderr.write(`analytics migrate: applied ${label}\n`) });
        output(g, result, result.applied.length === 0
          ? `analytics schema up to date: ${result.alreadyApplied} migrations applied in ${result.database} (${config.url})`
          : `analytics schema migrated: ${result.applied.length} applied now (${result.applied.join(', ')}), ${result.alreadyApplied} before, in ${result.database} (${config.url})`);
      } catch (error) {
        if (error instanceof MigrationError) throw new CliError(`analytics migrate refused: ${error.message}`);
        throw error;
      }
    });
  analytics.command('retention')
    .description('drop the analytics tables\' monthly partitions older than the retention (7 years of occurred_at by default; ALTER TABLE ... DROP PARTITION, as ClickHouse 18.16 has no TTL): at most --partitions-max per run, oldest first, each logged; exit 3 when the bound left some for the next run')
    .option('--dry-run', 'list what would be dropped, drop nothing')
    .option('--retention-months <n>', 'months of occurred_at to keep', String(analyticsRetentionMonthsDefault))
    .option('--partitions-max <n>', 'partitions dropped per run at most', String(retentionPartitionsMaxDefault))
    .option('--now <iso>', 'the time the retention counts back from (default: now)')
    .action(async (opts: { dryRun?: boolean; retentionMonths: string; partitionsMax: string; now?: string }, cmd: Command) => {
      const g = globals(cmd);
      const retentionMonths = positiveInt(opts.retentionMonths, '--retention-months');
      const partitionsMax = positiveInt(opts.partitionsMax, '--partitions-max');
      const nowMs = opts.now === undefined ? Date.now() : Date.parse(opts.now);
      if (!Number.isFinite(nowMs)) throw new CliError(`--now: ${opts.now} is not an ISO 8601 time`);
      const config = clickhouseConfigForCli();
      const { createClickHouseClient } = await import('../adapters/clickhouse/clickhouse-client.js');
      const client = createClickHouseClient(config);
      try {
        const verb = opts.dryRun === true ? 'would drop' : 'dropping';
        const result = await applyAnalyticsRetention(client, {
          nowMs, retentionMonths, partitionsMax, dryRun: opts.dryRun === true,
          // Each drop is logged before it runs (stderr; stdout keeps the summary or the JSON).
          onPartition: (p) => process.stderr.write(`analytics retention: ${verb} ${config.database}.${p.table} partition ${p.partition} (${p.rows} rows)\n`),
        });
        const count = result.partitions.length;
        output(g, result, `${result.dryRun ? `dry run: ${count} partitions would be dropped` : `${count} partitions dropped`} (months before ${result.keepFromMonth}, retention ${retentionMonths} months, ${result.database} at ${config.url})`
          + (result.remaining > 0 ? `; ${result.remaining} more beyond --partitions-max ${partitionsMax}: run again` : ''));
        if (result.remaining > 0) process.exitCode = 3;
      } finally {
        await client.close();
      }
    });
  return analytics;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new CliError(`${flag}: expected a positive integer, got ${value}`);
  return n;
}
