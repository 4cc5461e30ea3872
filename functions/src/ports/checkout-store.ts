/**
 * Checkout sessions as the app needs them (issue 17, ADR 0036). A session lives under its tenant;
 * a tenant-less index maps the SHA-256 of each session's client secret to it, because the buyer's
 * requests carry only the secret.
 */
import type { CheckoutSession } from '../domain/checkout/session.js';
import type { OutboxEvent } from './ledger-store.js';
import type { Page } from './tenancy-repository.js';

/** What a change of a session writes: the new session and the outbox events of the same commit. */
export interface SessionChange {
  session: CheckoutSession;
  events: OutboxEvent[];
}

export interface CheckoutStore {
  /** Creates the session and its secret's index entry in one commit. */
  createSession(session: CheckoutSession): Promise<void>;
  getSession(tenantId: string, sessionId: string): Promise<CheckoutSession | undefined>;
  /** Newest first. */
  listSessions(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<CheckoutSession>>;
  /** The session a client secret's hash names, if any (the caller still compares the hash in constant time). */
  findBySecretSha256(secretSha256: string): Promise<{ tenantId: string; sessionId: string } | undefined>;
  /**
   * Read-modify-write in one transaction: `change` sees the stored session and returns what to
   * write (with its outbox events), or null to write nothing. Undefined when the session does not exist.
   */
  updateSession(tenantId: string, sessionId: string, change: (current: CheckoutSession) => SessionChange | null): Promise<CheckoutSession | undefined>;
}
