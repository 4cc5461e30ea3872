/**
 * Registrations only: deployable name -> handler (see ../shared/ARCHITECTURE.md's service catalog).
 * Services are composed lazily so that loading this file for one function does not start the rest.
 */
import { http } from '@google-cloud/functions-framework';
import { composeServices, type Services } from './compose.js';
import { replayRawBody } from './handlers/http/api-handler.js';
import { parseConfig } from './platform/config/config.js';

let services: Services | undefined;
const lazyServices = (): Services => (services ??= composeServices(parseConfig()));

http('api', (req, res) => replayRawBody(lazyServices().api)(req, res));
