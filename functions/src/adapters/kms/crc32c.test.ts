import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('crc32c', () => {
  it('matches the standard check value', () => {
    // The CRC catalogue's "check" for CRC-32C (iSCSI): the checksum of the ASCII digits 1-9.
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  });

  it('is 0 for no bytes', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  // RFC 3720 (iSCSI) appendix B.4: 32-byte test patterns.
  it.each([
    ['32 zero bytes', new Uint8Array(32).fill(0x00), 0x8a9136aa],
    ['32 0xff bytes', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['bytes 0..31', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['bytes 31..0', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ])('matches RFC 3720 for %s', (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  it('returns an unsigned 32-bit integer and changes when one bit flips', () => {
    const bytes = ascii('ledger checkpoint');
    const value = crc32c(bytes);
    expect(Number.isInteger(value) && value >= 0 && value <= 0xffffffff).toBe(true);
    bytes[0] = bytes[0]! ^ 0x01;
    expect(crc32c(bytes)).not.toBe(value);
  });
});
