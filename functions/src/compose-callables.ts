/**
 * The two HTTPS callable functions the Vue apps call (ADR 0037), each a bridge over the API's own
 * routes and interceptors with an explicit allowlist:
 * - `checkoutCallables`: HostedCheckoutService only (buyers; authenticated by the session's client
 *   secret, no Firebase Auth);
 * - `consoleCallables`: what the merchant console uses (Firebase Auth ID token with tenantId/role
 *   claims; every role check is the RPC's own). Platform-admin RPCs (CreateTenant,
 *   SetTenantPricing) are not reachable from a browser at all.
 */
import type { ApiHandler } from './handlers/http/api-handler.js';
import { createCallableBridge, type CallableHttpHandler, type CallableService } from './handlers/callable/callable-bridge.js';
import { AnalyticsService } from './gen/tally/analytics/v1/analytics_pb.js';
import { BillingService } from './gen/tally/billing/v1/billing_pb.js';
import { CheckoutService, HostedCheckoutService } from './gen/tally/checkout/v1/checkout_pb.js';
import { LedgerService } from './gen/tally/ledger/v1/ledger_pb.js';
import { PaymentsService } from './gen/tally/payments/v1/payments_pb.js';
import { ReconService } from './gen/tally/recon/v1/recon_pb.js';
import { TenancyService } from './gen/tally/tenancy/v1/tenancy_pb.js';
import { WebhookEndpointsService } from './gen/tally/webhooks/v1/webhooks_pb.js';
import type { Logger } from './platform/telemetry/logger.js';

/** The deployed callable functions, by entry-point name (functions/src/index.ts, terraform). */
export const callableFunctionNames = ['checkoutCallables', 'consoleCallables'] as const;
export type CallableFunctionName = (typeof callableFunctionNames)[number];

/** What each callable function exposes. */
export const callableAllowlists: Readonly<Record<CallableFunctionName, readonly CallableService[]>> = {
  checkoutCallables: [{ service: HostedCheckoutService }],
  consoleCallables: [
    { service: PaymentsService },
    { service: LedgerService },
    { service: BillingService },
    { service: AnalyticsService },
    // The tenant and its API keys; tenant creation and pricing are platform-admin RPCs (CLI/API only).
    { service: TenancyService, methods: ['GetTenant', 'CreateApiKey', 'RevokeApiKey', 'ListApiKeys'] },
    { service: WebhookEndpointsService },
    { service: ReconService },
    { service: CheckoutService },
  ],
};

/**
 * Deadline of one RPC inside a callable: under the function's own 60 s timeout, so the caller gets
 * a typed `deadline-exceeded` rather than a dropped connection.
 */
export const callableRpcTimeoutMs = 55_000;

export type Callables = Readonly<Record<CallableFunctionName, CallableHttpHandler>>;

/** Both callable functions over a composed API (`composeServices(...).api`). */
export function composeCallables(services: { api: ApiHandler; logger: Logger }): Callables {
  const bridge = (name: CallableFunctionName) => createCallableBridge({
    ...services.api.rpc,
    allow: callableAllowlists[name],
    callTimeoutMs: callableRpcTimeoutMs,
    onInternal: (cause) => services.logger.error('unexpected failure in a callable', { function: name, error: cause }),
  });
  return { checkoutCallables: bridge('checkoutCallables'), consoleCallables: bridge('consoleCallables') };
}
