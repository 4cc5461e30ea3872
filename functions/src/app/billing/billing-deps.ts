/** What the billing use cases run on: the billing store, the payments use cases, the ledger, tax. */
import type { Tenant } from '../../domain/tenancy/tenant.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import type { BillingSettings, BillingStore } from '../../ports/billing-store.js';
import type { TaxCalculator } from '../../ports/tax-calculator.js';
import type { Clock } from '../../ports/clock.js';
import type { PaymentsDeps } from '../payments/index.js';

/** The tax calculator a tenant's settings choose: the built-in EU VAT engine, or its external hook. */
export type BillingTax = (settings: BillingSettings) => TaxCalculator;

/** Bounds of billingRun and test clocks (TIGER_STYLE: a limit on everything; see config). */
export interface BillingLimits {
  /** Due subscriptions (and, separately, due invoices) one round of a run takes. */
  runBatchMax: number;
  /** Rounds of one run (a round: a batch of renewals, then a batch of charges). */
  runRoundsMax: number;
  /** Invoices one finalization transaction numbers and posts (one counter read per chunk). */
  finalizeChunkMax: number;
  /** Tenants finalized at once, and charges in flight at once. */
  concurrencyMax: number;
  /** Steps (distinct due instants) one test clock advance walks through. */
  clockStepsMax: number;
}

export interface BillingDeps {
  store: BillingStore;
  payments: PaymentsDeps;
  clock: Clock;
  idempotency: IdempotencyOptions;
  logger: Logger;
  tax: BillingTax;
  limits: BillingLimits;
  /** The tenant (cached): test clocks need a test tenant. */
  tenant: (tenantId: string) => Promise<Tenant>;
}
