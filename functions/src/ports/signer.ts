/**
 * The `Signer` port: signs and verifies ledger checkpoints. Adapters: a local Ed25519 key for
 * development (adapters/signer/local-signer.ts), Cloud KMS `AsymmetricSign` in production
 * (adapters/kms/kms-signer.ts; the database writer holds no signing key, which is what makes
 * checkpoints evidence).
 */

/** Signs bytes with one key and verifies signatures made with it. */
export interface Signer {
  /** Identifies the key (and version) that signs, stored next to each signature for verification. */
  readonly keyId: string;
  /** Signs `bytes` (the adapter chooses the algorithm: Ed25519 locally, the KMS key's otherwise). */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
  /** True when `signature` is a valid signature of `bytes` by this key. */
  verify(bytes: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /**
   * Key rotation: how to verify a signature made under `keyId`, an earlier (or later) version of
   * this same key, or undefined when `keyId` is not one of them. Absent: only `keyId` itself verifies.
   */
  verifierFor?(keyId: string): ((bytes: Uint8Array, signature: Uint8Array) => Promise<boolean>) | undefined;
}
