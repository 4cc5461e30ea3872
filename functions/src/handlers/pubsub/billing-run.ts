/** `billingRun`: a scheduler tick -> renew due subscriptions and charge due invoices (real time), bounded. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { BillingDeps } from '../../app/billing/billing-deps.js';
import { runBilling } from '../../app/billing/billing-run.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

export function createBillingRunHandler(deps: { billing: BillingDeps }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const report = await runBilling(deps.billing, { kind: 'real', nowMs: deps.billing.clock.nowMs() }, currentTraceIds());
    // `more`: a bound was hit with work due; the next tick continues (logged as a warning by the run too).
    deps.billing.logger.info('billing run', { eventId: event.id, ...report });
  };
}
