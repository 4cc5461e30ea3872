import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint, type CheckpointSigner, checkpointBytes, checkpointHeadFor, createCheckpoint, signCheckpoint, verifyCheckpointSignature,
} from './checkpoint.js';
import { emptyStripeHead } from './hash-chain.js';

/** An in-memory Ed25519 signer, standing in for the local-key and KMS adapters. */
function ed25519Signer(keyId: string): CheckpointSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId,
    sign: (bytes) => Promise.resolve(new Uint8Array(sign(null, bytes, privateKey))),
    verify: (bytes, signature) => Promise.resolve(verify(null, bytes, publicKey, signature)),
  };
}

const heads = [
  { stripe: 1, entryCount: 7, headHash: 'b'.repeat(64) },
  emptyStripeHead('ten_1', 2),
  { stripe: 0, entryCount: 3, headHash: 'a'.repeat(64) },
];
const checkpoint: Checkpoint = createCheckpoint({ tenantId: 'ten_1', sequence: 4, stripeHeads: heads, createdAtMs: 1_700_000_000_000 });

describe('checkpoints', () => {
  it('sort stripe heads, so the signed bytes do not depend on read order', () => {
    expect(checkpoint.stripeHeads.map((h) => h.stripe)).toEqual([0, 1, 2]);
    const reordered = createCheckpoint({ ...checkpoint, stripeHeads: [...heads].reverse() });
    expect(Buffer.from(checkpointBytes(reordered)).toString()).toBe(Buffer.from(checkpointBytes(checkpoint)).toString());
    expect(checkpointHeadFor(checkpoint, 1)).toEqual(heads[0]);
    expect(checkpointHeadFor(checkpoint, 9)).toBeUndefined();
  });

  it('refuse malformed heads as programmer errors', () => {
    const twice = [...heads, { stripe: 0, entryCount: 1, headHash: 'c'.repeat(64) }];
    expect(() => createCheckpoint({ ...checkpoint, stripeHeads: twice })).toThrow(/duplicate stripe/);
    expect(() => createCheckpoint({ ...checkpoint, stripeHeads: [{ stripe: 0, entryCount: -1, headHash: 'a'.repeat(64) }] })).toThrow(/entryCount/);
    expect(() => createCheckpoint({ ...checkpoint, sequence: 0 })).toThrow(/sequence/);
  });

  it('verify with the signing key, and fail for any edit or another key', async () => {
    const signer = ed25519Signer('local/1');
    const signed = await signCheckpoint(checkpoint, signer);
    expect(signed.keyId).toBe('local/1');
    expect(await verifyCheckpointSignature(signed, signer)).toBe(true);

    const edits: Checkpoint[] = [
      { ...checkpoint, tenantId: 'ten_2' },
      { ...checkpoint, sequence: 5 },
      { ...checkpoint, createdAtMs: checkpoint.createdAtMs + 1 },
      { ...checkpoint, stripeHeads: checkpoint.stripeHeads.map((h, i) => (i === 1 ? { ...h, entryCount: h.entryCount + 1 } : h)) },
      { ...checkpoint, stripeHeads: checkpoint.stripeHeads.map((h, i) => (i === 0 ? { ...h, headHash: 'c'.repeat(64) } : h)) },
      { ...checkpoint, stripeHeads: checkpoint.stripeHeads.slice(0, 2) },
    ];
    for (const edited of edits) expect(await verifyCheckpointSignature({ ...signed, checkpoint: edited }, signer)).toBe(false);

    const otherKey = ed25519Signer('local/1');
    expect(await verifyCheckpointSignature(signed, otherKey)).toBe(false);
    expect(await verifyCheckpointSignature({ ...signed, keyId: 'local/2' }, signer)).toBe(false);
  });
});
