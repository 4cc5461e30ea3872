import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalSigner, generateLocalSigningKeyPem, loadOrCreateLocalSigningKey } from './local-signer.js';

const bytes = new TextEncoder().encode('checkpoint:tenant-a:seq=42:root=abc');

function flipBit(input: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(input);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

describe('createLocalSigner', () => {
  it('verifies its own signature (64-byte Ed25519)', async () => {
    const signer = createLocalSigner();
    const signature = await signer.sign(bytes);
    expect(signature).toHaveLength(64);
    expect(await signer.verify(bytes, signature)).toBe(true);
  });

  it('rejects tampered bytes, a tampered signature and a truncated signature', async () => {
    const signer = createLocalSigner();
    const signature = await signer.sign(bytes);
    expect(await signer.verify(flipBit(bytes, 3), signature)).toBe(false);
    expect(await signer.verify(bytes, flipBit(signature, 10))).toBe(false);
    expect(await signer.verify(bytes, signature.subarray(0, 63))).toBe(false);
  });

  it("rejects another key's signature", async () => {
    const signature = await createLocalSigner().sign(bytes);
    expect(await createLocalSigner().verify(bytes, signature)).toBe(false);
  });

  it('derives a stable key id from the PEM, different per key', () => {
    const pem = generateLocalSigningKeyPem();
    const first = createLocalSigner({ privateKeyPem: pem });
    const second = createLocalSigner({ privateKeyPem: pem });
    expect(first.keyId).toMatch(/^local:ed25519:[0-9a-f]{16}$/);
    expect(second.keyId).toBe(first.keyId);
    expect(createLocalSigner().keyId).not.toBe(first.keyId);
  });

  it('verifies across instances built from the same PEM', async () => {
    const pem = generateLocalSigningKeyPem();
    const signature = await createLocalSigner({ privateKeyPem: pem }).sign(bytes);
    expect(await createLocalSigner({ privateKeyPem: pem }).verify(bytes, signature)).toBe(true);
  });

  it('keeps an explicit key id', () => {
    expect(createLocalSigner({ keyId: 'dev-key-1' }).keyId).toBe('dev-key-1');
  });

  it('refuses a key that is not Ed25519', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => createLocalSigner({ privateKeyPem: ecPem })).toThrow(/Ed25519/);
  });
});

describe('loadOrCreateLocalSigningKey', () => {
  let dir = '';
  afterEach(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('creates the PEM with mode 0600 and returns the same key afterwards', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tally-local-signer-'));
    const file = path.join(dir, '.tally', 'signing-key.pem');
    const created = loadOrCreateLocalSigningKey(file);
    expect(created).toContain('BEGIN PRIVATE KEY');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(created);
    expect(loadOrCreateLocalSigningKey(file)).toBe(created);
    expect(createLocalSigner({ privateKeyPem: loadOrCreateLocalSigningKey(file) }).keyId).toBe(
      createLocalSigner({ privateKeyPem: created }).keyId,
    );
  });
});
