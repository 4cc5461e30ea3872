/**
 * `tally events dlq list|replay` and `tally events replay` (issue 13 item 2, ADR 0030). Like
 * `tally outbox drain`, these are operator tools, not merchant APIs: they talk to Firestore and
 * Pub/Sub directly (the emulators named in .tally/stack.json when `npm start` runs, or
 * FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST already set, otherwise GOOGLE_CLOUD_PROJECT with
 * ambient credentials).
 */
import type { Command } from 'commander';
import { readStackState, stateFile } from '../../../emulators/state-file.js';
import type { createPubSubEventBus } from '../adapters/pubsub/pubsub-event-bus.js';
import { replayConsumers } from '../app/events/replay-target.js';
import { parseConfig } from '../platform/config/config.js';
import { systemClock } from '../ports/clock.js';
import { CliError, output, table, type GlobalOptions } from './cli-support.js';

/** Points the Google clients at the running stack's emulators unless something else is configured. */
function useStackUnlessConfigured(): void {
  if (process.env.PUBSUB_EMULATOR_HOST !== undefined || process.env.GOOGLE_CLOUD_PROJECT !== undefined) return;
  const state = readStackState();
  if (!state) throw new CliError(`no running stack found (${stateFile} is missing) and GOOGLE_CLOUD_PROJECT is not set: start one with "npm start"`);
  Object.assign(process.env, state.emulators, { METADATA_SERVER_DETECTION: 'none' });
}

function boundedInt(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new CliError(`${flag} ${raw}: expected an integer in [${min}, ${max}]`);
  return value;
}

/** An ISO 8601 instant with its zone (`2026-12-01T00:00:00Z`, `...+01:00`): a zone-less time would be read in the machine's zone. */
function instantMs(flag: string, raw: string): number {
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(raw) || !Number.isFinite(ms)) {
    throw new CliError(`${flag} ${raw}: expected an ISO 8601 date or instant with a zone, e.g. 2026-12-01 or 2026-12-01T10:00:00Z`);
  }
  return ms;
}

async function withPubSub<T>(run: (bus: ReturnType<typeof createPubSubEventBus>) => Promise<T>): Promise<T> {
  useStackUnlessConfigured();
  const { createPubSubEventBus } = await import('../adapters/pubsub/pubsub-event-bus.js');
  const bus = createPubSubEventBus(parseConfig().projectId);
  try {
    return await run(bus);
  } finally {
    await bus.client.close();
  }
}

export function registerEventsCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const events = program.command('events').description('domain events: dead letters and replays (Pub/Sub and the outbox directly, not the API)');
  const dlq = events.command('dlq').description("dead letters: messages a subscription gave up on after its dead-letter policy's attempts");

  dlq.command('list')
    .description('list dead-lettered messages (left where they are), by the subscription they came from')
    .option('--subscription <name>', 'only dead letters of this subscription (default: every subscription with a dead-letter policy)')
    .option('--max <n>', 'most messages listed, 1..10000', '1000')
    .action(async (opts: { subscription?: string; max: string }, cmd: Command) => {
      const g = globals(cmd);
      const max = boundedInt('--max', opts.max, 1, 10_000);
      const listing = await withPubSub(async (bus) => {
        const { createPubSubDeadLetterQueues } = await import('../adapters/pubsub/dead-letter-queues.js');
        const { listDeadLetters } = await import('../app/events/dead-letters.js');
        const queues = createPubSubDeadLetterQueues(bus.client);
        try {
          return await listDeadLetters({ queues, bus }, { ...(opts.subscription === undefined ? {} : { subscription: opts.subscription }), max });
        } finally {
          await queues.close();
        }
      });
      const counts = new Map<string, number>();
      for (const m of listing.messages) counts.set(m.sourceSubscription, (counts.get(m.sourceSubscription) ?? 0) + 1);
      const routes = table(listing.routes.map((r) => ({ ...r, holdSubscription: r.holdSubscription ?? '(none: dead letters are dropped)', waiting: counts.get(r.sourceSubscription) ?? 0 })),
        ['sourceSubscription', 'deadLetterTopic', 'holdSubscription', 'maxDeliveryAttempts', 'waiting']);
      const messages = listing.messages.length === 0 ? 'no dead letters'
        : table(listing.messages.map((m) => ({ ...m })), ['sourceSubscription', 'messageId', 'eventId', 'type', 'tenantId', 'deliveryCount', 'deadLetteredAt', 'bytes']);
      output(g, listing, `${routes}\n\n${messages}${listing.complete ? '' : `\n(stopped at --max ${max}: more are waiting)`}`);
    });

  dlq.command('replay')
    .description('re-deliver dead letters to the subscription each came from (published to its topic for that subscription only), then remove them; progress per page. Exit 0 all replayed, 1 some failed, 3 stopped at --max')
    .option('--subscription <name>', 'only dead letters of this subscription (default: every subscription with a dead-letter policy)')
    .option('--max <n>', 'most messages replayed, 1..100000', '1000')
    .action(async (opts: { subscription?: string; max: string }, cmd: Command) => {
      const g = globals(cmd);
      const max = boundedInt('--max', opts.max, 1, 100_000);
      const report = await withPubSub(async (bus) => {
        const { createPubSubDeadLetterQueues } = await import('../adapters/pubsub/dead-letter-queues.js');
        const { replayDeadLetters } = await import('../app/events/dead-letters.js');
        const queues = createPubSubDeadLetterQueues(bus.client);
        try {
          return await replayDeadLetters({ queues, bus }, { ...(opts.subscription === undefined ? {} : { subscription: opts.subscription }), max },
            g.json ? undefined : (r) => process.stderr.write(`dlq replay: ${r.replayed} replayed, ${r.failed} failed, ${r.skipped} left (other subscriptions)\n`));
        } finally {
          await queues.close();
        }
      });
      const per = Object.entries(report.bySubscription).map(([s, n]) => `${s}: ${n}`).join(', ');
      output(g, report, `dead letters replayed: ${report.replayed}${per ? ` (${per})` : ''}, failed: ${report.failed}${report.firstError ? ` (first: ${report.firstError})` : ''}`
        + `${report.complete ? '' : `; stopped at --max ${max}, run again for the rest`}`);
      if (report.failed > 0) process.exitCode = 1;
      else if (!report.complete) process.exitCode = 3;
    });

  events.command('replay')
    .description('re-publish outbox events (the durable log) created in [--from, --to) to domain-events, for one consumer or all; consumers dedupe by event id, so a replay never double-counts. Exit 0 done, 1 some failed, 3 stopped at --pages-max (resume with --after)')
    .requiredOption('--from <iso>', 'start, inclusive (ISO 8601 with zone, e.g. 2026-12-01T00:00:00Z)')
    .requiredOption('--to <iso>', 'end, exclusive')
    .requiredOption('--consumer <name>', `who gets the replay: ${[...Object.keys(replayConsumers), 'all'].join('|')}`)
    .option('--tenant <tenantId>', 'only this tenant (default: every tenant)')
    .option('--type <type>', 'only events of this type, e.g. payment.status_changed')
    .option('--page-size <n>', 'events read per page, 1..1000', '200')
    .option('--pages-max <n>', 'most pages this run, 1..100000', '1000')
    .option('--after <cursor>', "resume after a stopped run (its resumeCursor)")
    .action(async (opts: { from: string; to: string; consumer: string; tenant?: string; type?: string; pageSize: string; pagesMax: string; after?: string }, cmd: Command) => {
      const g = globals(cmd);
      const fromMs = instantMs('--from', opts.from);
      const toMs = instantMs('--to', opts.to);
      if (!(fromMs < toMs)) throw new CliError(`--from ${opts.from} must be before --to ${opts.to}`);
      if (opts.consumer !== 'all' && replayConsumers[opts.consumer] === undefined) {
        throw new CliError(`--consumer ${opts.consumer}: expected one of ${[...Object.keys(replayConsumers), 'all'].join(', ')}`);
      }
      if (opts.tenant !== undefined && !/^ten_[A-Za-z0-9_-]{1,64}$/.test(opts.tenant)) throw new CliError(`--tenant ${opts.tenant}: expected a tenant id, ten_...`);
      const pageSize = boundedInt('--page-size', opts.pageSize, 1, 1_000);
      const pagesMax = boundedInt('--pages-max', opts.pagesMax, 1, 100_000);
      const targetSubscription = opts.consumer === 'all' ? undefined : replayConsumers[opts.consumer];
      useStackUnlessConfigured();
      const config = parseConfig();
      // Loaded here, not at the top: the whole CLI imports this file, and compose pulls in every adapter.
      const [{ createFirestore }, { createPubSubEventBus }, { replayOutbox }, { composeOutbox }] = await Promise.all([
        import('../adapters/firestore/firestore-client.js'), import('../adapters/pubsub/pubsub-event-bus.js'),
        import('../app/events/outbox-replay.js'), import('../compose.js')]);
      const db = createFirestore(config.projectId);
      const bus = createPubSubEventBus(config.projectId);
      try {
        await bus.ensureTopics(['domain-events']);
        const report = await replayOutbox(composeOutbox(config, db, bus, systemClock), {
          fromMs, toMs, pageSize, pagesMax,
          ...(opts.tenant === undefined ? {} : { tenantId: opts.tenant }),
          ...(opts.type === undefined ? {} : { type: opts.type }),
          ...(targetSubscription === undefined ? {} : { targetSubscription }),
          ...(opts.after === undefined ? {} : { cursor: opts.after }),
        }, g.json ? undefined : (r) => process.stderr.write(`events replay: page ${r.pages}: ${r.read} read, ${r.published} published, ${r.failed} failed${r.lastEventAt ? `, up to ${r.lastEventAt}` : ''}\n`));
        output(g, { ...report, consumer: opts.consumer, targetSubscription: targetSubscription ?? null },
          `events replayed to ${opts.consumer === 'all' ? 'every consumer' : `${opts.consumer} (${targetSubscription})`}: ${report.published} published of ${report.read} read in ${report.pages} pages, ${report.failed} failed`
          + `${report.firstError ? ` (first: ${report.firstError})` : ''}${report.complete ? '' : `; stopped at --pages-max: resume with --after ${report.resumeCursor}`}`);
        if (report.failed > 0) process.exitCode = 1;
        else if (!report.complete) process.exitCode = 3;
      } finally {
        await Promise.allSettled([db.terminate(), bus.client.close()]);
      }
    });
}
