/**
 * The development `Signer`: an Ed25519 key held by this process (or a PEM file under .tally/).
 * Production signs with Cloud KMS (see adapters/kms), where the database writer holds no key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Signer } from '../../ports/signer.js';

/** Options of {@link createLocalSigner}. */
export interface LocalSignerOptions {
  /** A PKCS#8 PEM Ed25519 private key; a fresh key pair is generated (and lost on exit) when absent. */
  privateKeyPem?: string;
  /** Overrides the derived `local:ed25519:<16 hex of sha256(SPKI DER)>` key id. */
  keyId?: string;
}

/** A new Ed25519 private key as a PKCS#8 PEM string. */
export function generateLocalSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/**
 * Reads the PEM at `file`, creating it (and its folder) with a new key, mode 0600, when absent.
 * Used by `npm start` so checkpoints signed in one run still verify in the next.
 */
export function loadOrCreateLocalSigningKey(file: string): string {
  const existing = readIfExists(file);
  if (existing !== undefined) return existing;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const pem = generateLocalSigningKeyPem();
  try {
    // `wx` fails instead of overwriting: a key another process wrote meanwhile must win, or the
    // checkpoints it already signed would stop verifying.
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    return pem;
  } catch (error) {
    if (isErrnoCode(error, 'EEXIST')) return readFileSync(file, 'utf8');
    throw error;
  }
}

/** The key id derived from a public key: `local:ed25519:` + the first 16 hex of sha256(SPKI DER). */
export function localKeyId(publicKey: KeyObject): string {
  const spkiDer = publicKey.export({ format: 'der', type: 'spki' });
  return `local:ed25519:${createHash('sha256').update(spkiDer).digest('hex').slice(0, 16)}`;
}

/** A `Signer` over an Ed25519 key held in memory. Throws when `privateKeyPem` is not an Ed25519 key. */
export function createLocalSigner(options: LocalSignerOptions = {}): Signer {
  const privateKey = createPrivateKey(options.privateKeyPem ?? generateLocalSigningKeyPem());
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`local signer: the key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: options.keyId ?? localKeyId(publicKey),
    // Ed25519 signs the message itself (no separate digest step): the algorithm argument is null.
    sign: async (bytes) => new Uint8Array(sign(null, bytes, privateKey)),
    // Node returns false (does not throw) for a signature of the wrong length or encoding.
    verify: async (bytes, signature) => verify(null, bytes, publicKey, signature),
  };
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function isErrnoCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
