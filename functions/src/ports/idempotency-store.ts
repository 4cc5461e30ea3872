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
