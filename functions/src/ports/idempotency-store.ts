/** Outcome of trying to reserve an idempotency key. */
export type Reservation =
  | { kind: 'execute'; leaseToken: string }
  | { kind: 'replay'; response: Uint8Array }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' };

export interface ReserveInput {
  /** Tenant id, or `_platform` for platform-admin calls. */
  scope: string;
  /** The RPC, e.g. `tally.tenancy.v1.TenancyService/CreateApiKey`: a key is per method. */
  method: string;
  key: string;
  /** SHA-256 of the canonical request (without the key). */
  requestHash: string;
  nowMs: number;
  leaseMs: number;
  retentionMs: number;
}

/**
 * Stores first responses per (scope, method, key). `reserve` is atomic: of concurrent callers with
 * one key exactly one gets `execute` until it completes, releases, or its lease runs out.
 */
export interface IdempotencyStore {
  reserve(input: ReserveInput): Promise<Reservation>;
  complete(input: { scope: string; method: string; key: string; leaseToken: string; response: Uint8Array; nowMs: number }): Promise<void>;
  release(input: { scope: string; method: string; key: string; leaseToken: string }): Promise<void>;
}

/** Which record: per (scope, method, key). */
export interface IdempotencyRef { scope: string; method: string; key: string }

/** A stored record as the decision needs it. */
export interface StoredIdempotency {
  requestHash: string;
  state: 'in_progress' | 'completed';
  /** The holder's token while in progress. */
  leaseToken: string;
  leaseUntilMs: number;
  /** The stored response once completed. */
  response: Uint8Array | null;
  /**
   * The error the first run answered, when it is to be replayed too (a one-call checkout that
   * created its payment and failed, ADR 0015); `response` then holds that payment.
   */
  error?: StoredError | null;
}

/** An answered error as a replay repeats it (the error contract's reason, message and metadata). */
export interface StoredError { reason: string; message: string; metadata: Readonly<Record<string, string>> }

/**
 * The idempotency records inside another store's transaction (ADR 0011), for work whose
 * reservation and result commit with its own writes. Reads come before writes (Firestore's rule).
 */
export interface IdempotencyTx {
  read(ref: IdempotencyRef): Promise<StoredIdempotency | undefined>;
  /** Takes the lease (new key, or a released or expired one). */
  writeLease(ref: IdempotencyRef, input: { requestHash: string; leaseToken: string; nowMs: number; leaseMs: number; retentionMs: number }): void;
  /** Stores the response: replays return it from now on. */
  writeCompleted(ref: IdempotencyRef, input: { requestHash: string; response: Uint8Array; error?: StoredError; nowMs: number; retentionMs: number }): void;
  /** Drops the reservation (the work failed and wrote nothing the key must remember). */
  remove(ref: IdempotencyRef): void;
}
