/**
 * The `tally` command. Targets the stack `npm start` wrote to .tally/stack.json unless --api-url
 * and --api-key (or TALLY_API_URL / TALLY_API_KEY) say otherwise. Human tables by default, --json
 * for machines; exit code 0 only on success.
 */
import { randomUUID } from 'node:crypto';
import { Command, CommanderError, Option } from 'commander';
import { ConnectError } from '@connectrpc/connect';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { TallyError } from '../domain/errors.js';
import { ErrorInfoSchema } from '../gen/tally/errors/v1/errors_pb.js';
import { Role, type ApiKey } from '../gen/tally/tenancy/v1/tenancy_pb.js';
import { createTallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';
import { registerPaymentCommands } from './payments-commands.js';
import { registerBillingCommands } from './billing-commands.js';
import { registerWebhooksCommands } from './webhooks-commands.js';
import { registerTaxCommands } from './tax-commands.js';
import { registerReconCommands } from './recon-commands.js';
import { registerAnalyticsCommands } from './analytics-commands.js';
import { registerAnalyticsReportCommand } from './analytics-report-command.js';
import { registerEventsCommands } from './events-commands.js';
import { registerCheckoutCommands } from './checkout-commands.js';

const roleNames: Record<string, Role> = { owner: Role.OWNER, developer: Role.DEVELOPER, viewer: Role.VIEWER };
const roleName = (role: Role): string => Object.entries(roleNames).find(([, r]) => r === role)?.[0] ?? 'unknown';
const iso = (t: Timestamp | undefined): string => (t ? timestampDate(t).toISOString() : '');

function keyJson(k: ApiKey): Record<string, unknown> {
  return {
    id: k.id, tenantId: k.tenantId, name: k.name, role: roleName(k.role),
    ...(k.secret ? { secret: k.secret } : {}), secretLast4: k.secretLast4,
    createTime: iso(k.createTime), revokeTime: k.revokeTime ? iso(k.revokeTime) : null,
  };
}

export function buildProgram(): Command {
  const program = new Command('tally')
    .description('Tally command line: tenants, API keys, payments, ledger verification and the outbox against a running Tally stack')
    .addOption(new Option('--api-url <url>', 'API base URL (default: the npm start stack)'))
    .addOption(new Option('--api-key <key>', 'API key (default: the demo tenant key; admin key for tenant create)'))
    .option('--json', 'print JSON for machines')
    .showHelpAfterError()
    .exitOverride();

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();

  const tenant = program.command('tenant').description('tenants (merchants of the platform)');
  tenant.command('create')
    .description('create a tenant and print its id and a fresh owner API key (platform admin)')
    .requiredOption('--name <name>', 'display name')
    .option('--idempotency-key <key>', 'idempotency key (default: a new random one)')
    .option('--test-mode', 'a test tenant (may use billing test clocks); default: live')
    .action(async (opts: { name: string; idempotencyKey?: string; testMode?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g, true);
      const res = await createTallyClient(url, key).tenancy.createTenant({ name: opts.name, testMode: opts.testMode === true, idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      output(g, { tenant: { id: res.tenant?.id, name: res.tenant?.name }, ownerApiKey: res.ownerApiKey ? keyJson(res.ownerApiKey) : null },
        `tenant ${res.tenant?.id} "${res.tenant?.name}" created\nowner API key (shown once): ${res.ownerApiKey?.secret || '(replayed request: secret not shown again)'}`);
    });
  tenant.command('get')
    .description("show the API key's tenant")
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g);
      const { tenant: t } = await createTallyClient(url, key).tenancy.getTenant({});
      output(g, { id: t?.id, name: t?.name, createTime: iso(t?.createTime) }, table([{ id: t?.id, name: t?.name, created: iso(t?.createTime) }], ['id', 'name', 'created']));
    });

  tenant.command('pricing').description("a tenant's pricing (the platform fee on its captures)")
    .command('set')
    .description("set a tenant's pricing: a percentage in basis points plus a fixed part per currency (platform admin)")
    .requiredOption('--tenant <tenantId>', 'the tenant, ten_...')
    .requiredOption('--rate-bps <bps>', 'percentage part in basis points (150 = 1.5 %), 0..10000')
    .option('--fixed <CUR:minor>', 'fixed part in minor units of a currency, e.g. EUR:25 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--idempotency-key <key>', 'idempotency key (default: a new random one)')
    .action(async (opts: { tenant: string; rateBps: string; fixed: string[]; idempotencyKey?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g, true);
      if (!/^\d{1,5}$/.test(opts.rateBps)) throw new Error(`--rate-bps ${opts.rateBps}: expected an integer 0..10000`);
      const fixedMinorByCurrency: Record<string, bigint> = {};
      for (const pair of opts.fixed) {
        const m = /^([A-Z]{3}):(\d{1,7})$/.exec(pair);
        if (!m) throw new Error(`--fixed ${pair}: expected CUR:minor, e.g. EUR:25`);
        fixedMinorByCurrency[m[1]!] = BigInt(m[2]!);
      }
      const res = await createTallyClient(url, key).tenancy.setTenantPricing({
        tenantId: opts.tenant, pricing: { rateBps: Number(opts.rateBps), fixedMinorByCurrency }, idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      const p = res.tenant?.pricing;
      const fixed = Object.entries(p?.fixedMinorByCurrency ?? {}).map(([c, v]) => `${c}:${v.toString()}`);
      output(g, { tenantId: res.tenant?.id, rateBps: p?.rateBps, fixedMinorByCurrency: Object.fromEntries(Object.entries(p?.fixedMinorByCurrency ?? {}).map(([c, v]) => [c, v.toString()])) },
        `tenant ${res.tenant?.id} pricing: ${p?.rateBps ?? 0} bps${fixed.length > 0 ? ` + ${fixed.join(', ')} (minor units)` : ''}`);
    });

  const apikey = program.command('apikey').description('API keys of the current tenant');
  apikey.command('create')
    .description('create an API key; its secret is printed once')
    .requiredOption('--name <name>', 'label')
    .addOption(new Option('--role <role>', 'role').choices(Object.keys(roleNames)).default('developer'))
    .option('--idempotency-key <key>', 'idempotency key (default: a new random one)')
    .action(async (opts: { name: string; role: string; idempotencyKey?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g);
      const { apiKey } = await createTallyClient(url, key).tenancy.createApiKey({ name: opts.name, role: roleNames[opts.role], idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      output(g, apiKey ? keyJson(apiKey) : null, `API key ${apiKey?.id} (${opts.role}) created\nsecret (shown once): ${apiKey?.secret || '(replayed request: secret not shown again)'}`);
    });
  apikey.command('list')
    .description('list API keys, newest first (never their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g);
      const client = createTallyClient(url, key);
      const keys: ApiKey[] = [];
      let pageToken = '';
      // Bounded: at most 100 pages of 100 keys.
      for (let page = 0; page < 100; page++) {
        const res = await client.tenancy.listApiKeys({ pageSize: 100, pageToken });
        keys.push(...res.apiKeys);
        pageToken = res.nextPageToken;
        if (pageToken === '') break;
      }
      const rows = keys.map(keyJson);
      output(g, rows, table(rows.map((r) => ({ ...r, secret: `...${String(r.secretLast4)}`, status: r.revokeTime ? 'revoked' : 'active' })), ['id', 'name', 'role', 'secret', 'status', 'createTime']));
    });
  apikey.command('revoke')
    .description('revoke an API key (takes effect at once; revoking twice is harmless)')
    .argument('<keyId>', 'the key id, key_...')
    .option('--idempotency-key <key>', 'idempotency key (default: a new random one)')
    .action(async (keyId: string, opts: { idempotencyKey?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g);
      const { apiKey } = await createTallyClient(url, key).tenancy.revokeApiKey({ apiKeyId: keyId, idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      output(g, apiKey ? keyJson(apiKey) : null, `API key ${apiKey?.id} revoked at ${iso(apiKey?.revokeTime)}`);
    });
  const ledgerCmd = program.command('ledger').description('the double-entry ledger');
  ledgerCmd.command('verify')
    .description("verify a tenant's hash chain and checkpoint signatures chunk by chunk (one bounded request each), from the signed watermark, or from genesis with --full (a resumable job); name the first entry that does not match. Exit 0 verified, 1 mismatch, 3 stopped at --chunks-max (run again to resume)")
    .option('--tenant <tenantId>', 'tenant to verify (platform admin key); default: the API key\'s tenant')
    .option('--full', 'verify from genesis as a resumable job: resumes the unfinished job, else starts a new one')
    .option('--chunk-records <n>', 'most records per chunk (request), 1..1000000 (default: the server bound)')
    .option('--chunks-max <n>', 'most chunks this run, 1..1000000', '100000')
    .action(async (opts: { tenant?: string; full?: boolean; chunkRecords?: string; chunksMax: string }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g, opts.tenant !== undefined && g.apiKey === undefined);
      const recordsMax = opts.chunkRecords === undefined ? 0 : boundedInt('--chunk-records', opts.chunkRecords, 1, 1_000_000);
      const chunksMax = boundedInt('--chunks-max', opts.chunksMax, 1, 1_000_000);
      const what = `${opts.full ? 'full verification' : 'verification'} of ${opts.tenant ?? 'the current tenant'}`;
      if (!g.json) process.stderr.write(`${what} ...\n`);
      const client = createTallyClient(url, key);
      let summary = {
        ok: true, complete: false, mode: opts.full ? 'full' : 'incremental', jobId: null as string | null, chunks: 0,
        entriesChecked: 0, entriesVerified: 0, entriesTotal: 0, checkpointsVerified: 0, checkpointSequence: 0,
        firstBadEntryId: null as string | null, failureReason: null as string | null, watermarkRejected: false,
      };
      // Each chunk is one bounded request that advances the signed watermark, so stopping anywhere
      // (the bound below, ^C, a crash) loses nothing: the next run resumes there.
      while (summary.chunks < chunksMax) {
        const res = await client.ledger.verifyChain({ tenantId: opts.tenant ?? '', full: opts.full === true, recordsMax });
        summary = {
          ...summary, ok: res.ok, complete: res.complete, jobId: res.jobId || null, chunks: summary.chunks + 1,
          entriesChecked: summary.entriesChecked + Number(res.entriesChecked), entriesVerified: Number(res.entriesVerified), entriesTotal: Number(res.entriesTotal),
          checkpointsVerified: summary.checkpointsVerified + Number(res.checkpointsVerified), checkpointSequence: Number(res.checkpointSequence),
          firstBadEntryId: res.firstBadEntryId || null, failureReason: res.failureReason || null, watermarkRejected: summary.watermarkRejected || res.watermarkRejected,
        };
        if (res.watermarkRejected && !g.json) process.stderr.write('warning: the stored verification watermark does not verify (forged or edited): ignored, verifying from genesis\n');
        if (!g.json) {
          process.stderr.write(`chunk ${summary.chunks}${summary.jobId ? ` (job ${summary.jobId})` : ''}: ${Number(res.entriesChecked)} records checked, `
            + `${summary.entriesVerified}/${summary.entriesTotal} verified, checkpoints verified to ${summary.checkpointSequence}${res.ok ? '' : ' - MISMATCH'}\n`);
        }
        if (!res.ok || res.complete) break;
      }
      output(g, summary, !summary.ok
        ? `ledger chain BROKEN at entry ${summary.firstBadEntryId ?? '(none)'}: ${summary.failureReason}\n(${summary.entriesVerified} records verified before it)`
        : summary.complete
          ? `ledger chain OK: ${summary.entriesVerified} records (${summary.entriesChecked} checked by this run in ${summary.chunks} chunks, the rest before, up to the signed watermark), `
            + `${summary.checkpointsVerified} signed checkpoints verified (to checkpoint ${summary.checkpointSequence})`
          : `ledger chain verified so far: ${summary.entriesVerified}/${summary.entriesTotal} records, stopped after ${summary.chunks} chunks (--chunks-max); run again to resume`);
      if (!summary.ok) process.exitCode = 1;
      else if (!summary.complete) process.exitCode = 3;
    });
  registerPaymentCommands(program, globals);
  registerBillingCommands(program, globals);
  registerWebhooksCommands(program, globals);
  registerTaxCommands(program, globals);
  registerReconCommands(program, globals);
  registerAnalyticsReportCommand(registerAnalyticsCommands(program, globals), globals);
  registerEventsCommands(program, globals);
  registerCheckoutCommands(program, globals);
  const outboxCmd = program.command('outbox').description('the transactional outbox (events waiting to be published to domain-events)');
  outboxCmd.command('drain')
    .description('publish every unsent outbox event now, in bounded batches (Firestore and Pub/Sub directly: the emulators of the npm start stack, or GOOGLE_CLOUD_PROJECT with ambient credentials)')
    .option('--tenant <tenantId>', 'only this tenant (default: every tenant)')
    .option('--batch-max <n>', 'events per batch, 1..1000 (default: TALLY_OUTBOX_SWEEP_BATCH_MAX)')
    .option('--batches-max <n>', 'most batches, 1..10000', '100')
    .action(async (opts: { tenant?: string; batchMax?: string; batchesMax: string }, cmd: Command) => {
      const g = globals(cmd);
      const { drainOutboxCommand } = await import('./outbox-drain.js');
      const report = await drainOutboxCommand({
        ...(opts.tenant === undefined ? {} : { tenantId: opts.tenant }),
        ...(opts.batchMax === undefined ? {} : { batchMax: boundedInt('--batch-max', opts.batchMax, 1, 1_000) }),
        batchesMax: boundedInt('--batches-max', opts.batchesMax, 1, 10_000),
        onBatch: g.json ? undefined : (r) => process.stderr.write(`outbox drain: batch ${r.batches}: ${r.published} published, ${r.duplicates} already marked, ${r.failed} failed\n`),
      });
      output(g, report, report.failed === 0 && report.complete
        ? `outbox drained: ${report.published} events published in ${report.batches} batches (${report.duplicates} were marked by another relay meanwhile)`
        : `outbox NOT drained: ${report.published} published, ${report.failed} failed, ${report.deferred} deferred behind a failure${report.firstError ? `; first error: ${report.firstError}` : ''}${report.complete ? '' : ' (run again)'}`);
      if (report.failed > 0 || !report.complete) process.exitCode = 1;
    });
  return program;
}

function boundedInt(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new CliError(`${flag} ${raw}: expected an integer in [${min}, ${max}]`);
  return value;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const commanderCode = error instanceof CommanderError ? error.code : undefined;
    if (commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' || commanderCode === 'commander.help') return 0;
    if (commanderCode?.startsWith('commander.')) return 2;
    let payload: { code: string; reason: string; message: string; metadata?: Record<string, string> };
    if (error instanceof ConnectError) {
      const info = error.findDetails(ErrorInfoSchema)[0];
      payload = { code: codeName(error.code), reason: info?.reason ?? '', message: error.rawMessage, metadata: info?.metadata ?? {} };
    } else if (error instanceof TallyError) {
      // Refused before any call (e.g. an amount with more decimals than its currency has).
      payload = { code: 'cli', reason: error.reason, message: error.message, metadata: { ...error.metadata } };
    } else {
      payload = { code: 'cli', reason: '', message: (error as Error).message };
    }
    if (wantsJson) process.stdout.write(`${JSON.stringify({ error: payload }, null, 2)}\n`);
    // A decline names its payment (e.g. a one-call checkout's): shown so it can be confirmed again.
    else process.stderr.write(`error: ${payload.code}${payload.reason ? ` ${payload.reason}` : ''}: ${payload.message}${payload.metadata?.paymentId ? ` (payment ${payload.metadata.paymentId})` : ''}\n`);
    return 1;
  }
}

function codeName(code: number): string {
  const names = ['ok', 'canceled', 'unknown', 'invalid_argument', 'deadline_exceeded', 'not_found', 'already_exists', 'permission_denied',
    'resource_exhausted', 'failed_precondition', 'aborted', 'out_of_range', 'unimplemented', 'internal', 'unavailable', 'data_loss', 'unauthenticated'];
  return names[code] ?? String(code);
}
