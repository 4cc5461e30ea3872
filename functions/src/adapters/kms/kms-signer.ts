/**
 * The production `Signer`: Cloud KMS `AsymmetricSign` with an EC_SIGN_P256_SHA256 key version, so
 * the private key never leaves KMS and the service that writes the ledger cannot forge checkpoints.
 * Every call carries and checks the CRC32C integrity fields as Google asks
 * (https://cloud.google.com/kms/docs/data-integrity-guidelines); verification is local, against the
 * public key fetched once with `GetPublicKey`.
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import type { Signer } from '../../ports/signer.js';
import { crc32c } from './crc32c.js';

/** The two KMS methods the signer calls; the real `KeyManagementServiceClient` satisfies it. */
export type KmsSignerClient = Pick<KeyManagementServiceClient, 'asymmetricSign' | 'getPublicKey'>;

/** Options of {@link createKmsSigner}. */
export interface KmsSignerOptions {
  /** A `KeyManagementServiceClient` (production: default credentials; tests: the fake KMS). */
  client: KmsSignerClient;
  /** The CryptoKeyVersion resource name (`projects/…/cryptoKeyVersions/…`) of an EC_SIGN_P256_SHA256 key. */
  keyVersionName: string;
  /** Calls per operation when a response fails a checksum (Google: "a limited number of retries"). Default 3. */
  integrityAttemptsMax?: number;
  /** Deadline of each KMS call, retries inside the client included. Default 10000 ms. */
  callTimeoutMs?: number;
}

/** Which integrity check a KMS response failed. */
export type KmsIntegrityCheck = 'name' | 'verifiedDigestCrc32c' | 'signatureCrc32c' | 'pemCrc32c' | 'algorithm';

/**
 * A KMS response failed an integrity check and was discarded. Checksum failures were retried
 * `integrityAttemptsMax` times first: a persistent one means corruption on the path to KMS or a bug
 * in our CRC32C. `name` and `algorithm` failures mean the configuration points at the wrong key.
 */
export class KmsIntegrityError extends Error {
  override readonly name = 'KmsIntegrityError';
  constructor(
    readonly check: KmsIntegrityCheck,
    readonly detail: string,
  ) {
    super(`KMS ${check} check failed: ${detail}`);
  }
}

export const KMS_INTEGRITY_ATTEMPTS_MAX_DEFAULT = 3;
export const KMS_CALL_TIMEOUT_MS_DEFAULT = 10_000;
/** Most key versions whose public keys one signer keeps. */
const PUBLIC_KEYS_CACHED_MAX = 64;

const KEY_VERSION_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/;
// gax decodes enums as names; a client configured for numbers would give 12 (resources.proto).
const EC_SIGN_P256_SHA256 = new Set<unknown>(['EC_SIGN_P256_SHA256', 12]);

/** A `Signer` backed by one Cloud KMS key version. `keyId` is `kms:<keyVersionName>`. */
export function createKmsSigner(options: KmsSignerOptions): Signer {
  const { client, keyVersionName } = options;
  if (!KEY_VERSION_NAME.test(keyVersionName)) {
    throw new Error(`KMS signer: keyVersionName must be a CryptoKeyVersion resource name, got "${keyVersionName}"`);
  }
  const attemptsMax = options.integrityAttemptsMax ?? KMS_INTEGRITY_ATTEMPTS_MAX_DEFAULT;
  if (!Number.isInteger(attemptsMax) || attemptsMax < 1) throw new Error('KMS signer: integrityAttemptsMax must be an integer >= 1');
  const callOptions = { timeout: options.callTimeoutMs ?? KMS_CALL_TIMEOUT_MS_DEFAULT };

  const signOnce = async (digest: Buffer): Promise<Uint8Array> => {
    const [response] = await client.asymmetricSign(
      { name: keyVersionName, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) } },
      callOptions,
    );
    // The name check is not retried: another key answering is a configuration error.
    if (response.name !== keyVersionName) throw new KmsIntegrityError('name', `signed by "${response.name ?? ''}", expected "${keyVersionName}"`);
    if (response.verifiedDigestCrc32c !== true) throw new RetryableIntegrityError('verifiedDigestCrc32c', 'KMS did not verify the digest checksum');
    const signature = toBytes(response.signature);
    if (!checksumMatches(signature, response.signatureCrc32c?.value)) {
      throw new RetryableIntegrityError('signatureCrc32c', 'the signature does not match its checksum');
    }
    return signature;
  };

  const fetchPublicKey = async (versionName: string): Promise<KeyObject> => {
    const [response] = await client.getPublicKey({ name: versionName }, callOptions);
    if (response.name !== versionName) throw new KmsIntegrityError('name', `public key of "${response.name ?? ''}", expected "${versionName}"`);
    if (!EC_SIGN_P256_SHA256.has(response.algorithm)) {
      throw new KmsIntegrityError('algorithm', `key algorithm is ${String(response.algorithm)}, this signer needs EC_SIGN_P256_SHA256`);
    }
    const pem = response.pem ?? '';
    if (!checksumMatches(Buffer.from(pem, 'utf8'), response.pemCrc32c?.value)) {
      throw new RetryableIntegrityError('pemCrc32c', 'the public key PEM does not match its checksum');
    }
    return createPublicKey(pem);
  };

  // Fetched on first verify and kept: a key version's public key never changes. A failed fetch is
  // forgotten so the next verify tries again. Bounded: a tenant's checkpoints name few versions.
  const publicKeys = new Map<string, Promise<KeyObject>>();
  const cachedPublicKey = (versionName: string): Promise<KeyObject> => {
    let key = publicKeys.get(versionName);
    if (!key) {
      if (publicKeys.size >= PUBLIC_KEYS_CACHED_MAX) publicKeys.delete(publicKeys.keys().next().value as string);
      key = withIntegrityRetries(attemptsMax, () => fetchPublicKey(versionName)).catch((error: unknown) => {
        publicKeys.delete(versionName);
        throw error;
      });
      publicKeys.set(versionName, key);
    }
    return key;
  };
  const verifierOf = (versionName: string) => async (bytes: Uint8Array, signature: Uint8Array) =>
    // KMS returns DER-encoded ECDSA signatures; node returns false for malformed ones.
    verifySignature('sha256', bytes, { key: await cachedPublicKey(versionName), dsaEncoding: 'der' }, signature);
  // Rotation: every version of this CryptoKey (KMS rotates by adding versions) verifies.
  const cryptoKeyName = keyVersionName.slice(0, keyVersionName.lastIndexOf('/cryptoKeyVersions/'));

  return {
    keyId: `kms:${keyVersionName}`,
    // The digest is computed here so the data never leaves this process; KMS signs the digest.
    sign: (bytes) => withIntegrityRetries(attemptsMax, () => signOnce(sha256(bytes))),
    verify: verifierOf(keyVersionName),
    verifierFor(keyId) {
      const versionName = keyId.startsWith('kms:') ? keyId.slice('kms:'.length) : '';
      const sameKey = KEY_VERSION_NAME.test(versionName) && versionName.slice(0, versionName.lastIndexOf('/cryptoKeyVersions/')) === cryptoKeyName;
      return sameKey ? verifierOf(versionName) : undefined;
    },
  };
}

/** A checksum failure worth another call; surfaces as a plain `KmsIntegrityError` once attempts run out. */
class RetryableIntegrityError extends KmsIntegrityError {}

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

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

// gax over gRPC gives Buffers; its REST fallback would give base64 strings.
function toBytes(value: Uint8Array | string | null | undefined): Uint8Array {
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'base64'));
  return new Uint8Array(value ?? new Uint8Array(0));
}

// Int64Value.value arrives as a decimal string (gax decodes int64 as String), a number or a Long.
function checksumMatches(bytes: Uint8Array, expected: { toString(): string } | null | undefined): boolean {
  if (expected === null || expected === undefined) return false;
  const text = expected.toString();
  return /^\d+$/.test(text) && BigInt(text) === BigInt(crc32c(bytes));
}
