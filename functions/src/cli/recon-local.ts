/**
 * `tally recon run` against a tenant and `tally recon breaks`: like `outbox drain`, the CLI runs the
 * use cases itself against Firestore: the emulators named in .tally/stack.json when `npm start` runs
 * (or FIRESTORE_EMULATOR_HOST already set), otherwise GOOGLE_CLOUD_PROJECT with ambient credentials.
 * The report file is read twice: once for its SHA-256 (the run's identity), once to reconcile.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readStackState, stateFile } from '../../../emulators/state-file.js';
import { openReport } from '../adapters/recon/report-file.js';
import { type ReconProgress } from '../app/recon/parse-report.js';
import { type ReconDeps, type ReconRunResult, runRecon } from '../app/recon/run-recon.js';
import { composeRecon } from '../compose-recon.js';
import { composeServices } from '../compose.js';
import { TallyError } from '../domain/errors.js';
import type { ReportPsp } from '../domain/recon/index.js';
import { parseConfig } from '../platform/config/config.js';
import type { BreakStatus, StoredBreak } from '../ports/recon-store.js';
import { CliError } from './cli-support.js';

/** The tenant to use: --tenant, else the demo tenant of the running stack. */
function tenantOf(tenant: string | undefined): string {
  const t = tenant ?? readStackState()?.demoTenantId;
  if (!t) throw new CliError('no tenant: pass --tenant ten_... (no running stack to take the demo tenant from)');
  return t;
}

async function withRecon<T>(work: (deps: ReconDeps) => Promise<T>): Promise<T> {
  if (process.env.FIRESTORE_EMULATOR_HOST === undefined && process.env.GOOGLE_CLOUD_PROJECT === undefined) {
    const state = readStackState();
    if (!state) throw new CliError(`no running stack found (${stateFile} is missing) and GOOGLE_CLOUD_PROJECT is not set: start one with "npm start", or use --dry-run without --tenant`);
    Object.assign(process.env, state.emulators, { METADATA_SERVER_DETECTION: 'none' });
  }
  const services = composeServices(parseConfig());
  try {
    return await work(composeRecon(services));
  } finally {
    await Promise.allSettled([services.db.terminate(), services.bus.client.close()]);
  }
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (error) {
    throw new TallyError('REPORT_MALFORMED', `${file}:0: column -: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { file, line: '0', column: '-' });
  }
  return hash.digest('hex');
}

export async function reconRunCommand(options: { psp: ReportPsp; report: string; tenant?: string; dryRun: boolean; onProgress: ReconProgress | undefined }): Promise<ReconRunResult> {
  const tenantId = tenantOf(options.tenant);
  const sha256 = await sha256OfFile(options.report);
  return withRecon((deps) => runRecon(deps, {
    tenantId, psp: options.psp, sha256, fileName: options.report, dryRun: options.dryRun, trace: { traceId: '', spanId: '' },
    open: () => openReport(options.report, options.psp),
  }, options.onProgress));
}

export function listBreaksCommand(options: { tenant?: string; status?: BreakStatus; runId?: string; limit: number }): Promise<StoredBreak[]> {
  const tenantId = tenantOf(options.tenant);
  return withRecon(async (deps) => {
    const out: StoredBreak[] = [];
    let cursor: string | undefined;
    // Bounded by `limit` (at most 10,000).
    while (out.length < options.limit) {
      const page = await deps.store.listBreaks(tenantId, { ...(options.status ? { status: options.status } : {}), ...(options.runId ? { runId: options.runId } : {}) }, Math.min(100, options.limit - out.length), cursor);
      out.push(...page.items);
      cursor = page.nextCursor;
      if (cursor === undefined) break;
    }
    return out;
  });
}

export function resolveBreakCommand(options: { tenant?: string; breakId: string; resolution: string; note: string }): Promise<StoredBreak> {
  const tenantId = tenantOf(options.tenant);
  return withRecon(async (deps) => {
    const b = await deps.store.resolveBreak(tenantId, options.breakId, options.resolution, options.note, deps.clock.nowMs());
    if (!b) throw new TallyError('NOT_FOUND', `break ${options.breakId} not found`, { field: 'break_id' });
    return b;
  });
}
