/**
 * AnalyticsService: resolve the caller's tenant, call the report use cases, encode. Always one
 * tenant: members get their own (naming another is NOT_FOUND, as everywhere), the platform admin
 * must name one.
 */
import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import type { Principal } from '../../app/auth/principal.js';
import { ledgerVolume, paymentVolume, type AnalyticsDeps } from '../../app/analytics/reports.js';
import { authorizationRateBps } from '../../domain/analytics/reports.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { parseOptionalId } from '../../domain/ids.js';
import type { AnalyticsService } from '../../gen/tally/analytics/v1/analytics_pb.js';
import { principalOf } from './rpc-context.js';

/** Members read their own tenant (viewer+); the platform admin reads the tenant it names. */
function reportTenant(principal: Principal, requested: string): string {
  parseOptionalId('tenant', requested, 'tenant_id');
  if (principal.kind === 'platform_admin') {
    if (requested === '') throw invalidField('tenant_id', 'required for the platform admin', 'FIELD_REQUIRED');
    return requested;
  }
  const { tenantId } = requireTenantRole(principal, 'viewer');
  if (requested !== '' && requested !== tenantId) throw new TallyError('NOT_FOUND', `tenant ${requested} not found`, { field: 'tenant_id' });
  return tenantId;
}

const msOf = (t: Timestamp | undefined): number | undefined => (t === undefined ? undefined : timestampMs(t));
const request = (req: { startTime?: Timestamp; endTime?: Timestamp; pageSize: number; pageToken: string }) =>
  ({ startMs: msOf(req.startTime), endMs: msOf(req.endTime), pageSize: req.pageSize, pageToken: req.pageToken });
const asOf = (ms: number | null) => (ms === null ? {} : { dataAsOfTime: timestampFromMs(ms) });

export function createAnalyticsServiceImpl(deps: AnalyticsDeps): ServiceImpl<typeof AnalyticsService> {
  return {
    async getPaymentVolume(req, ctx) {
      const tenantId = reportTenant(principalOf(ctx), req.tenantId);
      const { rows, nextPageToken, dataAsOfMs } = await paymentVolume(deps, tenantId, request(req));
      return {
        rows: rows.map((r) => ({
          day: r.day, status: r.status, currency: r.currency, psp: r.psp, paymentCount: r.paymentCount,
          grossAmountMinor: r.grossMinor, capturedAmountMinor: r.capturedMinor, refundedAmountMinor: r.refundedMinor,
          disputedAmountMinor: r.disputedMinor, feeAmountMinor: r.feeMinor,
          authorizationAttemptCount: r.authorizationAttempts, authorizedCount: r.authorized,
          authorizationRateBps: authorizationRateBps(r.authorized, r.authorizationAttempts),
        })),
        nextPageToken, ...asOf(dataAsOfMs),
      };
    },
    async getLedgerVolume(req, ctx) {
      const tenantId = reportTenant(principalOf(ctx), req.tenantId);
      const { rows, nextPageToken, dataAsOfMs } = await ledgerVolume(deps, tenantId, request(req));
      return {
        rows: rows.map((r) => ({ accountId: r.accountId, currency: r.currency, debitAmountMinor: r.debitMinor, creditAmountMinor: r.creditMinor, postingCount: r.postingCount })),
        nextPageToken, ...asOf(dataAsOfMs),
      };
    },
  };
}
