import { generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckpointSigner } from './checkpoint.js';
import { type ChainedRecord, type StripeHead, createChainVerifier, emptyStripeHead, genesisHash, linkRecord } from './hash-chain.js';
import type { EntryRecord } from './journal-record.js';
import {
  type SignedWatermark, type VerificationWatermark, createWatermark, genesisWatermark, signWatermark, verifyWatermarkSignature,
  watermarkEntryCount, watermarkHeadFor,
} from './verification.js';

/** An in-memory Ed25519 signer, standing in for the local-key and KMS adapters. */
function ed25519Signer(keyId: string): CheckpointSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId,
    sign: (bytes) => Promise.resolve(new Uint8Array(sign(null, bytes, privateKey))),
    verify: (bytes, signature) => Promise.resolve(verify(null, bytes, publicKey, signature)),
  };
}

const tenantId = 'ten_wm';
const watermark: VerificationWatermark = createWatermark({
  tenantId, mode: 'full', jobId: 'vjob_1', checkpointSequence: 3, complete: false, startedAtMs: 1_000, updatedAtMs: 2_000,
  stripeHeads: [{ stripe: 2, entryCount: 5, headHash: 'b'.repeat(64) }, { stripe: 0, entryCount: 7, headHash: 'a'.repeat(64) }],
});

describe('verification watermarks', () => {
  it('verify when signed by the key, for their tenant and mode only', async () => {
    const signer = ed25519Signer('k1');
    const signed = await signWatermark(watermark, signer);
    expect(await verifyWatermarkSignature(signed, signer, tenantId, 'full')).toBe(true);
    expect(await verifyWatermarkSignature(signed, signer, 'ten_other', 'full')).toBe(false);
    expect(await verifyWatermarkSignature(signed, signer, tenantId, 'incremental')).toBe(false);
    expect(await verifyWatermarkSignature(signed, ed25519Signer('k1'), tenantId, 'full')).toBe(false);
    expect(await verifyWatermarkSignature({ ...signed, keyId: 'k2' }, signer, tenantId, 'full')).toBe(false);
  });

  it('do not verify once any signed field is edited (a database writer moving the watermark)', async () => {
    const signer = ed25519Signer('k1');
    const signed = await signWatermark(watermark, signer);
    const edits: Partial<VerificationWatermark>[] = [
      { jobId: 'vjob_2' }, { checkpointSequence: 4 }, { complete: true }, { startedAtMs: 1_001 }, { updatedAtMs: 2_001 },
      { stripeHeads: [{ stripe: 0, entryCount: 8, headHash: 'a'.repeat(64) }, { stripe: 2, entryCount: 5, headHash: 'b'.repeat(64) }] },
      { stripeHeads: [{ stripe: 0, entryCount: 7, headHash: 'c'.repeat(64) }, { stripe: 2, entryCount: 5, headHash: 'b'.repeat(64) }] },
      { stripeHeads: [{ stripe: 0, entryCount: 7, headHash: 'a'.repeat(64) }] },
    ];
    for (const edit of edits) {
      expect(await verifyWatermarkSignature({ ...signed, watermark: { ...signed.watermark, ...edit } }, signer, tenantId, 'full')).toBe(false);
    }
  });

  it('refuse malformed stored watermarks as unverified, never with a throw', async () => {
    const signer = ed25519Signer('k1');
    const signed = await signWatermark(watermark, signer);
    const malformed = [
      { ...signed, watermark: { ...signed.watermark, stripeHeads: [{ stripe: 0, entryCount: 1.5, headHash: 'a'.repeat(64) }] } },
      { ...signed, watermark: { ...signed.watermark, checkpointSequence: undefined } },
      { ...signed, signatureBase64: undefined },
    ] as unknown as SignedWatermark[];
    for (const m of malformed) expect(await verifyWatermarkSignature(m, signer, tenantId, 'full')).toBe(false);
  });

  it('start at genesis and report their verified prefix per stripe', () => {
    const start = genesisWatermark(tenantId, 'incremental', '', 5);
    expect(watermarkHeadFor(start, 3)).toEqual(emptyStripeHead(tenantId, 3));
    expect(watermarkEntryCount(start)).toBe(0);
    expect(watermarkEntryCount(watermark)).toBe(12);
    expect(watermark.stripeHeads.map((h) => h.stripe)).toEqual([0, 2]);
  });
});

function entry(i: number): EntryRecord {
  return {
    kind: 'entry', id: `je_${i}`, tenantId, traceId: 't', spanId: 's', createdAtMs: 1_700_000_000_000 + i,
    postings: [
      { accountId: 'acc_a', direction: 'debit', amountMinor: BigInt(i + 1), currency: 'USD' },
      { accountId: 'acc_b', direction: 'credit', amountMinor: BigInt(i + 1), currency: 'USD' },
    ],
    description: `entry ${i}`, metadata: {}, reversesEntryId: null, pending: null,
  };
}

describe('createChainVerifier from a verified prefix', () => {
  it('resuming at any record gives the verdict of verifying from genesis, including a tampered record after it', () => {
    const chain: ChainedRecord[] = [];
    const prefixes: StripeHead[] = [emptyStripeHead(tenantId, 0)];
    let head = emptyStripeHead(tenantId, 0);
    for (let i = 0; i < 12; i++) {
      const linked = linkRecord(entry(i), head);
      chain.push(linked.record);
      head = linked.head;
      prefixes.push(head);
    }
    fc.assert(fc.property(fc.integer({ min: 0, max: 12 }), fc.option(fc.integer({ min: 0, max: 11 })), fc.integer({ min: 0, max: 12 }), (split, bad, signedAt) => {
      const records = chain.map((r, i) => (i === bad ? { ...r, description: 'edited' } : r));
      const signed = prefixes[signedAt]!;
      const whole = createChainVerifier(genesisHash(tenantId, 0), signed);
      records.forEach((r) => whole.push(r));
      const resumed = createChainVerifier(genesisHash(tenantId, 0), signed, prefixes[split]!);
      records.slice(split).forEach((r) => resumed.push(r));
      const expected = whole.finish();
      const got = resumed.finish();
      if (bad === null || bad >= split) {
        // Everything after the prefix is re-checked: same verdict, same first bad record.
        expect(got).toEqual(expected);
      } else {
        // A record inside the verified prefix is not re-read (that is the point, ADR 0026).
        expect(got.ok).toBe(true);
      }
    }), { numRuns: 200, seed: 26 });
  });
});
