/**
 * Registrations only: deployable name -> handler (see ../shared/ARCHITECTURE.md's service catalog).
 * Services are composed lazily, once per instance, so that loading this file for one function does
 * not start the rest.
 */
import { cloudEvent, http, type CloudEvent } from '@google-cloud/functions-framework';
import { composeServices, type Services } from './compose.js';
import { replayRawBody } from './handlers/http/api-handler.js';
import { createLedgerMaintenanceHandler } from './handlers/pubsub/ledger-maintenance.js';
import { createPaymentJanitorHandler } from './handlers/pubsub/payment-janitor.js';
import { createProcessPspEventHandler } from './handlers/pubsub/process-psp-event.js';
import { parseConfig } from './platform/config/config.js';
import { createOutboxRelayHandler } from './handlers/firestore/outbox-relay.js';
import { createOutboxSweeperHandler } from './handlers/pubsub/outbox-sweeper.js';
import { createBillingRunHandler } from './handlers/pubsub/billing-run.js';
import { createReconRunHandler } from './handlers/pubsub/recon-run.js';
import { createWebhookDispatcherHandler, createWebhookRetrierHandler } from './handlers/pubsub/webhook-dispatcher.js';
import { composeAnalyticsSink } from './compose-analytics.js';
import { createClickHouseClient } from './adapters/clickhouse/clickhouse-client.js';
import { createAnalyticsMaintenanceHandler } from './handlers/pubsub/analytics-maintenance.js';
import { systemClock } from './ports/clock.js';
import { composeCallables } from './compose-callables.js';
import { createLogger } from './platform/telemetry/logger.js';

let services: Services | undefined;
const lazyServices = (): Services => (services ??= composeServices(parseConfig()));
const once = <T>(make: () => T): (() => T) => {
  let made: T | undefined;
  return () => (made ??= make());
};

const api = once(() => replayRawBody(lazyServices().api));
const ledgerMaintenance = once(() => {
  const s = lazyServices();
  return createLedgerMaintenanceHandler({ ledger: s.ledger, logger: s.logger, tenantsPerRunMax: s.config.ledgerMaintenanceTenantsMax });
});

http('api', (req, res) => api()(req, res));
cloudEvent('ledgerMaintenance', (event: CloudEvent<unknown>) => ledgerMaintenance()(event));
const processPspEvent = once(() => createProcessPspEventHandler({ payments: lazyServices().payments, logger: lazyServices().logger }));
const paymentJanitor = once(() => {
  const s = lazyServices();
  return createPaymentJanitorHandler({ payments: s.payments, logger: s.logger, graceMs: s.config.janitorGraceMs, paymentsMax: s.config.janitorPaymentsMax,
    concurrencyMax: s.config.janitorConcurrencyMax, runMs: s.config.janitorRunMs });
});

http('pspWebhook', (req, res) => void lazyServices().pspWebhook(req, res));
cloudEvent('processPspEvent', (event: CloudEvent<{ message?: { data?: string } }>) => processPspEvent()(event));
cloudEvent('paymentJanitor', (event: CloudEvent<unknown>) => paymentJanitor()(event));
const outboxRelay = once(() => createOutboxRelayHandler({ outbox: lazyServices().outbox, logger: lazyServices().logger }));
const outboxSweeper = once(() => {
  const s = lazyServices();
  return createOutboxSweeperHandler({ outbox: s.outbox, logger: s.logger, olderThanMs: s.config.outboxSweepAgeMs, batchMax: s.config.outboxSweepBatchMax });
});

cloudEvent('outboxRelay', (event: CloudEvent<unknown>) => outboxRelay()(event));
cloudEvent('outboxSweeper', (event: CloudEvent<unknown>) => outboxSweeper()(event));

// Merchant webhooks (issue 16, ADR 0034): domain-events -> deliveries; a tick -> due retries.
const webhookDispatcher = once(() => createWebhookDispatcherHandler({ webhooks: lazyServices().webhooks, logger: lazyServices().logger }));
const webhookRetrier = once(() => createWebhookRetrierHandler({ webhooks: lazyServices().webhooks, logger: lazyServices().logger }));
cloudEvent('webhookDispatcher', (event: CloudEvent<{ message?: { data?: string; messageId?: string } }>) => webhookDispatcher()(event));
cloudEvent('webhookRetrier', () => webhookRetrier()());

// analyticsSink builds only what it needs (ClickHouse), not the whole of composeServices.
const analyticsSink = once(() => {
  const config = parseConfig();
  return composeAnalyticsSink(config, createLogger({ projectId: config.projectId, level: config.logLevel })).handler;
});
cloudEvent('analyticsSink', (event: CloudEvent<{ message?: { data?: string; messageId?: string } }>) => analyticsSink()(event));
// analyticsMaintenance (ADR 0029 decision 9): a monthly tick -> the analytics retention, bounded, idempotent.
const analyticsMaintenance = once(() => {
  const config = parseConfig();
  const logger = createLogger({ projectId: config.projectId, level: config.logLevel });
  return createAnalyticsMaintenanceHandler({ client: createClickHouseClient(config.clickhouse), logger, nowMs: () => systemClock.nowMs() });
});
cloudEvent('analyticsMaintenance', async (event: CloudEvent<unknown>) => { await analyticsMaintenance()(event); });

// billingRun (issue 14, ADR 0032): a scheduler tick -> renewals and charges due now, bounded.
const billingRun = once(() => createBillingRunHandler({ billing: lazyServices().billing }));
cloudEvent('billingRun', (event: CloudEvent<unknown>) => billingRun()(event));

// reconRun (issue 15, ADR 0033): a recon-requests message -> run the uploaded report, idempotently.
const reconRun = once(() => createReconRunHandler({ reconService: lazyServices().recon, logger: lazyServices().logger }));
cloudEvent('reconRun', (event: CloudEvent<{ message?: { data?: string; messageId?: string } }>) => reconRun()(event));

// HTTPS callables for the Vue apps (issue 17, ADR 0037): bridges over the api's own RPCs, each with
// its allowlist; Firebase Hosting rewrites /callables/** to them.
const callables = once(() => composeCallables(lazyServices()));
http('checkoutCallables', (req, res) => callables().checkoutCallables(req, res));
http('consoleCallables', (req, res) => callables().consoleCallables(req, res));
