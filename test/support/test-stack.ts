/**
 * The full API over real HTTP against the emulators, for integration tests: composes the services
 * exactly as `npm start` does, on an ephemeral port, with a fresh platform admin key.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { startHttpServer, type RunningServer } from '../../emulators/api-server.js';
import { createLocalWebHandler } from '../../emulators/web-serving.js';
import { createLocalCallablesHandler } from '../../emulators/local-callables.js';
import { composeCallables } from '../../functions/src/compose-callables.js';
import { composeServices, type Services } from '../../functions/src/compose.js';
import { createTallyClient, type TallyClient } from '../../functions/src/cli/client.js';
import { parseConfig } from '../../functions/src/platform/config/config.js';

export interface TestStack {
  url: string;
  adminKey: string;
  admin: TallyClient;
  services: Services;
  server: RunningServer;
  /** The test ClickHouse server (global setup; TALLY_CLICKHOUSE_URL), schema applied, database `tally`. */
  clickhouseUrl: string;
  close(): Promise<void>;
  /** A new tenant with its owner key and a client acting as that owner. */
  newTenant(name?: string): Promise<{ tenantId: string; ownerKey: string; owner: TallyClient }>;
  /**
   * The tenants `newTenant` made. Test files share the emulators, so a consumer a test bridges to a
   * shared topic (domain-events) sees every file's events: it should handle only these tenants'.
   */
  tenantIds: ReadonlySet<string>;
}

export async function startTestStack(envOverrides: Record<string, string> = {}): Promise<TestStack> {
  const adminKey = `sk_${randomBytes(32).toString('base64url')}`;
  const config = parseConfig({
    ...process.env,
    TALLY_PLATFORM_ADMIN_KEY_SHA256: createHash('sha256').update(adminKey).digest('hex'),
    ...envOverrides,
  });
  const services = composeServices(config);
  // The HTTPS callables, the built web apps and Hosting's reserved URLs on the same origin, as npm start serves them (ADR 0037).
  const server = await startHttpServer({ ...services, callables: createLocalCallablesHandler(composeCallables(services)), web: createLocalWebHandler(config) }, { port: 0 });
  const admin = createTallyClient(server.url, adminKey);
  const tenantIds = new Set<string>();
  return {
    url: server.url,
    adminKey,
    admin,
    services,
    server,
    clickhouseUrl: config.clickhouse.url,
    close: () => server.close(),
    tenantIds,
    async newTenant(name = 'Test Shop') {
      const res = await admin.tenancy.createTenant({ name, idempotencyKey: randomUUID() });
      tenantIds.add(res.tenant!.id);
      const ownerKey = res.ownerApiKey!.secret;
      return { tenantId: res.tenant!.id, ownerKey, owner: createTallyClient(server.url, ownerKey) };
    },
  };
}

/** The ErrorInfo reason and metadata of a ConnectError, for assertions. */
export { ErrorInfoSchema } from '../../functions/src/gen/tally/errors/v1/errors_pb.js';
