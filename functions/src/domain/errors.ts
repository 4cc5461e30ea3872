/**
 * The one error type domain and app code throw for expected, typed failures.
 *
 * `reason` is a closed enum: callers (and merchants reading API errors) switch on it, so adding a
 * reason is an API change and must be documented in the README's error table. The mapping from
 * reason to a ConnectRPC `Code` lives in exactly one place: `platform/errors/connect-errors.ts`.
 *
 * Programmer errors (broken invariants) are not TallyErrors: they are `assert` failures and surface
 * as INTERNAL.
 */
export const errorReasons = [
  // INVALID_ARGUMENT: the request itself is wrong; retrying it unchanged never helps.
  'FIELD_REQUIRED',
  'FIELD_INVALID',
  'UNKNOWN_CURRENCY',
  'AMOUNT_PRECISION_EXCEEDED',
  'AMOUNT_OUT_OF_RANGE',
  'CURRENCY_MISMATCH',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_CONTENT_TYPE',
  'ENTRY_UNBALANCED',
  'RESERVED_NAMESPACE',
  // The request cannot be decoded at all (not protobuf/JSON, a broken envelope or compression).
  'MALFORMED_REQUEST',
  // Request headers larger than the server accepts (HTTP 431).
  'HEADERS_TOO_LARGE',
  // A settlement report that cannot be read (recon): metadata names file, line and column.
  'REPORT_MALFORMED',
  // UNIMPLEMENTED: an HTTP method, protocol feature or content encoding this API does not speak.
  'UNSUPPORTED_PROTOCOL',
  // UNAUTHENTICATED / PERMISSION_DENIED
  'CREDENTIALS_MISSING',
  'CREDENTIALS_INVALID',
  'PERMISSION_DENIED',
  // NOT_FOUND / ALREADY_EXISTS
  'NOT_FOUND',
  'ALREADY_EXISTS',
  // FAILED_PRECONDITION: the request is well formed but the state does not allow it.
  'IDEMPOTENCY_KEY_REUSED',
  'INVALID_STATE_TRANSITION',
  'ACCOUNT_CLOSED',
  'LIMIT_EXCEEDED',
  'ENTRY_ID_REUSED',
  'BALANCE_OVERFLOW',
  // ABORTED / UNAVAILABLE: retry later with the same idempotency key.
  'IDEMPOTENCY_KEY_IN_PROGRESS',
  'CONTENTION',
  // Payments (used by the payments area).
  'CARD_DECLINED',
  'INSUFFICIENT_FUNDS',
  'PSP_UNAVAILABLE',
  // UNAVAILABLE: the tenant's external tax service failed and its fallback is "fail" (billing).
  'TAX_UNAVAILABLE',
  // UNAVAILABLE: the analytics store (ClickHouse) cannot answer now (down, or over the query timeout).
  'ANALYTICS_UNAVAILABLE',
  // FAILED_PRECONDITION: the checkout session expired; the buyer cannot pay it (checkout).
  'CHECKOUT_SESSION_EXPIRED',
  // INTERNAL: a bug or an unexpected failure; details go to logs only.
  'INTERNAL',
] as const;

export type ErrorReason = (typeof errorReasons)[number];

/** An expected, typed failure. `metadata` is safe to show to the caller (field names, ids). */
export class TallyError extends Error {
  override readonly name = 'TallyError';
  constructor(
    readonly reason: ErrorReason,
    message: string,
    readonly metadata: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthand for the most common bad-input error: names the offending field. */
export function invalidField(field: string, message: string, reason: ErrorReason = 'FIELD_INVALID'): TallyError {
  return new TallyError(reason, `${field}: ${message}`, { field });
}

/** Asserts a programmer invariant. Failing means a bug, never bad input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
