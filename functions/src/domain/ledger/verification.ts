/**
 * Verification watermarks (ADR 0026): a signed statement "the chain of tenant T was verified from
 * genesis up to these stripe heads, and checkpoint signatures up to sequence N", so that the next
 * verification starts there instead of replaying the whole history.
 *
 * Why signed: the watermark lets a verifier skip records. If a database writer could write one, it
 * could tamper with old records and move the watermark past them. Signing it with the checkpoint key
 * (the `Signer` port, which the database writer does not hold) makes a forged or edited watermark
 * fail `verifyWatermarkSignature`; the use case then ignores it and starts from genesis.
 *
 * Two watermarks per tenant: `incremental` (advanced by every VerifyChain request) and `full` (a
 * verification job from genesis, run chunk by chunk; `complete` once it reached the stripe heads read
 * by its last chunk, then a new `--full` starts a new job).
 *
 * What a watermark does not protect: records before it that are rewritten later are only found by a
 * full verification (or by the next checkpoint whose signed head falls after the watermark).
 */
import { assert } from '../errors.js';
import { canonicalBytes, isSha256Hex } from './canonical.js';
import type { CheckpointSigner } from './checkpoint.js';
import { CHAIN_STRIPE_COUNT_MAX, genesisHash, type StripeHead } from './hash-chain.js';

/** Which watermark: the incremental one or the full job's cursor. */
export type VerificationMode = 'incremental' | 'full';

/** The signed content of a watermark. */
export interface VerificationWatermark {
  readonly tenantId: string;
  readonly mode: VerificationMode;
  /** Identifies a full job (stays the same while it is resumed); '' for the incremental watermark. */
  readonly jobId: string;
  /** Verified prefix of each stripe: `entryCount` records ending in `headHash`; sorted by stripe; absent stripes are at genesis. */
  readonly stripeHeads: readonly StripeHead[];
  /** Checkpoints 1..checkpointSequence have verified signatures (0: none yet). */
  readonly checkpointSequence: number;
  /** True when the last chunk reached every stripe head it read (a full job is then finished). */
  readonly complete: boolean;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
}

/** A watermark with its signature (base64) and the id of the key that made it. */
export interface SignedWatermark {
  readonly watermark: VerificationWatermark;
  readonly keyId: string;
  readonly signatureBase64: string;
}

/** The starting point of a verification from genesis. */
export function genesisWatermark(tenantId: string, mode: VerificationMode, jobId: string, nowMs: number): VerificationWatermark {
  return createWatermark({ tenantId, mode, jobId, stripeHeads: [], checkpointSequence: 0, complete: false, startedAtMs: nowMs, updatedAtMs: nowMs });
}

/** Checks and normalises a watermark (heads sorted by stripe); bad values are a bug, so they fail assertions. */
export function createWatermark(input: VerificationWatermark): VerificationWatermark {
  assert(typeof input.tenantId === 'string' && input.tenantId !== '', 'watermark: tenantId');
  assert(input.mode === 'incremental' || input.mode === 'full', 'watermark: mode');
  assert(typeof input.jobId === 'string', 'watermark: jobId');
  assert(Number.isSafeInteger(input.checkpointSequence) && input.checkpointSequence >= 0, 'watermark: checkpointSequence');
  assert(Number.isSafeInteger(input.startedAtMs) && Number.isSafeInteger(input.updatedAtMs), 'watermark: times');
  assert(input.stripeHeads.length <= CHAIN_STRIPE_COUNT_MAX, 'watermark: stripe count');
  const stripeHeads = [...input.stripeHeads]
    .map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash }))
    .sort((a, b) => a.stripe - b.stripe);
  stripeHeads.forEach((head, i) => {
    assert(Number.isSafeInteger(head.stripe) && head.stripe >= 0 && head.stripe < CHAIN_STRIPE_COUNT_MAX, 'watermark: stripe');
    assert(i === 0 || head.stripe !== stripeHeads[i - 1]?.stripe, 'watermark: duplicate stripe');
    assert(Number.isSafeInteger(head.entryCount) && head.entryCount >= 0, 'watermark: entryCount');
    assert(isSha256Hex(head.headHash), 'watermark: headHash');
  });
  return { ...input, stripeHeads, complete: input.complete === true };
}

/** The verified prefix of `stripe` (genesis when the watermark has none). */
export function watermarkHeadFor(watermark: VerificationWatermark, stripe: number): StripeHead {
  return watermark.stripeHeads.find((h) => h.stripe === stripe) ?? { stripe, entryCount: 0, headHash: genesisHash(watermark.tenantId, stripe) };
}

/** Records covered by the watermark (the sum of its stripes' counts). */
export function watermarkEntryCount(watermark: VerificationWatermark): number {
  return watermark.stripeHeads.reduce((n, h) => n + h.entryCount, 0);
}

/** The canonical bytes that are signed: a versioned tag (distinct from checkpoints') plus every field. */
export function watermarkBytes(w: VerificationWatermark): Uint8Array {
  return canonicalBytes({
    schema: 'tally.ledger.verification-watermark.v1',
    tenantId: w.tenantId,
    mode: w.mode,
    jobId: w.jobId,
    stripeHeads: w.stripeHeads.map((h) => ({ stripe: h.stripe, entryCount: h.entryCount, headHash: h.headHash })),
    checkpointSequence: w.checkpointSequence,
    complete: w.complete,
    startedAtMs: w.startedAtMs,
    updatedAtMs: w.updatedAtMs,
  });
}

export async function signWatermark(watermark: VerificationWatermark, signer: CheckpointSigner): Promise<SignedWatermark> {
  const signature = await signer.sign(watermarkBytes(watermark));
  return { watermark, keyId: signer.keyId, signatureBase64: Buffer.from(signature).toString('base64') };
}

/**
 * True when `signed` is a valid signature over exactly its watermark by the signer's key (or a
 * rotated version of it) and is for `tenantId` and `mode`. False, never a throw, for anything else:
 * a stored watermark is untrusted input (a malformed one fails the encoding and counts as forged).
 */
export async function verifyWatermarkSignature(signed: SignedWatermark, signer: CheckpointSigner, tenantId: string, mode: VerificationMode): Promise<boolean> {
  if (signed.watermark.tenantId !== tenantId || signed.watermark.mode !== mode) return false;
  const verify = signed.keyId === signer.keyId ? signer.verify : signer.verifierFor?.(signed.keyId);
  if (!verify || typeof signed.signatureBase64 !== 'string') return false;
  let bytes: Uint8Array;
  try {
    bytes = watermarkBytes(createWatermark(signed.watermark));
  } catch {
    return false;
  }
  return verify(bytes, new Uint8Array(Buffer.from(signed.signatureBase64, 'base64')));
}
