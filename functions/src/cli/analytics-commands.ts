/**
 * `tally analytics ...` (issue 13): operator commands on the analytics ClickHouse. `migrate`
 * applies the schema (ADR 0029); it talks to ClickHouse directly: TALLY_CLICKHOUSE_URL (and
 * _DATABASE, _USER, _PASSWORD), or the server of the `npm start` stack named in .tally/stack.json.
 * Further `analytics` subcommands register on the same command (`registerAnalyticsCommands`).
 */
import type { Command } from 'commander';
import { readStackState, stateFile } from '../../../emulators/state-file.js';
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
  return analytics;
}
