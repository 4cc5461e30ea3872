/**
 * Persistence of payments. Mutations run in `transaction`, which also exposes the ledger's view of
 * the same Firestore transaction so that a capture's ledger entry, the state change and the outbox
 * event commit together.
 */
import type { PaymentIntent, PaymentStatus } from '../domain/payments/payment-intent.js';
import type { RoutingRule } from '../domain/payments/routing.js';
import type { PspName, PspWebhookEvent } from './psp-gateway.js';
import type { LedgerTx, OutboxEvent } from './ledger-store.js';
import type { IdempotencyRef, IdempotencyTx } from './idempotency-store.js';
import type { Page } from './tenancy-repository.js';

/** Why a stored PSP event could not apply (the typed error it met). */
export interface InboxFailure { reason: string; message: string }

export interface Customer { id: string; tenantId: string; email: string; name: string; createdAtMs: number }
export interface PaymentMethod {
  id: string; tenantId: string; customerId: string; pspTokens: Partial<Record<PspName, string>>;
  brand: string; country: string; last4: string; createdAtMs: number;
}

/** ListPayments' filters; every one absent means no filter. */
export interface PaymentsFilter {
  /** Any of these statuses (1..8 distinct). */
  statuses?: readonly PaymentStatus[];
  /** Created at or after (inclusive). */
  createdFromMs?: number;
  /** Created strictly before. */
  createdBeforeMs?: number;
  /** One customer's payments. */
  customerId?: string;
}

export interface PaymentsTx {
  getPayment(paymentId: string): Promise<PaymentIntent | undefined>;
  /** Inbox: whether this PSP event was already applied (exactly-once processing). */
  isEventProcessed(inboxId: string): Promise<boolean>;
  ledger: LedgerTx;
  /** The idempotency records, so a command's reservation and response commit with its writes. */
  idempotency: IdempotencyTx;
  /**
   * Saves the intent; also indexes its PSP reference (see `PaymentsStore.paymentOfPspReference`).
   * `created`: this save creates the payment (its first version saved may be past 1: a payment
   * created and confirmed in one call), so its id is indexed too.
   */
  savePayment(intent: PaymentIntent, trace: { traceId: string; spanId: string }, created: boolean): void;
  markEventProcessed(inboxId: string, nowMs: number): void;
  createOutboxEvent(event: OutboxEvent): void;
}

/**
 * A payment in the janitor's queue, with its place (`settleQueuedAt`, ms) and the payment as the
 * query read it (absent when its document does not parse), so that settling it needs no second
 * read before its transaction, which reads it again.
 */
export interface UnresolvedEntry { tenantId: string; paymentId: string; queuedAtMs: number; intent?: PaymentIntent }

export interface PaymentsStore {
  transaction<T>(tenantId: string, work: (tx: PaymentsTx) => Promise<T>): Promise<T>;
  /**
   * A new payment's first save in one write, without a transaction or a read (ADR 0015, 0016):
   * the payment, its id's index, its outbox events and the command key's record, every one
   * created, so all are written or none. The record is a lease (a one-call checkout goes on to
   * call the PSP) or the completed response (a payment only created). False when any of them
   * exists (a rerun or a replay under the key): the caller then takes the transactional path.
   */
  createPaymentAtOnce(input: {
    intent: PaymentIntent; outbox: readonly OutboxEvent[]; trace: { traceId: string; spanId: string };
    key:
      | { ref: IdempotencyRef; lease: Parameters<IdempotencyTx['writeLease']>[1] }
      | { ref: IdempotencyRef; completed: Parameters<IdempotencyTx['writeCompleted']>[1] };
  }): Promise<boolean>;
  getPayment(tenantId: string, paymentId: string): Promise<PaymentIntent | undefined>;
  /** Newest first (ties by id), filtered; the cursor carries the position only (send the same filter). */
  listPayments(tenantId: string, pageSize: number, cursor: string | undefined, filter?: PaymentsFilter): Promise<Page<PaymentIntent>>;
  /** Which tenant a payment belongs to (webhooks name only our payment id). */
  tenantOfPayment(paymentId: string): Promise<string | undefined>;
  /**
   * The payment a PSP payment belongs to, for events that do not carry our payment id (disputes).
   * Every PSP reference a payment records is indexed by `savePayment` in the same transaction.
   */
  paymentOfPspReference(psp: PspName, pspReference: string): Promise<{ tenantId: string; paymentId: string } | undefined>;
  /**
   * Parks an event that names only a PSP reference no payment has recorded yet (a dispute that
   * arrives while its authorization is still unknown): kept until `expireAtMs` (TTL) for the
   * janitor to match again. Parking one event twice is harmless.
   */
  parkUnmatchedEvent(event: PspWebhookEvent, receivedAtMs: number, expireAtMs: number): Promise<void>;
  /**
   * Parked events, least recently tried first (never tried: by arrival), bounded. A scan makes
   * progress: each event it could not match is requeued behind the others (`requeueParkedEvent`).
   */
  listParkedEvents(limit: number): Promise<{ parkedId: string; event: PspWebhookEvent }[]>;
  /** Moves a parked event behind every other (it was tried at `nowMs` and matched nothing yet). */
  requeueParkedEvent(parkedId: string, nowMs: number): Promise<void>;
  dropParkedEvent(parkedId: string): Promise<void>;
  /**
   * Payments with an unresolved PSP attempt that joined the janitor's queue before `olderThanMs`
   * (when the attempt became unknown, or the janitor last tried and could not settle it), in that
   * order (ties by document path), across tenants, bounded; `after` (an entry of the page before)
   * pages on, so a run examines each payment at most once whatever happens to the ones before.
   */
  findUnresolved(olderThanMs: number, limit: number, after?: UnresolvedEntry): Promise<UnresolvedEntry[]>;
  /** How many payments `findUnresolved(olderThanMs, ...)` would find in all (one aggregation query). */
  countUnresolved(olderThanMs: number): Promise<number>;
  /**
   * Moves an unresolved payment behind every other in the janitor's queue (tried at `nowMs`, not
   * settled); a payment settled meanwhile is left as it is.
   */
  requeueUnresolved(tenantId: string, paymentId: string, nowMs: number): Promise<void>;
  /** Automatic-capture payments left authorized since before `olderThanMs`, across tenants, bounded. */
  findCaptureDue(olderThanMs: number, limit: number): Promise<{ tenantId: string; paymentId: string }[]>;
  createCustomer(customer: Customer): Promise<void>;
  getCustomer(tenantId: string, customerId: string): Promise<Customer | undefined>;
  /** Newest first (creation time, then id); `email` '' lists every customer, otherwise those with exactly that email. */
  listCustomers(tenantId: string, email: string, pageSize: number, cursor: string | undefined): Promise<Page<Customer>>;
  createPaymentMethod(method: PaymentMethod): Promise<void>;
  getPaymentMethod(tenantId: string, paymentMethodId: string): Promise<PaymentMethod | undefined>;
  getRoutingRules(tenantId: string): Promise<RoutingRule[] | undefined>;
  setRoutingRules(tenantId: string, rules: RoutingRule[]): Promise<void>;
  /** Stores a received PSP event; false when this event id was stored before (duplicate delivery). */
  storeInboxEvent(tenantId: string, inboxId: string, event: PspWebhookEvent, receivedAtMs: number): Promise<boolean>;
  getInboxEvent(tenantId: string, inboxId: string): Promise<{ event: PspWebhookEvent; processed: boolean; failure: InboxFailure | null } | undefined>;
  /**
   * Records that a stored event can never apply (a typed refusal): it counts as processed, so a
   * redelivery is a duplicate, and keeps why for a human.
   */
  markEventFailed(tenantId: string, inboxId: string, failure: InboxFailure, nowMs: number): Promise<void>;
}
