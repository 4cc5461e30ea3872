/**
 * Persistence of billing (issue 14, ADR 0032): the catalog, customers' billing profiles,
 * subscriptions, invoices, credit notes, usage records, settings and test clocks, all under
 * `tenants/{t}/`. Mutations that move money or numbers (finalization, payment, credit notes) run in
 * `transaction`, which exposes the ledger's and the idempotency records' view of the same Firestore
 * transaction, so an invoice's number, its ledger entry and its outbox events commit together.
 */
import type { Price, Product } from '../domain/billing/catalog.js';
import type { ProrationGranularity } from '../domain/billing/proration.js';
import type { DunningPolicy, Subscription as DomainSubscription } from '../domain/billing/subscription.js';
import type { Coupon as DomainCoupon } from '../domain/billing/coupon.js';
import type { Invoice as DomainInvoice, InvoiceLineInput } from '../domain/billing/invoice.js';
import type { UsageAggregate } from '../domain/billing/usage-aggregate.js';
import type { IdempotencyTx } from './idempotency-store.js';
import type { LedgerTx, OutboxEvent } from './ledger-store.js';
import type { Page } from './tenancy-repository.js';

export type { Price, Product };

/** A coupon as stored: the domain's, with its name and creation time. */
export interface Coupon extends DomainCoupon { name: string; createdAtMs: number }

/** A customer's billing profile (the customer is PaymentsService's `customers/{id}`). */
export interface BillingCustomer {
  customerId: string;
  defaultPaymentMethodId: string;
  country: string;
  postcode: string;
  vatId: string;
  /** '' when on real time. */
  testClockId: string;
  updatedAtMs: number;
}

/** A subscription as stored: the domain's aggregate and what billing keeps around it. */
export interface Subscription extends DomainSubscription {
  tenantId: string;
  /** Index of the current period from the anchor (`periodBoundaryMs(anchor, interval, index)`). */
  periodIndex: number;
  /** Coupon applied to its invoices ('' none), and the invoices it has been applied to. */
  couponId: string;
  couponUses: number;
  latestInvoiceId: string;
  /** The test clock of its customer when it was created; '' on real time. */
  testClockId: string;
  /** When billingRun must look at it next (period or trial end); null: never (canceled, paused). */
  nextActionAtMs: number | null;
  /** Proration lines of mid-period changes (`create_prorations`) waiting for the next renewal invoice; absent: none. */
  pendingProrations?: InvoiceLineInput[];
  /** When it was paused (PauseSubscription), while paused; absent or null otherwise (ADR 0035). */
  pausedAtMs?: number | null;
  /** The id of the last change applied (UpdateSubscription): a rerun of it finds it done. */
  lastChangeId?: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** An invoice as stored: the domain's, with collection state around it. */
export interface Invoice extends DomainInvoice {
  tenantId: string;
  /** Paid so far (the whole total, once paid). */
  amountPaidMinor: bigint;
  /** Credited by credit notes: in all (tax included), and its net and tax parts (running sums). */
  amountCreditedMinor: bigint;
  netCreditedMinor: bigint;
  taxCreditedMinor: bigint;
  /**
   * Customer credit balance used at finalization (ADR 0032 "Customer credit balance"): positive,
   * credit applied to this invoice; negative, this invoice's negative total carried to the
   * customer's credit. Amount due = total - this (never below 0). Absent on invoices made before it: 0.
   */
  creditAppliedMinor?: bigint;
  /**
   * Written off to bad debt when the invoice was marked uncollectible (the amount due then; ADR
   * 0035); a later payment or void reverses it first. Absent or 0: never written off.
   */
  amountWrittenOffMinor?: bigint;
  /** Of `attemptCount`, the attempts asked for through PayInvoice (they take no slot of the dunning schedule). Absent: 0. */
  manualAttemptCount?: number;
  /** Charge attempts made; the first failure's time (dunning counts from it). */
  attemptCount: number;
  firstFailedAtMs: number | null;
  /** Next automatic charge attempt; null: none (paid, unpaid policy, exhausted). */
  nextAttemptAtMs: number | null;
  /** The payment of the current attempt, or the one that paid it; '' when none. */
  paymentId: string;
  testClockId: string;
  traceId: string;
}

export interface CreditNote {
  id: string;
  invoiceId: string;
  amountMinor: bigint;
  netMinor: bigint;
  taxMinor: bigint;
  reason: string;
  createdAtMs: number;
}

export interface BillingSettings {
  /** Where the tenant sells from, and its VAT id ('' none): the tax seller. */
  originCountry: string;
  vatId: string;
  /** Invoice numbers are `<prefix>-000001` (1..12 of A-Z 0-9). */
  invoicePrefix: string;
  prorationGranularity: ProrationGranularity;
  dunning: DunningPolicy;
  externalTaxUrl: string;
  externalTaxTimeoutMs: number;
  externalTaxFallback: 'fail' | 'builtin';
}

export interface TestClock { id: string; name: string; frozenTimeMs: number; createdAtMs: number }

export interface UsageRecord {
  id: string; subscriptionId: string; priceId: string; quantity: bigint; atMs: number; createdAtMs: number;
  /** Start of the subscription period it counts in (its current period when recorded): the key of its running aggregate. */
  periodStartMs: number;
}

/** A due piece of work billingRun found: a subscription to renew or an invoice to charge. */
export interface DueRef {
  tenantId: string; id: string; dueAtMs: number;
  /** The document as the queue's query read it (a subscription or an invoice): its work need not read it again before its transaction. */
  state?: unknown;
}

export interface BillingTx {
  ledger: LedgerTx;
  idempotency: IdempotencyTx;
  getSubscriptions(ids: readonly string[]): Promise<Map<string, Subscription>>;
  getInvoices(ids: readonly string[]): Promise<Map<string, Invoice>>;
  /** Last invoice number given (0 before the first): the gapless counter. */
  getInvoiceCounter(): Promise<number>;
  getCreditNote(id: string): Promise<CreditNote | undefined>;
  /** The customer's credit balance in `currency` (minor units, >= 0; 0 when none). */
  getCustomerCredit(customerId: string, currency: string): Promise<bigint>;
  setCustomerCredit(customerId: string, currency: string, amountMinor: bigint): void;
  setSubscription(sub: Subscription, trace: TraceRef): void;
  setInvoice(invoice: Invoice, trace: TraceRef): void;
  setInvoiceCounter(last: number): void;
  createCreditNote(note: CreditNote, trace: TraceRef): void;
  createOutboxEvent(event: OutboxEvent): void;
}

export interface TraceRef { traceId: string; spanId: string }

export interface BillingStore {
  transaction<T>(tenantId: string, work: (tx: BillingTx) => Promise<T>): Promise<T>;
  /** Create-only writes (ids are new or derived from the request): false when the id exists. */
  createProduct(tenantId: string, product: Product, createdAtMs: number): Promise<void>;
  createPrice(tenantId: string, price: Price, createdAtMs: number): Promise<void>;
  createCoupon(tenantId: string, coupon: Coupon): Promise<void>;
  createTestClock(tenantId: string, clock: TestClock): Promise<void>;
  /**
   * Creates the record unless one with its id exists, and folds it into its period's running
   * aggregate (one shard of it) in the same transaction; true when created.
   */
  createUsageRecord(tenantId: string, record: UsageRecord): Promise<boolean>;
  /** The running aggregate of a subscription price's usage in the period starting at `periodStartMs` (its shards merged). */
  getUsageAggregate(tenantId: string, subscriptionId: string, priceId: string, periodStartMs: number): Promise<UsageAggregate>;
  getProduct(tenantId: string, id: string): Promise<{ product: Product; createdAtMs: number } | undefined>;
  getPrice(tenantId: string, id: string): Promise<{ price: Price; createdAtMs: number } | undefined>;
  getCoupon(tenantId: string, id: string): Promise<Coupon | undefined>;
  getBillingCustomer(tenantId: string, customerId: string): Promise<BillingCustomer | undefined>;
  setBillingCustomer(tenantId: string, customer: BillingCustomer): Promise<void>;
  getSettings(tenantId: string): Promise<BillingSettings | undefined>;
  setSettings(tenantId: string, settings: BillingSettings): Promise<void>;
  getTestClock(tenantId: string, id: string): Promise<TestClock | undefined>;
  setTestClockTime(tenantId: string, id: string, frozenTimeMs: number): Promise<void>;
  getSubscription(tenantId: string, id: string): Promise<Subscription | undefined>;
  getInvoice(tenantId: string, id: string): Promise<Invoice | undefined>;
  /** Newest first; `filter` names one subscription's or one customer's invoices (empty: all). */
  listInvoices(tenantId: string, filter: { subscriptionId?: string; customerId?: string }, pageSize: number, cursor: string | undefined): Promise<Page<Invoice>>;
  /** Newest first; `customerId` '' lists every customer's. */
  listSubscriptions(tenantId: string, customerId: string, pageSize: number, cursor: string | undefined): Promise<Page<Subscription>>;
  /**
   * Subscriptions whose next action is due at `nowMs`, oldest first, at most `limit`: on real
   * time (all tenants) when `clock` is absent, else those of one test clock.
   */
  dueSubscriptions(nowMs: number, limit: number, clock?: { tenantId: string; testClockId: string }): Promise<DueRef[]>;
  /** Open invoices whose next charge attempt is due, as `dueSubscriptions`. */
  dueInvoices(nowMs: number, limit: number, clock?: { tenantId: string; testClockId: string }): Promise<DueRef[]>;
  /** The catalog, newest first (creation time, then id), in pages of at most `pageSize`. */
  listProducts(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<{ product: Product; createdAtMs: number }>>;
  /** `productId` '' lists every product's prices. */
  listPrices(tenantId: string, productId: string, pageSize: number, cursor: string | undefined): Promise<Page<{ price: Price; createdAtMs: number }>>;
  listCoupons(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<Coupon>>;
  /** A customer's credit balances by currency (minor units); undefined when the customer has no billing profile. */
  getCustomerCreditBalances(tenantId: string, customerId: string): Promise<Record<string, bigint> | undefined>;
}
