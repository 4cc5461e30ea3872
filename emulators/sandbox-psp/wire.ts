/**
 * What the two wire protocols (Stripe, Adyen) share with the server: the request they get, the
 * result they give back, and the context they act through. The server owns HTTP, idempotency,
 * faults and logs; a protocol owns its PSP's objects and wire shapes.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ChallengeView } from './challenge-page.js';
import type { SandboxPspName } from './faults.js';
import type { StoredResponse } from './idempotency.js';
import type { OutgoingWebhook } from './webhooks.js';

export interface ApiRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A fault the card itself asks for (see test-cards.ts), on top of the control API's random ones. */
export type CardFault = 'none' | 'timeout' | 'error_before' | 'error_after';

export interface ApiResult {
  response: StoredResponse;
  /**
   * True once the endpoint started executing: the response is saved under the idempotency key and
   * replayed. False for authentication and validation failures, which the PSPs do not save.
   */
  processed: boolean;
  cardFault: CardFault;
}

export interface WireContext {
  nowMs(): number;
  /** The sandbox's own base URL (for 3DS-style redirect pages). */
  baseUrl(): string;
  emit(event: OutgoingWebhook): void;
  /** Runs `fn` after the current response is written (Adyen's asynchronous modifications). */
  defer(fn: () => void): void;
}

/** One PSP's wire protocol. */
export interface WireProtocol {
  readonly psp: SandboxPspName;
  /** The credentials' scope for idempotency keys, or the PSP's 401 when they are missing or wrong. */
  authenticate(request: ApiRequest): { scope: string } | { response: StoredResponse };
  handle(request: ApiRequest): ApiResult;
  /** The PSP's 5xx: `before` says nothing was done (safe to retry); `after` says nothing. */
  serverError(phase: 'before' | 'after'): StoredResponse;
  /** The PSP's answer to a reused key with other parameters, or to a key whose request still runs. */
  idempotencyRefusal(kind: 'mismatch' | 'in_progress'): StoredResponse;
  completeChallenge(id: string, result: 'success' | 'failure'): boolean;
  /** A payment's 3DS-style challenge as the shopper's page shows it; null for an unknown payment. */
  challenge(id: string): ChallengeView | null;
  /** Opens a dispute / chargeback on a captured payment (Adyen, after a won one: a second chargeback); false when there is none to dispute. */
  createDispute(id: string, options?: { inquiry?: boolean }): boolean;
  /** Turns an open inquiry into a chargeback (Stripe: `charge.dispute.funds_withdrawn`); false when there is none or the PSP has no inquiries. */
  escalateDispute(id: string): boolean;
  /** Closes an open dispute as won or lost (Stripe `charge.dispute.closed`, Adyen CHARGEBACK_REVERSED when won); false when there is none or the PSP has no such event. */
  closeDispute(id: string, outcome: 'won' | 'lost'): boolean;
  /** What the PSP refunded on a payment, minor units (the test oracle); null for an unknown payment. */
  refundedMinor(id: string): number | null;
  /** Payments held now (bounded by `paymentsMax`). */
  paymentCount(): number;
  /** The settlement report of what was settled since `sinceMs` (CSV in the PSP's format), as batch `batchNumber`; absent when the PSP's format is not written. */
  settlementReport?(options: { batchNumber: number; sinceMs: number }): string;
  reset(): void;
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): StoredResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** An opaque id in the PSP's style: prefix + 24 hex characters. */
export function randomId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

export function result(response: StoredResponse, processed: boolean, cardFault: CardFault = 'none'): ApiResult {
  return { response, processed, cardFault };
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
