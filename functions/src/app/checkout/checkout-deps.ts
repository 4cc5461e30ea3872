/** What the checkout use cases run on (issue 17, ADR 0036). */
import type { CheckoutStore } from '../../ports/checkout-store.js';
import type { Clock } from '../../ports/clock.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import type { BillingDeps } from '../billing/billing-deps.js';
import type { PaymentsDeps } from '../payments/index.js';

export interface CheckoutSettings {
  /**
   * Origin the hosted checkout app is served from (TALLY_CHECKOUT_BASE_URL): a session's URL is
   * `<base>/checkout/#<client secret>` (a fragment: browsers never send it to servers or logs).
   */
  baseUrl: string;
  /** The PSP's hosted card fields page the checkout app shows in an iframe (TALLY_CHECKOUT_CARD_FIELDS_URL). */
  cardFieldsUrl: string;
  /** How long one payment attempt holds its session before another may take it (a crashed attempt frees it then). */
  attemptLeaseMs: number;
}

export interface CheckoutDeps {
  store: CheckoutStore;
  payments: PaymentsDeps;
  billing: BillingDeps;
  idempotency: IdempotencyOptions;
  clock: Clock;
  settings: CheckoutSettings;
  /** The merchant's display name shown to the buyer (the tenant's name). */
  tenantName(tenantId: string): Promise<string>;
}
