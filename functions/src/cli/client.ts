/** A typed ConnectRPC client for Tally over real HTTP (the CLI, tests and benches use it). */
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { LedgerService } from '../gen/tally/ledger/v1/ledger_pb.js';
import { PaymentsService } from '../gen/tally/payments/v1/payments_pb.js';
import { TenancyService } from '../gen/tally/tenancy/v1/tenancy_pb.js';
import { WebhookEndpointsService } from '../gen/tally/webhooks/v1/webhooks_pb.js';
import { BillingService } from '../gen/tally/billing/v1/billing_pb.js';
import { AnalyticsService } from '../gen/tally/analytics/v1/analytics_pb.js';
import { ReconService } from '../gen/tally/recon/v1/recon_pb.js';
import { CheckoutService, HostedCheckoutService } from '../gen/tally/checkout/v1/checkout_pb.js';

export interface TallyClient {
  tenancy: Client<typeof TenancyService>;
  ledger: Client<typeof LedgerService>;
  payments: Client<typeof PaymentsService>;
  webhooks: Client<typeof WebhookEndpointsService>;
  billing: Client<typeof BillingService>;
  analytics: Client<typeof AnalyticsService>;
  recon: Client<typeof ReconService>;
  checkout: Client<typeof CheckoutService>;
  /** The buyer's service: authenticated by the client secret in each request (any credential is ignored). */
  hostedCheckout: Client<typeof HostedCheckoutService>;
}

export function createTallyClient(baseUrl: string, credential: string | undefined, options: { useBinaryFormat?: boolean } = {}): TallyClient {
  const auth: Interceptor = (next) => (req) => {
    if (credential) req.header.set('authorization', `Bearer ${credential}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: '1.1',
    useBinaryFormat: options.useBinaryFormat ?? false,
    interceptors: [auth],
  });
  return { tenancy: createClient(TenancyService, transport), ledger: createClient(LedgerService, transport), payments: createClient(PaymentsService, transport), webhooks: createClient(WebhookEndpointsService, transport), billing: createClient(BillingService, transport), analytics: createClient(AnalyticsService, transport), recon: createClient(ReconService, transport), checkout: createClient(CheckoutService, transport), hostedCheckout: createClient(HostedCheckoutService, transport) };
}
