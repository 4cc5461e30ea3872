/**
 * Checkpoints: a signed statement "at `createdAtMs`, stripe s of tenant T had `entryCount` records
 * ending in `headHash`", for every stripe. Written periodically (not per entry), so they cost the
 * write path nothing. Verification checks the signature, then each stripe's chain against its
 * signed head (`verifyChain(records, genesis, head)`); the latest checkpoint covers everything
 * before it, because each head commits to its whole stripe prefix.
 *
 * The heads need not be read atomically: each is a claim about one stripe's prefix, true when read.
 */
import { assert } from '../errors.js';
import { canonicalBytes, isSha256Hex } from './canonical.js';
import { CHAIN_STRIPE_COUNT_MAX, type StripeHead } from './hash-chain.js';

/**
 * What checkpoints need of a signing key: the `Signer` port (ports/signer.ts) provides it. Declared
 * here, structurally, so the domain imports no port.
 */
export interface CheckpointSigner {
  /** Identifies the key (and version) that signs, stored next to each signature. */
  readonly keyId: string;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
  /** True when `signature` is a valid signature of `bytes` by this key. */
  verify(bytes: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /** How to verify a signature made under another version of this key (rotation); undefined for other keys. */
  verifierFor?(keyId: string): ((bytes: Uint8Array, signature: Uint8Array) => Promise<boolean>) | undefined;
}

/** The signed content of a checkpoint. `sequence` counts the tenant's checkpoints from 1. */
export interface Checkpoint {
  readonly tenantId: string;
  readonly sequence: number;
  /** One head per stripe, sorted by stripe. */
  readonly stripeHeads: readonly StripeHead[];
  readonly createdAtMs: number;
}

/** A checkpoint with its signature (base64) and the id of the key that made it. */
export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly keyId: string;
  readonly signatureBase64: string;
}

/**
 * A checkpoint from the stripe heads read (any order): sorted by stripe, checked (distinct stripes,
 * counts >= 0, hex hashes). Bad heads are a bug, so they fail assertions.
 */
export function createCheckpoint(input: Checkpoint): Checkpoint {
  assert(typeof input.tenantId === 'string' && input.tenantId !== '', 'checkpoint: tenantId');
  assert(Number.isSafeInteger(input.sequence) && input.sequence >= 1, 'checkpoint: sequence');
  assert(Number.isSafeInteger(input.createdAtMs) && input.createdAtMs >= 0, 'checkpoint: createdAtMs');
  assert(input.stripeHeads.length >= 1 && input.stripeHeads.length <= CHAIN_STRIPE_COUNT_MAX, 'checkpoint: stripe count');
  const stripeHeads = [...input.stripeHeads]
    .map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash }))
    .sort((a, b) => a.stripe - b.stripe);
  stripeHeads.forEach((head, i) => {
    assert(Number.isSafeInteger(head.stripe) && head.stripe >= 0 && head.stripe < CHAIN_STRIPE_COUNT_MAX, 'checkpoint: stripe');
    assert(i === 0 || head.stripe !== stripeHeads[i - 1]?.stripe, 'checkpoint: duplicate stripe');
    assert(Number.isSafeInteger(head.entryCount) && head.entryCount >= 0, 'checkpoint: entryCount');
    assert(isSha256Hex(head.headHash), 'checkpoint: headHash');
  });
  return { tenantId: input.tenantId, sequence: input.sequence, stripeHeads, createdAtMs: input.createdAtMs };
}

/** The canonical bytes that are signed: a versioned tag plus every field of the checkpoint. */
export function checkpointBytes(checkpoint: Checkpoint): Uint8Array {
  return canonicalBytes({
    schema: 'tally.ledger.checkpoint.v1',
    tenantId: checkpoint.tenantId,
    sequence: checkpoint.sequence,
    stripeHeads: checkpoint.stripeHeads.map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash })),
    createdAtMs: checkpoint.createdAtMs,
  });
}

/** Signs `checkpoint` with `signer`. */
export async function signCheckpoint(checkpoint: Checkpoint, signer: CheckpointSigner): Promise<SignedCheckpoint> {
  const signature = await signer.sign(checkpointBytes(checkpoint));
  return { checkpoint, keyId: signer.keyId, signatureBase64: Buffer.from(signature).toString('base64') };
}

/**
 * True when `signed` was signed over exactly its checkpoint by `signer`'s key, or by another
 * version of it the signer vouches for (rotation, `CheckpointSigner.verifierFor`). False (never a throw) for
 * any other key id or a bad signature: stored checkpoints are untrusted input here.
 */
export async function verifyCheckpointSignature(signed: SignedCheckpoint, signer: CheckpointSigner): Promise<boolean> {
  const verify = signed.keyId === signer.keyId ? signer.verify : signer.verifierFor?.(signed.keyId);
  if (!verify) return false;
  const signature = new Uint8Array(Buffer.from(signed.signatureBase64, 'base64'));
  return verify(checkpointBytes(signed.checkpoint), signature);
}

/** The signed head of `stripe`, or undefined when the checkpoint predates the stripe. */
export function checkpointHeadFor(checkpoint: Checkpoint, stripe: number): StripeHead | undefined {
  return checkpoint.stripeHeads.find((h) => h.stripe === stripe);
}
