import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeDerSignature, signDigestP256 } from './ecdsa-p256.js';

const hex = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, 'hex'));
const sha256 = (data: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

describe('signDigestP256', () => {
  it('matches RFC 6979 A.2.5 (P-256, SHA-256, "sample" and "test")', () => {
    const privateKey = hex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');
    expect(signDigestP256(privateKey, sha256('sample'))).toEqual({
      r: 0xefd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716n,
      s: 0xf7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8n,
    });
    expect(signDigestP256(privateKey, sha256('test'))).toEqual({
      r: 0xf1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367n,
      s: 0x019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083n,
    });
  });

  it('produces DER signatures that node:crypto verifies over the original data', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    // Several messages, so both the 32-byte and the 0x00-padded 33-byte DER integer forms occur.
    for (let index = 0; index < 16; index += 1) {
      const data = Buffer.from(`checkpoint ${index}`);
      const signature = encodeDerSignature(signDigestP256(d, sha256(data)));
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature)).toBe(true);
      expect(verify('sha256', Buffer.from(`checkpoint ${index + 1}`), { key: publicKey, dsaEncoding: 'der' }, signature)).toBe(false);
    }
  });

  it('encodes DER integers minimally, padding a set top bit with 0x00', () => {
    expect(Buffer.from(encodeDerSignature({ r: 0x80n, s: 1n })).toString('hex')).toBe('300702020080020101');
  });

  it('refuses a private key out of range', () => {
    expect(() => signDigestP256(new Uint8Array(32), sha256('x'))).toThrow(/out of range/);
  });
});
