/**
 * The HTTPS callables on the local server (ADR 0037): both callable functions served by the
 * Functions Framework's own server (body parsing, rawBody, Express request) as deployed, mounted
 * under /callables/ on the API's origin. A request goes to `checkoutCallables` when its service is
 * one that function exposes, else to `consoleCallables` (which refuses what it does not expose).
 */
import type http from 'node:http';
import { http as registerHttp } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { callableAllowlists, callableFunctionNames, type CallableFunctionName, type Callables } from '../functions/src/compose-callables.js';

/** Registered names must be unique per process: every composed stack registers its own pair. */
let registrations = 0;

export function createLocalCallablesHandler(callables: Callables): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const servers = new Map<CallableFunctionName, http.Server>();
  for (const name of callableFunctionNames) {
    const registered = `${name}-local-${++registrations}`;
    registerHttp(registered, callables[name]);
    servers.set(name, getTestServer(registered));
  }
  const checkoutServices = new Set(callableAllowlists.checkoutCallables.map((s) => s.service.typeName));
  return (req, res) => {
    const service = (req.url ?? '').split('?', 1)[0]!.split('/').filter((s) => s !== '').at(-2) ?? '';
    servers.get(checkoutServices.has(service) ? 'checkoutCallables' : 'consoleCallables')!.emit('request', req, res);
  };
}
