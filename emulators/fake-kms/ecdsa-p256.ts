/**
 * ECDSA P-256 signing over a digest the caller already computed, which is what Cloud KMS receives
 * in `AsymmetricSignRequest.digest`. node:crypto cannot do this: `sign(null, ...)` and
 * `sign('sha256', ...)` both hash their input again for EC keys, and WebCrypto likewise, so the
 * fake signs with `@noble/curves` (audited, `prehash: false` takes the digest as given). Nonces are
 * deterministic (RFC 6979, no extra entropy), so signatures are reproducible in tests; `lowS: false`
 * keeps them as Cloud KMS and RFC 6979 give them (P-256 verifiers accept either s).
 *
 * Verification stays with node:crypto and the real @google-cloud/kms client (test/kms-signer.test.ts),
 * the independent checks that the signatures are right.
 */
import { p256 } from '@noble/curves/nist.js';

/** An ECDSA signature as (r, s). */
export interface EcdsaSignature {
  readonly r: bigint;
  readonly s: bigint;
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }`, the encoding Cloud KMS returns for EC keys. */
export function encodeDerSignature(signature: EcdsaSignature): Uint8Array {
  return new p256.Signature(signature.r, signature.s).toBytes('der');
}

/**
 * Signs a precomputed digest with the P-256 private scalar `privateKey` (32 big-endian bytes, as in
 * a JWK's `d`), returning (r, s). The digest is used as given; it is not hashed again. Throws for a
 * private key out of range (0 or >= the group order).
 */
export function signDigestP256(privateKey: Uint8Array, digest: Uint8Array): EcdsaSignature {
  if (!p256.utils.isValidSecretKey(privateKey)) throw new Error('ecdsa-p256: private key out of range');
  const compact = p256.sign(digest, privateKey, { prehash: false, lowS: false, extraEntropy: false, format: 'compact' });
  const { r, s } = p256.Signature.fromBytes(compact, 'compact');
  return { r, s };
}
