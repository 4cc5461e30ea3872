/**
 * The KMS signer against the fake KMS over real gRPC, through the official
 * `KeyManagementServiceClient`: proves the request and response shapes, the integrity checks, and
 * that signatures made by "KMS" verify locally with node:crypto.
 */
import { createHash, verify } from 'node:crypto';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { grpc } from 'google-gax';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKmsSigner, KmsIntegrityError } from '../functions/src/adapters/kms/kms-signer.js';
import { crc32c } from '../functions/src/adapters/kms/crc32c.js';
import { startFakeKms, type FakeKms } from '../emulators/fake-kms/server.js';
import { createCheckpoint, signCheckpoint, verifyCheckpointSignature } from '../functions/src/domain/ledger/checkpoint.js';

const KEY_VERSION = 'projects/demo-tally/locations/global/keyRings/tally/cryptoKeys/checkpoints/cryptoKeyVersions/1';
const bytes = new TextEncoder().encode('checkpoint:tenant-a:seq=42:root=abc');

let kms: FakeKms;
let client: KeyManagementServiceClient;

beforeAll(async () => {
  kms = await startFakeKms({ port: 0, protectionLevel: 'HSM' });
  client = new KeyManagementServiceClient({
    apiEndpoint: '127.0.0.1',
    port: kms.port,
    // gax takes sslCreds as the whole channel credentials: plaintext, no OAuth token attached.
    sslCreds: grpc.credentials.createInsecure(),
  });
});

afterAll(async () => {
  await client?.close();
  await kms?.stop();
});

afterEach(() => kms.setFaults({}));

function flipBit(input: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(input);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

describe('createKmsSigner against the fake KMS', () => {
  it('signs through the real client and verifies with the fetched public key', async () => {
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const signature = await signer.sign(bytes);
    expect(signature[0]).toBe(0x30); // DER SEQUENCE
    expect(await signer.verify(bytes, signature)).toBe(true);
    // Independent check: node:crypto accepts it against the fake's key, over the original bytes.
    expect(verify('sha256', bytes, { key: kms.publicKeyPem(KEY_VERSION), dsaEncoding: 'der' }, signature)).toBe(true);
  });

  it('fetches the public key once', async () => {
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const signature = await signer.sign(bytes);
    const before = kms.callCounts.getPublicKey;
    await Promise.all([signer.verify(bytes, signature), signer.verify(bytes, signature)]);
    await signer.verify(bytes, signature);
    expect(kms.callCounts.getPublicKey - before).toBe(1);
  });

  it('rejects tampered bytes, a tampered signature and another key version', async () => {
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const signature = await signer.sign(bytes);
    expect(await signer.verify(flipBit(bytes, 0), signature)).toBe(false);
    expect(await signer.verify(bytes, flipBit(signature, signature.length - 1))).toBe(false);
    expect(await signer.verify(bytes, new Uint8Array([1, 2, 3]))).toBe(false);
    const other = createKmsSigner({ client, keyVersionName: KEY_VERSION.replace(/\/1$/, '/2') });
    expect(await other.verify(bytes, signature)).toBe(false);
  });

  it('uses kms:<keyVersionName> as the key id', () => {
    expect(createKmsSigner({ client, keyVersionName: KEY_VERSION }).keyId).toBe(`kms:${KEY_VERSION}`);
  });

  it('refuses a key name that is not a CryptoKeyVersion', () => {
    expect(() => createKmsSigner({ client, keyVersionName: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' })).toThrow(/CryptoKeyVersion/);
  });

  it('throws an integrity error after bounded retries when signatureCrc32c is corrupted', async () => {
    kms.setFaults({ corruptSignatureCrc32c: true });
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION, integrityAttemptsMax: 3 });
    const before = kms.callCounts.asymmetricSign;
    const error = await signer.sign(bytes).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KmsIntegrityError);
    expect(error).toMatchObject({ check: 'signatureCrc32c' });
    expect(kms.callCounts.asymmetricSign - before).toBe(3);
  });

  it('throws an integrity error when KMS did not verify the digest checksum', async () => {
    kms.setFaults({ unverifiedDigestCrc32c: true });
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION, integrityAttemptsMax: 2 });
    await expect(signer.sign(bytes)).rejects.toMatchObject({ check: 'verifiedDigestCrc32c' });
  });

  it('throws at once when another key version answers', async () => {
    kms.setFaults({ wrongName: true });
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const before = kms.callCounts.asymmetricSign;
    await expect(signer.sign(bytes)).rejects.toMatchObject({ name: 'KmsIntegrityError', check: 'name' });
    expect(kms.callCounts.asymmetricSign - before).toBe(1);
    await expect(signer.verify(bytes, new Uint8Array(70))).rejects.toMatchObject({ check: 'name' });
  });

  it('refuses a public key whose pemCrc32c is corrupted, then recovers once it is not', async () => {
    const signer = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const signature = await signer.sign(bytes);
    kms.setFaults({ corruptPemCrc32c: true });
    await expect(signer.verify(bytes, signature)).rejects.toMatchObject({ check: 'pemCrc32c' });
    kms.setFaults({});
    expect(await signer.verify(bytes, signature)).toBe(true);
  });
});

describe('key rotation: checkpoints signed by an earlier version still verify', () => {
  const checkpoint = createCheckpoint({ tenantId: 'ten_rotation', sequence: 3, stripeHeads: [{ stripe: 0, entryCount: 7, headHash: 'a'.repeat(64) }], createdAtMs: 1_700_000_000_000 });

  it('a signer on version 2 verifies what version 1 signed, and refuses tampering, other keys and forged ids', async () => {
    const v1 = createKmsSigner({ client, keyVersionName: KEY_VERSION });
    const v2 = createKmsSigner({ client, keyVersionName: KEY_VERSION.replace(/\/1$/, '/2') });
    const signed = await signCheckpoint(checkpoint, v1);
    expect(signed.keyId).toBe(`kms:${KEY_VERSION}`);
    expect(await verifyCheckpointSignature(signed, v2)).toBe(true);
    expect(await verifyCheckpointSignature({ ...signed, checkpoint: { ...checkpoint, sequence: 4 } }, v2)).toBe(false);
    // The key id must name the version that signed: the same signature under version 2's id fails.
    expect(await verifyCheckpointSignature({ ...signed, keyId: v2.keyId }, v2)).toBe(false);
    // Another CryptoKey is not a rotation of this one, even with a valid signature of its own.
    const otherKey = createKmsSigner({ client, keyVersionName: KEY_VERSION.replace('/cryptoKeys/checkpoints/', '/cryptoKeys/other/') });
    expect(await verifyCheckpointSignature(await signCheckpoint(checkpoint, otherKey), v2)).toBe(false);
    for (const keyId of ['local:ed25519:abc', 'kms:not-a-resource', `kms:${KEY_VERSION}/extra`]) {
      expect(await verifyCheckpointSignature({ ...signed, keyId }, v2)).toBe(false);
    }
  });
});

describe('fake KMS wire behaviour (through the real client)', () => {
  const digest = createHash('sha256').update(bytes).digest();

  it('answers INVALID_ARGUMENT when digestCrc32c does not match the digest', async () => {
    const call = client.asymmetricSign({ name: KEY_VERSION, digest: { sha256: digest }, digestCrc32c: { value: (crc32c(digest) ^ 1) >>> 0 } });
    await expect(call).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('digest_crc32c') });
  });

  it('returns the integrity fields and the protection level', async () => {
    const [response] = await client.asymmetricSign({ name: KEY_VERSION, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) } });
    expect(response.name).toBe(KEY_VERSION);
    expect(response.verifiedDigestCrc32c).toBe(true);
    expect(Number(response.signatureCrc32c?.value)).toBe(crc32c(response.signature as Uint8Array));
    expect(response.protectionLevel).toBe('HSM');
    const [unchecked] = await client.asymmetricSign({ name: KEY_VERSION, digest: { sha256: digest } });
    expect(unchecked.verifiedDigestCrc32c).toBe(false);
  });

  it('serves the public key as PEM with its checksum', async () => {
    const [publicKey] = await client.getPublicKey({ name: KEY_VERSION });
    expect(publicKey).toMatchObject({ name: KEY_VERSION, algorithm: 'EC_SIGN_P256_SHA256', protectionLevel: 'HSM' });
    expect(publicKey.pem).toContain('BEGIN PUBLIC KEY');
    expect(Number(publicKey.pemCrc32c?.value)).toBe(crc32c(Buffer.from(publicKey.pem ?? '', 'utf8')));
  });

  it('answers INVALID_ARGUMENT for a malformed name and UNIMPLEMENTED for other methods', async () => {
    await expect(client.getPublicKey({ name: 'not-a-key' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(client.getCryptoKey({ name: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' })).rejects.toMatchObject({
      code: grpc.status.UNIMPLEMENTED,
    });
  });
});
