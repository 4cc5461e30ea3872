/**
 * The development `Signer`: an Ed25519 key held by this process (or a PEM file under .tally/).
 * Production signs with Cloud KMS (see adapters/kms), where the database writer holds no key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Signer } from '../../domain/ledger/signer.js';

export function generateLocalSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Reads the PEM at `file`, creating it (mode 0600) with a new key when absent. */
export function loadOrCreateLocalSigningKey(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8');
  mkdirSync(path.dirname(file), { recursive: true });
  const pem = generateLocalSigningKeyPem();
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  return pem;
}

export function createLocalSigner(options: { privateKeyPem?: string; keyId?: string } = {}): Signer {
  const privateKey: KeyObject = createPrivateKey(options.privateKeyPem ?? generateLocalSigningKeyPem());
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('local signer: the key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const keyId = options.keyId ?? `local:ed25519:${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
  return {
    keyId,
    // Ed25519 signs the message itself (no separate digest): algorithm argument is null.
    sign: async (bytes) => new Uint8Array(sign(null, bytes, privateKey)),
    verify: async (bytes, signature) => verify(null, bytes, publicKey, signature),
  };
}
