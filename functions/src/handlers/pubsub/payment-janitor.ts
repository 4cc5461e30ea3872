/** `paymentJanitor`: a scheduler tick -> settle payments stuck with an unknown PSP outcome. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { runJanitor, type PaymentsDeps } from '../../app/payments/index.js';
import type { JanitorOptions } from '../../app/payments/janitor.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';

/** Failures named in the run's log line; the rest are counted (a PSP incident can fail thousands). */
const failuresLoggedMax = 20;

export function createPaymentJanitorHandler(deps: { payments: PaymentsDeps; logger: Logger } & Required<Omit<JanitorOptions, 'pageSize'>>) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const { graceMs, paymentsMax, concurrencyMax, runMs } = deps;
    // Each page logs its own line ('payment janitor page', through the payments deps' logger).
    const { failures, ...report } = await runJanitor(deps.payments, currentTraceIds(), { graceMs, paymentsMax, concurrencyMax, runMs });
    deps.logger.info('payment janitor', { eventId: event.id, ...report, failed: failures.length, failures: failures.slice(0, failuresLoggedMax) });
  };
}
