/** LedgerService: decode, authorize, call the ledger use cases, encode. Mutations are idempotent. */
import { create } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import type { Principal } from '../../app/auth/principal.js';
import * as ledger from '../../app/ledger/ledger-use-cases.js';
import { accountToProto, accountTypeFromProto, balanceToProto, entryToProto, postingsFromProto } from '../../adapters/proto/ledger-mapping.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { parseId, parseOptionalId } from '../../domain/ids.js';
import {
  CloseAccountRequestSchema, CloseAccountResponseSchema, CreateAccountRequestSchema, CreateAccountResponseSchema,
  CreateEntryResponseSchema, LedgerService, PostPendingEntryRequestSchema, PostPendingEntryResponseSchema,
  VoidPendingEntryRequestSchema, VoidPendingEntryResponseSchema,
} from '../../gen/tally/ledger/v1/ledger_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { principalOf } from './rpc-context.js';
import { idempotentRpc } from './idempotent-rpc.js';

export interface LedgerServiceDeps extends ledger.LedgerDeps {
  idempotency: IdempotencyOptions;
}

/** VerifyChain: members verify their own tenant; the platform admin any tenant. */
function tenantForVerify(principal: Principal, requested: string): string {
  parseOptionalId('tenant', requested, 'tenant_id');
  if (principal.kind === 'platform_admin') {
    if (requested === '') throw invalidField('tenant_id', 'required for the platform admin', 'FIELD_REQUIRED');
    return requested;
  }
  const { tenantId } = requireTenantRole(principal, 'viewer');
  if (requested !== '' && requested !== tenantId) throw new TallyError('NOT_FOUND', `tenant ${requested} not found`, { field: 'tenant_id' });
  return tenantId;
}

export function createLedgerServiceImpl(deps: LedgerServiceDeps): ServiceImpl<typeof LedgerService> {
  const passThrough = <T>(res: T) => res;
  return {
    async createAccount(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      const input = {
        code: req.code, name: req.name, currency: req.currency, type: accountTypeFromProto(req.type),
        flags: { debitsMustNotExceedCredits: req.debitsMustNotExceedCredits, creditsMustNotExceedDebits: req.creditsMustNotExceedDebits },
        shardCount: req.shardCount === 0 ? 1 : req.shardCount,
      };
      return idempotentRpc(deps, ctx, tenantId, { schema: CreateAccountRequestSchema, message: req }, { schema: CreateAccountResponseSchema, redact: passThrough },
        async () => create(CreateAccountResponseSchema, { account: accountToProto(await ledger.createAccount(deps, tenantId, input)) }));
    },
    async getAccount(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      return { account: accountToProto(await ledger.getAccount(deps, tenantId, parseId('account', req.accountId, 'account_id'))) };
    },
    async listAccounts(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const page = await ledger.listAccounts(deps, tenantId, req.pageSize, req.pageToken);
      return { accounts: page.items.map(accountToProto), nextPageToken: page.nextCursor ?? '' };
    },
    async closeAccount(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      parseId('account', req.accountId, 'account_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: CloseAccountRequestSchema, message: req }, { schema: CloseAccountResponseSchema, redact: passThrough },
        async () => create(CloseAccountResponseSchema, { account: accountToProto(await ledger.closeAccount(deps, tenantId, req.accountId)) }));
    },
    async createEntry(req, ctx) {
      // The entry id is the idempotency key (TigerBeetle-style): no separate key needed.
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      if (req.pendingTimeoutMs < 0n) throw invalidField('pending_timeout_ms', 'must be >= 0');
      if (req.pendingTimeoutMs > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidField('pending_timeout_ms', 'too large');
      const view = await ledger.createEntry(deps, tenantId, {
        id: req.entryId,
        postings: postingsFromProto(req.postings),
        description: req.description,
        metadata: req.metadata,
        reversesEntryId: req.reversesEntryId === '' ? null : req.reversesEntryId,
        pending: req.pendingTimeoutMs === 0n ? null : { timeoutMs: Number(req.pendingTimeoutMs) },
      }, currentTraceIds());
      return create(CreateEntryResponseSchema, { entry: entryToProto(view) });
    },
    async getEntry(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      return { entry: entryToProto(await ledger.getEntry(deps, tenantId, parseId('entry', req.entryId, 'entry_id'))) };
    },
    async listEntries(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const page = await ledger.listEntries(deps, tenantId, {
        accountId: parseId('account', req.accountId, 'account_id'),
        startMs: req.startTime ? timestampMs(req.startTime) : null,
        endMs: req.endTime ? timestampMs(req.endTime) : null,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { entries: page.items.map((record) => entryToProto({ record, pending: undefined })), nextPageToken: page.nextCursor ?? '' };
    },
    async postPendingEntry(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      parseId('entry', req.entryId, 'entry_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: PostPendingEntryRequestSchema, message: req }, { schema: PostPendingEntryResponseSchema, redact: passThrough },
        async () => create(PostPendingEntryResponseSchema, {
          entry: entryToProto(await ledger.postPendingEntry(deps, tenantId, req.entryId, req.amountsMinor.length === 0 ? undefined : req.amountsMinor, currentTraceIds())),
        }));
    },
    async voidPendingEntry(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'developer');
      parseId('entry', req.entryId, 'entry_id');
      return idempotentRpc(deps, ctx, tenantId, { schema: VoidPendingEntryRequestSchema, message: req }, { schema: VoidPendingEntryResponseSchema, redact: passThrough },
        async () => create(VoidPendingEntryResponseSchema, { entry: entryToProto(await ledger.voidPendingEntry(deps, tenantId, req.entryId, currentTraceIds())) }));
    },
    async getBalance(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const { account, balance, asOfMs } = await ledger.getBalance(deps, tenantId, parseId('account', req.accountId, 'account_id'), req.asOfTime ? timestampMs(req.asOfTime) : null);
      return { balance: balanceToProto(account, balance, asOfMs) };
    },
    async verifyChain(req, ctx) {
      const tenantId = tenantForVerify(principalOf(ctx), req.tenantId);
      const report = await ledger.verifyChainChunk(deps, tenantId, { mode: req.full ? 'full' : 'incremental', recordsMax: req.recordsMax });
      return {
        ok: report.ok, entriesChecked: BigInt(report.entriesChecked), firstBadEntryId: report.firstBadEntryId,
        failureReason: report.failureReason, checkpointsVerified: BigInt(report.checkpointsVerified),
        complete: report.complete, entriesVerified: BigInt(report.entriesVerified), entriesTotal: BigInt(report.entriesTotal),
        jobId: report.jobId, checkpointSequence: BigInt(report.checkpointSequence), watermarkRejected: report.watermarkRejected,
      };
    },
  };
}
