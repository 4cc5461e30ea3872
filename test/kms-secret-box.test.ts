/**
 * The KMS secret box (webhook signing secrets, issue 16) against the fake KMS over real gRPC
 * through the official `KeyManagementServiceClient`: Encrypt/Decrypt with AAD and the CRC32C
 * integrity fields both ways.
 */
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { grpc } from 'google-gax';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKmsSecretBox } from '../functions/src/adapters/kms/kms-secret-box.js';
import { KmsIntegrityError } from '../functions/src/adapters/kms/kms-signer.js';
import { crc32c } from '../functions/src/adapters/kms/crc32c.js';
import { startFakeKms, type FakeKms } from '../emulators/fake-kms/server.js';

const KEY = 'projects/demo-tally/locations/global/keyRings/tally/cryptoKeys/webhook-secrets';
let kms: FakeKms;
let client: KeyManagementServiceClient;

beforeAll(async () => {
  kms = await startFakeKms({ port: 0 });
  client = new KeyManagementServiceClient({ apiEndpoint: '127.0.0.1', port: kms.port, sslCreds: grpc.credentials.createInsecure() });
});
afterAll(async () => {
  await client?.close();
  await kms?.stop();
});
afterEach(() => kms.setFaults({}));

describe('KMS secret box', () => {
  it('seals and opens with the same context; another context or a flipped bit does not open', async () => {
    const box = createKmsSecretBox({ client, cryptoKeyName: KEY });
    const secret = new TextEncoder().encode('twenty-four secret bytes');
    const sealed = await box.seal(secret, 'tenants/ten_a/webhookEndpoints/we_1');
    expect(Buffer.from(sealed).includes(Buffer.from(secret))).toBe(false);
    expect(Buffer.from(await box.open(sealed, 'tenants/ten_a/webhookEndpoints/we_1')).toString()).toBe('twenty-four secret bytes');
    await expect(box.open(sealed, 'tenants/ten_b/webhookEndpoints/we_1')).rejects.toThrow(/Decryption failed/);
    const flipped = new Uint8Array(sealed);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    await expect(box.open(flipped, 'tenants/ten_a/webhookEndpoints/we_1')).rejects.toThrow(/Decryption failed/);
  });

  it('the fake checks the request checksums as KMS does', async () => {
    await expect(client.encrypt({ name: KEY, plaintext: Buffer.from('x'), plaintextCrc32c: { value: crc32c(Buffer.from('y')) } }))
      .rejects.toThrow(/plaintext_crc32c did not match/);
    const [ok] = await client.encrypt({ name: KEY, plaintext: Buffer.from('x'), plaintextCrc32c: { value: crc32c(Buffer.from('x')) } });
    expect(ok.verifiedPlaintextCrc32c).toBe(true);
    expect(ok.verifiedAdditionalAuthenticatedDataCrc32c).toBe(false);
  });

  it('a response that fails its checksum is retried, then refused as KmsIntegrityError', async () => {
    const box = createKmsSecretBox({ client, cryptoKeyName: KEY, integrityAttemptsMax: 2 });
    const before = kms.callCounts.encrypt;
    kms.setFaults({ corruptCryptoCrc32c: true });
    await expect(box.seal(new Uint8Array([1, 2, 3]), 'c')).rejects.toThrow(KmsIntegrityError);
    expect(kms.callCounts.encrypt - before).toBe(2);
    kms.setFaults({ unverifiedPlaintextCrc32c: true });
    await expect(box.seal(new Uint8Array([1, 2, 3]), 'c')).rejects.toThrow(/did not verify the plaintext checksum/);
    kms.setFaults({});
    const sealed = await box.seal(new Uint8Array([1, 2, 3]), 'c');
    kms.setFaults({ corruptCryptoCrc32c: true });
    await expect(box.open(sealed, 'c')).rejects.toThrow(/plaintext does not match its checksum/);
    kms.setFaults({ wrongName: true });
    await expect(box.seal(new Uint8Array([1]), 'c')).rejects.toThrow(/name check failed/);
  });

  it('a restarted fake with the same seed still opens what it sealed', async () => {
    const seed = new Uint8Array(32).fill(7);
    const first = await startFakeKms({ symmetricKeySeed: seed });
    const c1 = new KeyManagementServiceClient({ apiEndpoint: '127.0.0.1', port: first.port, sslCreds: grpc.credentials.createInsecure() });
    const sealed = await createKmsSecretBox({ client: c1, cryptoKeyName: KEY }).seal(new Uint8Array([9]), 'c');
    await c1.close();
    await first.stop();
    const second = await startFakeKms({ symmetricKeySeed: seed });
    const c2 = new KeyManagementServiceClient({ apiEndpoint: '127.0.0.1', port: second.port, sslCreds: grpc.credentials.createInsecure() });
    expect([...await createKmsSecretBox({ client: c2, cryptoKeyName: KEY }).open(sealed, 'c')]).toEqual([9]);
    await c2.close();
    await second.stop();
  });
});
