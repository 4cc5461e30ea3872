/** What the payments use cases run on: the store, the ledger, the PSPs and their guards, caches. */
import type { FeeSchedule, RoutingRule, TenantPricing } from '../../domain/payments/index.js';
import type { CircuitBreaker, ConcurrencyLimiter, TimerClock } from '../../platform/resilience/index.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { PaymentMethod, PaymentsStore } from '../../ports/payments-store.js';
import type { TtlCache } from '../../platform/cache/ttl-cache.js';
import type { PspGateway, PspName } from '../../ports/psp-gateway.js';
import type { LedgerDeps } from '../ledger/ledger-use-cases.js';
import type { KeyedSerializer } from '../../platform/lanes/keyed-serializer.js';
import type { LookupHedge } from './hedged-lookup.js';

export interface PaymentsDeps {
  store: PaymentsStore;
  ledger: LedgerDeps;
  clock: Clock;
  timers: TimerClock;
  gateways: ReadonlyMap<PspName, PspGateway>;
  breaker: CircuitBreaker;
  limiter: ConcurrencyLimiter;
  /** Deadline of one PSP call; the janitor's grace must exceed it. */
  pspCallTimeoutMs: number;
  /** The janitor's lookups are hedged (idempotent reads): see hedged-lookup.ts. */
  lookupHedge: LookupHedge;
  /** Bound on PSP calls one API request makes (authorize + failovers + automatic capture). */
  pspCallsPerRequestMax: number;
  /**
   * The platform's fee terms, snapshotted on each payment at creation; the tenant's pricing (or
   * the platform's default) sets its rate and fixed part (`tenantPricing`, from the cached tenant
   * document). Absent `tenantPricing`: these terms as they are.
   */
  fees: FeeSchedule;
  tenantPricing?: (tenantId: string) => Promise<TenantPricing>;
  random: () => number;
  /** Where anomalies go (`reportAnomalies`): a log-based metric counts them (terraform). */
  logger: Logger;
  /**
   * Test hooks, shared by reference (crash injection): `beforePspCall` runs after the attempt was
   * saved and before the PSP is called; `afterPspCall` after a PSP answered and before the answer is recorded.
   */
  testHooks: { beforePspCall?: (paymentId: string) => void; afterPspCall?: (paymentId: string) => void };
  /**
   * Per-instance caches (ADR 0011). Payment methods never change once created, so a found one
   * is cached for long; routing rules live `ttlMs` at most on another instance than the one that
   * set them. Absent: every read goes to the store.
   */
  caches?: { paymentMethods: TtlCache<PaymentMethod | undefined>; routingRules: TtlCache<RoutingRule[] | undefined>; accountsEnsured: TtlCache<true> };
  /**
   * PSP events of one payment applied one at a time in this instance (keyed by payment id), so
   * that two arriving together do not contend on its document. Absent: applied as they come.
   */
  eventsByPayment?: KeyedSerializer;
}
