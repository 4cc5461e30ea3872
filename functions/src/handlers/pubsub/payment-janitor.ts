/** `paymentJanitor`: a scheduler tick -> settle payments stuck with an unknown PSP outcome. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { runJanitor, type PaymentsDeps } from '../../app/payments/index.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

export function createPaymentJanitorHandler(deps: { payments: PaymentsDeps; logger: Logger; graceMs: number; paymentsMax: number }) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const report = await runJanitor(deps.payments, currentTraceIds(), { graceMs: deps.graceMs, paymentsMax: deps.paymentsMax });
    deps.logger.info('payment janitor', { eventId: event.id, ...report });
  };
}
