/**
 * A fake Cloud KMS for tests and local runs (KMS itself cannot run here). It serves the real gRPC
 * service `google.cloud.kms.v1.KeyManagementService`, loaded from the .proto files that ship inside
 * `@google-cloud/kms`, so the official `KeyManagementServiceClient` talks to it unchanged.
 *
 * Implemented: `AsymmetricSign` (digest form), `GetPublicKey` (PEM), and the symmetric `Encrypt` /
 * `Decrypt` (GOOGLE_SYMMETRIC_ENCRYPTION, AES-256-GCM here, with additional authenticated data);
 * every other method answers UNIMPLEMENTED. Each well-formed CryptoKeyVersion name gets an
 * in-memory EC_SIGN_P256_SHA256 key on first use, and each CryptoKey name a symmetric key derived
 * from `symmetricKeySeed` (so a restarted fake with the same seed still decrypts), so tests need no
 * key-creation step. The integrity fields
 * behave as Cloud KMS documents them (https://cloud.google.com/kms/docs/data-integrity-guidelines),
 * and `setFaults` breaks them on purpose so clients can prove they check them.
 */
import { createRequire } from 'node:module';
import { createCipheriv, createDecipheriv, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { crc32c } from '../../functions/src/adapters/kms/crc32c.js';
import { encodeDerSignature, signDigestP256 } from './ecdsa-p256.js';

/** Protection levels the fake reports (it holds every key in memory whatever it says). */
export type FakeKmsProtectionLevel = 'SOFTWARE' | 'HSM';

/** Options of {@link startFakeKms}. */
export interface FakeKmsOptions {
  /** TCP port on 127.0.0.1; 0 (the default) lets the OS choose one. */
  port?: number;
  /** Reported in `AsymmetricSignResponse.protectionLevel` and `PublicKey.protectionLevel`. Default SOFTWARE. */
  protectionLevel?: FakeKmsProtectionLevel;
  /** Key versions the fake will create before answering RESOURCE_EXHAUSTED. Default 1000. */
  keyVersionsMax?: number;
  /** How long `stop()` waits for in-flight calls before cutting them. Default 5000 ms. */
  stopTimeoutMs?: number;
  /** Seed of the symmetric keys (key = HMAC-SHA256(seed, CryptoKey name)). Default: random per start. */
  symmetricKeySeed?: Uint8Array;
}

/** Test-only switches that make responses fail the client's integrity checks. All default false. */
export interface FakeKmsFaults {
  /** `AsymmetricSignResponse.signatureCrc32c` no longer matches the signature. */
  corruptSignatureCrc32c?: boolean;
  /** `AsymmetricSignResponse.verifiedDigestCrc32c` is false, as when the checksum was lost in transit. */
  unverifiedDigestCrc32c?: boolean;
  /** `AsymmetricSignResponse.name` and `PublicKey.name` name another key version. */
  wrongName?: boolean;
  /** `PublicKey.pemCrc32c` no longer matches the PEM. */
  corruptPemCrc32c?: boolean;
  /** `EncryptResponse.ciphertextCrc32c` / `DecryptResponse.plaintextCrc32c` no longer match. */
  corruptCryptoCrc32c?: boolean;
  /** `EncryptResponse.verifiedPlaintextCrc32c` is false, as when the checksum was lost in transit. */
  unverifiedPlaintextCrc32c?: boolean;
}

/** Calls served per method since start, for tests that count retries. */
export interface FakeKmsCallCounts {
  asymmetricSign: number;
  getPublicKey: number;
  encrypt: number;
  decrypt: number;
}

/** A running fake KMS. */
export interface FakeKms {
  /** The port it listens on. */
  readonly port: number;
  /** `127.0.0.1:<port>`, the form gRPC clients take. */
  readonly address: string;
  /** Replaces the active faults (pass `{}` to clear them). */
  setFaults(faults: FakeKmsFaults): void;
  /** Calls served per method since start. */
  readonly callCounts: Readonly<FakeKmsCallCounts>;
  /** The PEM public key of a key version, creating the key when new (for out-of-band checks). */
  publicKeyPem(keyVersionName: string): string;
  /** Stops the server, waiting up to `stopTimeoutMs` for in-flight calls. */
  stop(): Promise<void>;
}

const KEY_VERSIONS_MAX_DEFAULT = 1000;
const STOP_TIMEOUT_MS_DEFAULT = 5000;
// Requests are a digest, a name, or up to 64 KiB of plaintext and 64 KiB of AAD (Encrypt).
const MESSAGE_BYTES_MAX = 160 * 1024;
const SHA256_DIGEST_BYTES = 32;
const KEY_VERSION_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/;
const ALGORITHM = 'EC_SIGN_P256_SHA256';
const CRYPTO_KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;
// Cloud KMS limits of Encrypt: plaintext and additional authenticated data at most 64 KiB each.
const PLAINTEXT_BYTES_MAX = 64 * 1024;
// The fake's ciphertext: format byte, 12-byte IV, 16-byte GCM tag, then the encrypted bytes.
const CIPHERTEXT_FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

// The shapes @grpc/proto-loader produces with the options in `loadService` (camelCase fields,
// int64 as decimal strings, enums as names, absent fields left out).
interface Int64Value {
  value?: string;
}
interface AsymmetricSignRequest {
  name?: string;
  digest?: { sha256?: Buffer; sha384?: Buffer; sha512?: Buffer; externalMu?: Buffer; digest?: string };
  digestCrc32c?: Int64Value;
  data?: Buffer;
  dataCrc32c?: Int64Value;
}
interface AsymmetricSignResponse {
  signature: Buffer;
  signatureCrc32c: Int64Value;
  verifiedDigestCrc32c: boolean;
  name: string;
  verifiedDataCrc32c: boolean;
  protectionLevel: FakeKmsProtectionLevel;
}
interface GetPublicKeyRequest {
  name?: string;
  publicKeyFormat?: string;
}
interface PublicKeyResponse {
  pem: string;
  algorithm: string;
  pemCrc32c: Int64Value;
  name: string;
  protectionLevel: FakeKmsProtectionLevel;
  publicKeyFormat: string;
}

interface EncryptRequest {
  name?: string;
  plaintext?: Buffer;
  additionalAuthenticatedData?: Buffer;
  plaintextCrc32c?: Int64Value;
  additionalAuthenticatedDataCrc32c?: Int64Value;
}
interface EncryptResponse {
  name: string;
  ciphertext: Buffer;
  ciphertextCrc32c: Int64Value;
  verifiedPlaintextCrc32c: boolean;
  verifiedAdditionalAuthenticatedDataCrc32c: boolean;
  protectionLevel: FakeKmsProtectionLevel;
}
interface DecryptRequest {
  name?: string;
  ciphertext?: Buffer;
  additionalAuthenticatedData?: Buffer;
  ciphertextCrc32c?: Int64Value;
  additionalAuthenticatedDataCrc32c?: Int64Value;
}
interface DecryptResponse {
  plaintext: Buffer;
  plaintextCrc32c: Int64Value;
  usedPrimary: boolean;
  protectionLevel: FakeKmsProtectionLevel;
}

interface KeyVersion {
  readonly privateScalar: Uint8Array;
  readonly publicKeyPem: string;
}

/** A gRPC error with a status code, as `sendUnaryData` callbacks take it. */
class KmsStatusError extends Error implements Partial<grpc.StatusObject> {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

/** Starts a fake KMS on 127.0.0.1. */
export async function startFakeKms(options: FakeKmsOptions = {}): Promise<FakeKms> {
  const protectionLevel = options.protectionLevel ?? 'SOFTWARE';
  const keyVersionsMax = options.keyVersionsMax ?? KEY_VERSIONS_MAX_DEFAULT;
  const stopTimeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS_DEFAULT;
  const keys = new Map<string, KeyVersion>();
  const callCounts: FakeKmsCallCounts = { asymmetricSign: 0, getPublicKey: 0, encrypt: 0, decrypt: 0 };
  const symmetricKeySeed = Buffer.from(options.symmetricKeySeed ?? randomBytes(32));
  let faults: FakeKmsFaults = {};

  const keyVersion = (name: string | undefined): KeyVersion => {
    if (name === undefined || !KEY_VERSION_NAME.test(name)) {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `Resource name [${name ?? ''}] does not match any known pattern.`);
    }
    const existing = keys.get(name);
    if (existing !== undefined) return existing;
    if (keys.size >= keyVersionsMax) {
      throw new KmsStatusError(grpc.status.RESOURCE_EXHAUSTED, `fake KMS holds ${keyVersionsMax} key versions already`);
    }
    const created = createKeyVersion();
    keys.set(name, created);
    return created;
  };
  const reportedName = (name: string): string => (faults.wrongName === true ? `${name}-other` : name);

  const asymmetricSign = (request: AsymmetricSignRequest): AsymmetricSignResponse => {
    callCounts.asymmetricSign += 1;
    const key = keyVersion(request.name);
    const digest = checkedSha256Digest(request);
    const checksum = crc32c(digest);
    if (request.digestCrc32c !== undefined && BigInt(request.digestCrc32c.value ?? '0') !== BigInt(checksum)) {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, 'The checksum in field digest_crc32c did not match the data in field digest.');
    }
    const signature = Buffer.from(encodeDerSignature(signDigestP256(key.privateScalar, digest)));
    const signatureChecksum = crc32c(signature);
    return {
      signature,
      signatureCrc32c: { value: String(faults.corruptSignatureCrc32c === true ? (signatureChecksum ^ 1) >>> 0 : signatureChecksum) },
      verifiedDigestCrc32c: request.digestCrc32c !== undefined && faults.unverifiedDigestCrc32c !== true,
      name: reportedName(request.name ?? ''),
      verifiedDataCrc32c: false,
      protectionLevel,
    };
  };

  const getPublicKey = (request: GetPublicKeyRequest): PublicKeyResponse => {
    callCounts.getPublicKey += 1;
    const key = keyVersion(request.name);
    const format = request.publicKeyFormat ?? 'PUBLIC_KEY_FORMAT_UNSPECIFIED';
    if (format !== 'PUBLIC_KEY_FORMAT_UNSPECIFIED' && format !== 'PEM') {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `fake KMS serves PEM public keys only, not ${format}`);
    }
    const pemChecksum = crc32c(Buffer.from(key.publicKeyPem, 'utf8'));
    return {
      pem: key.publicKeyPem,
      algorithm: ALGORITHM,
      pemCrc32c: { value: String(faults.corruptPemCrc32c === true ? (pemChecksum ^ 1) >>> 0 : pemChecksum) },
      name: reportedName(request.name ?? ''),
      protectionLevel,
      publicKeyFormat: 'PEM',
    };
  };

  // A CryptoKey name (Encrypt also takes a CryptoKeyVersion name: its key is the CryptoKey's).
  const symmetricKey = (name: string | undefined, allowVersion: boolean): { key: Buffer; cryptoKeyName: string } => {
    const cryptoKeyName = allowVersion && name !== undefined && KEY_VERSION_NAME.test(name) ? name.slice(0, name.lastIndexOf('/cryptoKeyVersions/')) : name;
    if (cryptoKeyName === undefined || !CRYPTO_KEY_NAME.test(cryptoKeyName)) {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `Resource name [${name ?? ''}] does not match any known pattern.`);
    }
    return { key: createHmac('sha256', symmetricKeySeed).update(cryptoKeyName).digest(), cryptoKeyName };
  };
  const checkCrc = (bytes: Buffer, claimed: Int64Value | undefined, field: string, dataField: string): boolean => {
    if (claimed === undefined) return false;
    if (BigInt(claimed.value ?? '0') !== BigInt(crc32c(bytes))) {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `The checksum in field ${field} did not match the data in field ${dataField}.`);
    }
    return true;
  };
  const checksumOut = (bytes: Buffer): Int64Value => {
    const value = crc32c(bytes);
    return { value: String(faults.corruptCryptoCrc32c === true ? (value ^ 1) >>> 0 : value) };
  };

  const encrypt = (request: EncryptRequest): EncryptResponse => {
    callCounts.encrypt += 1;
    const { key, cryptoKeyName } = symmetricKey(request.name, true);
    const plaintext = request.plaintext ?? Buffer.alloc(0);
    const aad = request.additionalAuthenticatedData ?? Buffer.alloc(0);
    if (plaintext.length === 0 || plaintext.length > PLAINTEXT_BYTES_MAX) {
      throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `The plaintext must be 1..${PLAINTEXT_BYTES_MAX} bytes.`);
    }
    if (aad.length > PLAINTEXT_BYTES_MAX) throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, `The additional authenticated data must be at most ${PLAINTEXT_BYTES_MAX} bytes.`);
    const verifiedPlaintext = checkCrc(plaintext, request.plaintextCrc32c, 'plaintext_crc32c', 'plaintext');
    const verifiedAad = checkCrc(aad, request.additionalAuthenticatedDataCrc32c, 'additional_authenticated_data_crc32c', 'additional_authenticated_data');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad);
    const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const ciphertext = Buffer.concat([Buffer.from([CIPHERTEXT_FORMAT]), iv, cipher.getAuthTag(), encrypted]);
    return {
      name: reportedName(`${cryptoKeyName}/cryptoKeyVersions/1`),
      ciphertext,
      ciphertextCrc32c: checksumOut(ciphertext),
      verifiedPlaintextCrc32c: verifiedPlaintext && faults.unverifiedPlaintextCrc32c !== true,
      verifiedAdditionalAuthenticatedDataCrc32c: verifiedAad,
      protectionLevel,
    };
  };

  const decrypt = (request: DecryptRequest): DecryptResponse => {
    callCounts.decrypt += 1;
    const { key } = symmetricKey(request.name, false);
    const ciphertext = request.ciphertext ?? Buffer.alloc(0);
    const aad = request.additionalAuthenticatedData ?? Buffer.alloc(0);
    checkCrc(ciphertext, request.ciphertextCrc32c, 'ciphertext_crc32c', 'ciphertext');
    checkCrc(aad, request.additionalAuthenticatedDataCrc32c, 'additional_authenticated_data_crc32c', 'additional_authenticated_data');
    const failed = () => new KmsStatusError(grpc.status.INVALID_ARGUMENT, 'Decryption failed: the ciphertext is invalid.');
    if (ciphertext.length < 1 + IV_BYTES + TAG_BYTES || ciphertext[0] !== CIPHERTEXT_FORMAT) throw failed();
    const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(1, 1 + IV_BYTES));
    decipher.setAuthTag(ciphertext.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
    decipher.setAAD(aad);
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(ciphertext.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw failed();
    }
    return { plaintext, plaintextCrc32c: checksumOut(plaintext), usedPrimary: true, protectionLevel };
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MESSAGE_BYTES_MAX,
    'grpc.max_send_message_length': MESSAGE_BYTES_MAX,
  });
  // Methods left out of the implementation answer UNIMPLEMENTED (grpc-js's default handler).
  server.addService(await loadService(), {
    AsymmetricSign: unary(asymmetricSign),
    GetPublicKey: unary(getPublicKey),
    Encrypt: unary(encrypt),
    Decrypt: unary(decrypt),
  });
  const port = await bind(server, options.port ?? 0);

  return {
    port,
    address: `127.0.0.1:${port}`,
    setFaults: (next) => {
      faults = { ...next };
    },
    callCounts,
    publicKeyPem: (name) => keyVersion(name).publicKeyPem,
    stop: () => shutdown(server, stopTimeoutMs),
  };
}

function createKeyVersion(): KeyVersion {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const d = privateKey.export({ format: 'jwk' }).d;
  if (d === undefined) throw new Error('fake KMS: node did not export the private scalar');
  return {
    privateScalar: new Uint8Array(Buffer.from(d, 'base64url')),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

// The fake's keys are all EC_SIGN_P256_SHA256, which takes a SHA-256 digest and nothing else.
function checkedSha256Digest(request: AsymmetricSignRequest): Buffer {
  if (request.data !== undefined && request.data.length > 0) {
    throw new KmsStatusError(grpc.status.INVALID_ARGUMENT, 'fake KMS: EC_SIGN_P256_SHA256 keys sign a digest; data is not supported');
  }
  const digest = request.digest?.sha256;
  if (digest === undefined || digest.length !== SHA256_DIGEST_BYTES) {
    throw new KmsStatusError(
      grpc.status.INVALID_ARGUMENT,
      `The digest of algorithm ${ALGORITHM} must be a ${SHA256_DIGEST_BYTES}-byte digest.sha256.`,
    );
  }
  return digest;
}

function unary<Request, Response>(handler: (request: Request) => Response): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    try {
      callback(null, handler(call.request));
    } catch (error) {
      // Status errors are answers; anything else is a bug in the fake, reported as INTERNAL.
      callback(error instanceof KmsStatusError ? error : new KmsStatusError(grpc.status.INTERNAL, String(error)));
    }
  };
}

async function loadService(): Promise<grpc.ServiceDefinition> {
  const definition = await protoLoader.load('google/cloud/kms/v1/service.proto', {
    // google/cloud/kms/... ships with @google-cloud/kms; its imports (google/api, google/protobuf,
    // google/longrunning) ship with google-gax.
    includeDirs: [protosDirOf('@google-cloud/kms'), protosDirOf('google-gax')],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const service = definition['google.cloud.kms.v1.KeyManagementService'];
  if (service === undefined || !('AsymmetricSign' in service)) {
    throw new Error('fake KMS: google.cloud.kms.v1.KeyManagementService not found in the @google-cloud/kms protos');
  }
  return service as grpc.ServiceDefinition;
}

// Both packages keep their entry point at build/src/index.js and their .proto files in
// build/protos, and neither exports package.json to resolve the root from.
function protosDirOf(packageName: string): string {
  const entry = createRequire(import.meta.url).resolve(packageName);
  const dir = path.join(path.dirname(entry), '..', 'protos');
  if (!existsSync(path.join(dir, 'google'))) throw new Error(`fake KMS: no protos at ${dir} (${packageName} layout changed?)`);
  return dir;
}

function bind(server: grpc.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error === null) resolve(boundPort);
      else reject(error);
    });
  });
}

function shutdown(server: grpc.Server, stopTimeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, stopTimeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
