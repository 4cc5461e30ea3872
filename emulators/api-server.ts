/**
 * Hosts the HTTP handlers in one process behind one port, as `npm start` and the tests do.
 * Deployed, each handler is its own Cloud Run service / function (see functions/src/index.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeHandler } from '../functions/src/handlers/http/api-handler.js';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(
  handlers: { api: NodeHandler; pspWebhook?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> },
  options: { port: number; host?: string },
): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (handlers.pspWebhook && req.url?.startsWith('/webhooks/')) {
      void handlers.pspWebhook(req, res);
      return;
    }
    handlers.api(req, res);
  });
  // Keep-alive connections from load generators and clients must not hold shutdown hostage.
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
