/**
 * ReconService's use cases (ADR 0033): a report uploaded through the API is checked (it must read
 * as a report of its PSP), stored, recorded as a `queued` run and announced on `recon-requests`;
 * `reconRun` executes it with the same `runRecon` as the CLI. Everything is keyed by the report's
 * SHA-256, so an upload retried or repeated and a message redelivered run the report once.
 */
import { createHash } from 'node:crypto';
import { TallyError, invalidField } from '../../domain/errors.js';
import { type ReportPsp, reportPsps } from '../../domain/recon/index.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { ReconRun } from '../../ports/recon-store.js';
import type { ReportReading } from '../../ports/report-reading.js';
import type { ReportUploadStore } from '../../ports/report-upload-store.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { parseReport } from './parse-report.js';
import { type ReconDeps, type ReconRunResult, runIdOf, runRecon } from './run-recon.js';

/** The topic `reconRun` reads: `{ tenantId, runId }` JSON. */
export const reconRequestsTopic = 'recon-requests';

const FILE_NAME_CHARS_MAX = 200;

export interface ReconServiceDeps {
  recon: ReconDeps;
  uploads: ReportUploadStore;
  bus: EventBus;
  /** Most bytes of one uploaded report (at most the upload store's 8 MiB). */
  uploadBytesMax: number;
  /** Opens a report held in memory for reading (the report-file adapter over the bytes). */
  read: (content: Uint8Array, psp: ReportPsp, fileName: string) => ReportReading;
}

export interface UploadInput { psp: string; fileName: string; content: Uint8Array }

function checkUpload(deps: ReconServiceDeps, input: UploadInput): ReportPsp {
  if (input.psp === '') throw invalidField('psp', `required: one of ${reportPsps.join(', ')}`, 'FIELD_REQUIRED');
  if (!(reportPsps as readonly string[]).includes(input.psp)) throw invalidField('psp', `unknown report format ${JSON.stringify(input.psp.slice(0, 40))}: one of ${reportPsps.join(', ')}`);
  if (input.fileName === '') throw invalidField('file_name', 'required', 'FIELD_REQUIRED');
  if (input.fileName.length > FILE_NAME_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(input.fileName)) throw invalidField('file_name', `1..${FILE_NAME_CHARS_MAX} characters, no control characters`);
  if (input.content.length === 0) throw invalidField('content', 'the report is empty', 'FIELD_REQUIRED');
  if (input.content.length > deps.uploadBytesMax) {
    throw new TallyError('BODY_TOO_LARGE', `content: the report has ${input.content.length} bytes, at most ${deps.uploadBytesMax} may be uploaded; reconcile larger reports with npx tally recon run (streamed)`,
      { field: 'content', bytesMax: String(deps.uploadBytesMax) });
  }
  return input.psp as ReportPsp;
}

/**
 * Checks, stores and queues a report; answers its run. A report that does not read
 * (`REPORT_MALFORMED`) or breaks a limit writes nothing. The same report uploaded again answers its
 * existing run (queued again only if it is still queued: a lost announcement is repaired).
 */
export async function uploadReport(deps: ReconServiceDeps, tenantId: string, input: UploadInput, trace: TraceIds): Promise<ReconRun> {
  const psp = checkUpload(deps, input);
  const sha256 = createHash('sha256').update(input.content).digest('hex');
  const runId = runIdOf(sha256);
  const existing = await deps.recon.store.getRun(tenantId, runId);
  if (existing && existing.psp !== psp) throw invalidField('psp', `this report was already uploaded as a ${existing.psp} report (${runId})`);
  if (!existing) {
    // Reading it whole now (bounded by uploadBytesMax) refuses a malformed report before anything is written.
    await parseReport(deps.read(input.content, psp, input.fileName));
    await deps.uploads.save(tenantId, { runId, psp, fileName: input.fileName, sha256, content: input.content }, deps.recon.clock.nowMs());
  }
  const { run } = existing ? { run: existing } : await deps.recon.store.createRun({
    id: runId, tenantId, psp, sha256, fileName: input.fileName, status: 'queued', summaryJson: '', error: '',
    reportPath: `reconReports/${runId}`, createdAtMs: deps.recon.clock.nowMs(), completedAtMs: null, breaksByKind: {},
  });
  if (run.status === 'queued') {
    await deps.bus.publish(reconRequestsTopic, Buffer.from(JSON.stringify({ tenantId, runId })), { tenantId, runId, traceId: trace.traceId });
  }
  return run;
}

export type ExecuteOutcome = 'completed' | 'already_completed' | 'unknown_run' | 'no_report';

/**
 * Runs a queued run (the `reconRun` function). Redelivery is harmless: a completed run is not read
 * again, and runRecon is idempotent by report hash + line. Typed failures (`REPORT_MALFORMED`)
 * leave the run `failed` and are thrown for the caller to log.
 */
export async function executeQueuedRun(deps: ReconServiceDeps, tenantId: string, runId: string, trace: TraceIds): Promise<{ outcome: ExecuteOutcome; result?: ReconRunResult }> {
  const run = await deps.recon.store.getRun(tenantId, runId);
  if (!run) return { outcome: 'unknown_run' };
  if (run.status === 'completed') return { outcome: 'already_completed' };
  const report = await deps.uploads.load(tenantId, runId);
  if (!report) {
    await deps.recon.store.updateRun(tenantId, runId, { status: 'failed', error: 'NOT_FOUND: no uploaded report for this run', completedAtMs: deps.recon.clock.nowMs() });
    return { outcome: 'no_report' };
  }
  const result = await runRecon(deps.recon, {
    tenantId, psp: run.psp, sha256: run.sha256, fileName: run.fileName, dryRun: false, reportPath: run.reportPath, trace,
    open: () => deps.read(report.content, run.psp, run.fileName),
  });
  return { outcome: 'completed', result };
}
