/**
 * ECDSA P-256 signing over a digest the caller already computed, which is what Cloud KMS receives
 * in `AsymmetricSignRequest.digest`. node:crypto cannot do this: `sign(null, ...)` and
 * `sign('sha256', ...)` both hash their input again for EC keys, and WebCrypto likewise, so the
 * fake signs with this small BigInt implementation instead. Nonces are deterministic (RFC 6979,
 * HMAC-SHA256), so no randomness can leak the key and signatures are reproducible in tests.
 *
 * Test-only code: BigInt arithmetic is not constant time. Never use it to hold a real key.
 * Verification stays with node:crypto, which is the independent check that this code is right.
 */
import { createHmac } from 'node:crypto';

// NIST P-256 (secp256r1) domain parameters, FIPS 186-4 D.1.2.3.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const A = P - 3n;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: Point = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};
const SCALAR_BYTES = 32;
// RFC 6979 retries only when k, r or s is out of range: probability about 2^-32 per attempt.
const NONCE_ATTEMPTS_MAX = 16;

interface Point {
  readonly x: bigint;
  readonly y: bigint;
}

/** The point at infinity (the group identity). */
type MaybePoint = Point | null;

function mod(value: bigint, modulus: bigint): bigint {
  const result = value % modulus;
  return result >= 0n ? result : result + modulus;
}

// Extended Euclid: faster than Fermat's a^(m-2) with BigInt, and the moduli here are prime.
function invert(value: bigint, modulus: bigint): bigint {
  let [oldR, r] = [mod(value, modulus), modulus];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new Error('ecdsa-p256: value has no inverse');
  return mod(oldS, modulus);
}

function add(left: MaybePoint, right: MaybePoint): MaybePoint {
  if (left === null) return right;
  if (right === null) return left;
  if (left.x === right.x && mod(left.y + right.y, P) === 0n) return null;
  const slope =
    left.x === right.x
      ? mod((3n * left.x * left.x + A) * invert(2n * left.y, P), P)
      : mod((right.y - left.y) * invert(right.x - left.x, P), P);
  const x = mod(slope * slope - left.x - right.x, P);
  return { x, y: mod(slope * (left.x - x) - left.y, P) };
}

function multiply(scalar: bigint, point: Point): MaybePoint {
  let result: MaybePoint = null;
  let addend: MaybePoint = point;
  // Double-and-add over the scalar's bits; scalars are < N, so at most 256 rounds.
  for (let rest = scalar; rest > 0n; rest >>= 1n) {
    if (rest & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function bigIntToBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

// SEC 1 / RFC 6979 bits2int: the leftmost 256 bits of the digest as an integer.
function bits2int(digest: Uint8Array): bigint {
  const value = bytesToBigInt(digest);
  const excessBits = digest.length * 8 - 256;
  return excessBits > 0 ? value >> BigInt(excessBits) : value;
}

function hmac(key: Buffer, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** RFC 6979 section 3.2 nonce generator for qlen = 256 and HMAC-SHA256. */
function* rfc6979Nonces(privateScalar: bigint, digest: Uint8Array): Generator<bigint> {
  const seed = [bigIntToBytes(privateScalar, SCALAR_BYTES), bigIntToBytes(mod(bits2int(digest), N), SCALAR_BYTES)];
  let v: Buffer = Buffer.alloc(32, 0x01);
  let k: Buffer = Buffer.alloc(32, 0x00);
  k = hmac(k, v, Buffer.of(0x00), ...seed);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.of(0x01), ...seed);
  v = hmac(k, v);
  while (true) {
    v = hmac(k, v); // One HMAC output is exactly qlen bits.
    yield bytesToBigInt(v);
    k = hmac(k, v, Buffer.of(0x00));
    v = hmac(k, v);
  }
}

function derInteger(value: bigint): Buffer {
  let bytes = bigIntToBytes(value, SCALAR_BYTES);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  bytes = bytes.subarray(start);
  // A leading 0x00 keeps a value with its top bit set positive, as DER requires.
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.of(0x00), bytes]);
  return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
}

/** An ECDSA signature as (r, s). */
export interface EcdsaSignature {
  readonly r: bigint;
  readonly s: bigint;
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }`, the encoding Cloud KMS returns for EC keys. */
export function encodeDerSignature(signature: EcdsaSignature): Uint8Array {
  const body = Buffer.concat([derInteger(signature.r), derInteger(signature.s)]);
  // At most 2 * (2 + 33) = 70 bytes: the short length form always fits.
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]));
}

/**
 * Signs a precomputed digest with the P-256 private scalar `privateKey` (32 big-endian bytes, as in
 * a JWK's `d`), returning (r, s). The digest is used as given; it is not hashed again.
 */
export function signDigestP256(privateKey: Uint8Array, digest: Uint8Array): EcdsaSignature {
  const d = bytesToBigInt(privateKey);
  if (d <= 0n || d >= N) throw new Error('ecdsa-p256: private key out of range');
  const z = mod(bits2int(digest), N);
  const nonces = rfc6979Nonces(d, digest);
  for (let attempt = 0; attempt < NONCE_ATTEMPTS_MAX; attempt += 1) {
    const k = nonces.next().value as bigint;
    if (k <= 0n || k >= N) continue;
    const point = multiply(k, G);
    if (point === null) continue;
    const r = mod(point.x, N);
    if (r === 0n) continue;
    const s = mod(invert(k, N) * (z + r * d), N);
    if (s !== 0n) return { r, s };
  }
  throw new Error(`ecdsa-p256: no valid nonce in ${NONCE_ATTEMPTS_MAX} attempts`);
}
