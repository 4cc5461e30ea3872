/**
 * CRC32C (Castagnoli), the checksum Cloud KMS uses for its request and response integrity fields.
 * A byte-at-a-time table implementation: KMS payloads here are digests, signatures and PEMs (well
 * under a kilobyte), so a slice-by-8 table or a native package would buy nothing measurable.
 */

// The reflected form of the Castagnoli polynomial 0x1EDC6F41, as RFC 3720 (iSCSI) specifies.
const POLYNOMIAL_REFLECTED = 0x82f63b78;

const TABLE: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index += 1) {
    let crc = index;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    table[index] = crc >>> 0;
  }
  return table;
}

/**
 * The CRC32C of `bytes` as an unsigned 32-bit integer (0 to 2^32 - 1), the value KMS puts in its
 * `google.protobuf.Int64Value` checksum fields.
 */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    // `& 0xff` keeps the index in 0..255, so the lookup is always defined.
    crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
