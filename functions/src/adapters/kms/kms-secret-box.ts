/**
 * The production `SecretBox`: Cloud KMS `Encrypt` / `Decrypt` with a symmetric CryptoKey
 * (GOOGLE_SYMMETRIC_ENCRYPTION), the context as additional authenticated data. Every call sends
 * the CRC32C integrity fields and checks the ones KMS returns, as Google asks
 * (https://cloud.google.com/kms/docs/data-integrity-guidelines); a failed check is retried a few
 * times, then surfaces as `KmsIntegrityError`. Plaintext never leaves this function's callers in
 * a log: errors name the check, never the data.
 */
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import type { SecretBox } from '../../ports/secret-box.js';
import { crc32c } from './crc32c.js';
import { KMS_CALL_TIMEOUT_MS_DEFAULT, KMS_INTEGRITY_ATTEMPTS_MAX_DEFAULT, KmsIntegrityError } from './kms-signer.js';

export type KmsSecretBoxClient = Pick<KeyManagementServiceClient, 'encrypt' | 'decrypt'>;

export interface KmsSecretBoxOptions {
  client: KmsSecretBoxClient;
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K` (KMS encrypts with its primary version). */
  cryptoKeyName: string;
  /** Calls per operation when a response fails a checksum. Default 3. */
  integrityAttemptsMax?: number;
  /** Deadline of each KMS call. Default 10000 ms. */
  callTimeoutMs?: number;
}

const CRYPTO_KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

class RetryableIntegrityError extends KmsIntegrityError {}

export function createKmsSecretBox(options: KmsSecretBoxOptions): SecretBox {
  const { client, cryptoKeyName } = options;
  if (!CRYPTO_KEY_NAME.test(cryptoKeyName)) throw new Error(`KMS secret box: cryptoKeyName must be a CryptoKey resource name, got "${cryptoKeyName}"`);
  const attemptsMax = options.integrityAttemptsMax ?? KMS_INTEGRITY_ATTEMPTS_MAX_DEFAULT;
  const callOptions = { timeout: options.callTimeoutMs ?? KMS_CALL_TIMEOUT_MS_DEFAULT };

  const sealOnce = async (plaintext: Buffer, aad: Buffer): Promise<Uint8Array> => {
    const [response] = await client.encrypt({
      name: cryptoKeyName, plaintext, additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crc32c(plaintext) }, additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    }, callOptions);
    const versionName = response.name ?? '';
    if (!versionName.startsWith(`${cryptoKeyName}/cryptoKeyVersions/`) || !/^\d+$/.test(versionName.slice(cryptoKeyName.length + '/cryptoKeyVersions/'.length))) {
      throw new KmsIntegrityError('name', `encrypted by "${response.name ?? ''}", expected a version of "${cryptoKeyName}"`);
    }
    if (response.verifiedPlaintextCrc32c !== true) throw new RetryableIntegrityError('verifiedDigestCrc32c', 'KMS did not verify the plaintext checksum');
    if (response.verifiedAdditionalAuthenticatedDataCrc32c !== true) throw new RetryableIntegrityError('verifiedDigestCrc32c', 'KMS did not verify the AAD checksum');
    const ciphertext = toBytes(response.ciphertext);
    if (!checksumMatches(ciphertext, response.ciphertextCrc32c?.value)) throw new RetryableIntegrityError('signatureCrc32c', 'the ciphertext does not match its checksum');
    return ciphertext;
  };

  const openOnce = async (ciphertext: Buffer, aad: Buffer): Promise<Uint8Array> => {
    const [response] = await client.decrypt({
      name: cryptoKeyName, ciphertext, additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: crc32c(ciphertext) }, additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    }, callOptions);
    const plaintext = toBytes(response.plaintext);
    if (!checksumMatches(plaintext, response.plaintextCrc32c?.value)) throw new RetryableIntegrityError('signatureCrc32c', 'the plaintext does not match its checksum');
    return plaintext;
  };

  return {
    seal: (plaintext, context) => withIntegrityRetries(attemptsMax, () => sealOnce(Buffer.from(plaintext), Buffer.from(context, 'utf8'))),
    open: (ciphertext, context) => withIntegrityRetries(attemptsMax, () => openOnce(Buffer.from(ciphertext), Buffer.from(context, 'utf8'))),
  };
}

async function withIntegrityRetries<T>(attemptsMax: number, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof RetryableIntegrityError)) throw error;
      if (attempt >= attemptsMax) throw new KmsIntegrityError(error.check, `${error.detail} (after ${attempt} attempts)`);
    }
  }
}

function toBytes(value: Uint8Array | string | null | undefined): Uint8Array {
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'base64'));
  return new Uint8Array(value ?? new Uint8Array(0));
}

function checksumMatches(bytes: Uint8Array, expected: { toString(): string } | null | undefined): boolean {
  if (expected === null || expected === undefined) return false;
  const text = expected.toString();
  return /^\d+$/.test(text) && BigInt(text) === BigInt(crc32c(bytes));
}
