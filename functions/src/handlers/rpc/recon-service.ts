/**
 * ReconService: decode, authorize (developer+ to upload and resolve, viewer+ to read), call the
 * use cases, encode. Always the caller's own tenant: another tenant's run or break is NOT_FOUND.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import { type ReconServiceDeps, uploadReport } from '../../app/recon/recon-requests.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import {
  type Break as BreakProto, type ReconRun as ReconRunProto, BreakSchema, ReconRunSchema, ReconService,
  ResolveBreakRequestSchema, ResolveBreakResponseSchema, UploadReportRequestSchema, UploadReportResponseSchema,
} from '../../gen/tally/recon/v1/recon_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import type { BreakStatus, ReconRun, StoredBreak } from '../../ports/recon-store.js';
import { idempotentRpc } from './idempotent-rpc.js';
import { principalOf } from './rpc-context.js';

export interface ReconServiceImplDeps {
  reconService: ReconServiceDeps;
  idempotency: IdempotencyOptions;
}

const RUN_ID = /^rcn_[0-9a-f]{32}$/;
const BREAK_ID = /^brk_[A-Za-z0-9_-]{1,120}$/;
const breakStatuses: readonly BreakStatus[] = ['open', 'healed', 'resolved'];
const resolutions = ['accepted', 'written_off', 'corrected', 'disputed_with_psp'] as const;
const NOTE_CHARS_MAX = 500;

function runIdOf(value: string, field: string): string {
  if (value === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (!RUN_ID.test(value)) throw invalidField(field, 'expected a run id, rcn_ and 32 hex digits');
  return value;
}

function runToProto(r: ReconRun): ReconRunProto {
  return create(ReconRunSchema, {
    id: r.id, psp: r.psp, sha256: r.sha256, fileName: r.fileName, status: r.status, summaryJson: r.summaryJson, error: r.error,
    breaksByKind: Object.fromEntries(Object.entries(r.breaksByKind).map(([k, n]) => [k, BigInt(n ?? 0)])),
    createTime: timestampFromMs(r.createdAtMs), ...(r.completedAtMs === null ? {} : { completeTime: timestampFromMs(r.completedAtMs) }),
  });
}

function breakToProto(b: StoredBreak): BreakProto {
  return create(BreakSchema, {
    id: b.id, runId: b.runId, psp: b.psp, kind: b.kind, status: b.status, line: BigInt(b.line), pspReference: b.pspReference, merchantReference: b.merchantReference,
    currency: b.currency, reportedAmountMinor: b.reportedMinor, expectedAmountMinor: b.expectedMinor, tallyId: b.tallyId, detail: b.detail,
    resolution: b.resolution, note: b.note, createTime: timestampFromMs(b.createdAtMs), ...(b.resolvedAtMs === null ? {} : { resolveTime: timestampFromMs(b.resolvedAtMs) }),
  });
}

export function createReconServiceImpl(deps: ReconServiceImplDeps): ServiceImpl<typeof ReconService> {
  const store = deps.reconService.recon.store;
  return {
    async uploadReport(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      return idempotentRpc(deps, ctx, tenantId, { schema: UploadReportRequestSchema, message: req }, { schema: UploadReportResponseSchema, redact: (res) => res },
        async () => {
          const run = await uploadReport(deps.reconService, tenantId, { psp: req.psp, fileName: req.fileName, content: req.content }, currentTraceIds());
          return create(UploadReportResponseSchema, { run: runToProto(run) });
        });
    },

    async getReconRun(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const runId = runIdOf(req.runId, 'run_id');
      const run = await store.getRun(tenantId, runId);
      if (!run) throw new TallyError('NOT_FOUND', `reconciliation run ${runId} not found`, { runId });
      return { run: runToProto(run) };
    },

    async listReconRuns(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const page = await store.listRuns(tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { runs: page.items.map(runToProto), nextPageToken: page.nextCursor ?? '' };
    },

    async listBreaks(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const runId = req.runId === '' ? undefined : runIdOf(req.runId, 'run_id');
      if (req.status !== '' && !(breakStatuses as readonly string[]).includes(req.status)) throw invalidField('status', `one of ${breakStatuses.join(', ')}`);
      const status = req.status === '' ? undefined : (req.status as BreakStatus);
      const page = await store.listBreaks(tenantId, { ...(status ? { status } : {}), ...(runId ? { runId } : {}) }, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { breaks: page.items.map(breakToProto), nextPageToken: page.nextCursor ?? '' };
    },

    async resolveBreak(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      if (req.breakId === '') throw invalidField('break_id', 'required', 'FIELD_REQUIRED');
      if (!BREAK_ID.test(req.breakId)) throw invalidField('break_id', 'expected a break id, brk_...');
      if (req.resolution === '') throw invalidField('resolution', `required: one of ${resolutions.join(', ')}`, 'FIELD_REQUIRED');
      if (!(resolutions as readonly string[]).includes(req.resolution)) throw invalidField('resolution', `one of ${resolutions.join(', ')}`);
      if (req.note.length > NOTE_CHARS_MAX) throw invalidField('note', `at most ${NOTE_CHARS_MAX} characters`);
      return idempotentRpc(deps, ctx, tenantId, { schema: ResolveBreakRequestSchema, message: req }, { schema: ResolveBreakResponseSchema, redact: (res) => res },
        async () => {
          const b = await store.resolveBreak(tenantId, req.breakId, req.resolution, req.note, deps.reconService.recon.clock.nowMs());
          if (!b) throw new TallyError('NOT_FOUND', `break ${req.breakId} not found`, { breakId: req.breakId });
          return create(ResolveBreakResponseSchema, { break: breakToProto(b) });
        });
    },
  };
}
