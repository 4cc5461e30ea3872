/**
 * Hosts the HTTP handlers in one process behind one port, as `npm start` and the tests do. The
 * port speaks HTTP/1.1 and h2c (ADR 0020), so Connect, gRPC-Web and gRPC clients all work.
 * Deployed, each handler is its own Cloud Run service / function (see functions/src/index.ts).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeHandler } from '../functions/src/handlers/http/api-handler.js';
import { createDualProtocolServer } from '../functions/src/handlers/http/api-server.js';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface LocalHandlers {
  api: NodeHandler;
  pspWebhook?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** The HTTPS callables (`/callables/<service>/<Method>`, ADR 0037), both functions on one path. */
  callables?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** The built web apps and Hosting's reserved URLs (emulators/web-serving.ts); false = not a web path. */
  web?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export async function startHttpServer(handlers: LocalHandlers, options: { port: number; host?: string }): Promise<RunningServer> {
  const { server, closeAll } = createDualProtocolServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (handlers.pspWebhook && req.url?.startsWith('/webhooks/')) {
      void handlers.pspWebhook(req as http.IncomingMessage, res as http.ServerResponse);
      return;
    }
    if (handlers.callables && req.url?.startsWith('/callables/')) {
      handlers.callables(req as http.IncomingMessage, res as http.ServerResponse);
      return;
    }
    if (handlers.web?.(req as http.IncomingMessage, res as http.ServerResponse)) return;
    handlers.api(req, res);
  }, {
    // Longer than clients' idle keep-alive (Node's agent frees sockets after 5 s): with equal timeouts
    // the server could close a socket just as a client reused it (ECONNRESET, seen under load).
    // Shutdown is not held up: closeAll() closes open connections.
    keepAliveTimeoutMs: 65_000,
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: closeAll,
  };
}
