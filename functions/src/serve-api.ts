/**
 * The Cloud Run `api` service's own entry (instead of the Functions Framework, which speaks
 * HTTP/1.1 only): the composed API on one port speaking HTTP/1.1 and h2c, so that gRPC works end to
 * end (Terraform declares the container port `h2c`, ADR 0020). Run as
 * `node --import tsx functions/src/serve-api.ts`; listens on $PORT (Cloud Run sets it; 8080).
 */
import { composeServices } from './compose.js';
import { createDualProtocolServer } from './handlers/http/api-server.js';
import { parseConfig } from './platform/config/config.js';

const port = Number(process.env.PORT ?? '8080');
const services = composeServices(parseConfig());
const { server, closeAll } = createDualProtocolServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  services.api(req, res);
});
server.listen(port, '0.0.0.0', () => services.logger.info('api listening', { port, protocols: 'http/1.1, h2c' }));
// Cloud Run sends SIGTERM before stopping an instance: stop accepting, close connections.
process.once('SIGTERM', () => void closeAll().then(() => process.exit(0)));
