/**
 * Registrations only: deployable name -> handler (see ../shared/ARCHITECTURE.md's service catalog).
 * Services are composed lazily, once per instance, so that loading this file for one function does
 * not start the rest.
 */
import { cloudEvent, http, type CloudEvent } from '@google-cloud/functions-framework';
import { composeServices, type Services } from './compose.js';
import { replayRawBody } from './handlers/http/api-handler.js';
import { createLedgerMaintenanceHandler } from './handlers/pubsub/ledger-maintenance.js';
import { parseConfig } from './platform/config/config.js';

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
