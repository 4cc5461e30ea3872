/**
 * Canonical encoding: the one deterministic text (and UTF-8 bytes) of a ledger value, so that two
 * processes (or a future verifier in another language) hash the same content to the same digest.
 *
 * Rules, a subset of RFC 8785 (JSON Canonicalization Scheme) plus bigint:
 * - objects: keys sorted by UTF-16 code units (JavaScript's default sort, as in JCS), no whitespace;
 * - strings: JSON escaping exactly as `JSON.stringify` (ES2019+: lone surrogates are escaped, so the
 *   text is always well-formed UTF-8);
 * - bigint: its decimal string (`"-12"`), because JSON numbers lose precision past 2^53 in most
 *   parsers. A bigint and a string with the same digits encode alike: callers hash fixed schemas in
 *   which a field's type never varies, so this cannot make two different records collide;
 * - numbers: safe integers only (times, counts, indexes); fractions never appear in the ledger;
 * - booleans and null as in JSON; `undefined` is refused. Optional fields are normalised to `null`
 *   by the caller first, so a missing field and an explicit `undefined` cannot hash differently.
 */
import { createHash } from 'node:crypto';
import { assert } from '../errors.js';

/** A value the canonical encoding accepts. */
export type CanonicalValue = null | boolean | string | number | bigint | readonly CanonicalValue[] | CanonicalObject;

/** A plain object of canonical values (no `undefined` values, no class instances). */
export interface CanonicalObject {
  readonly [key: string]: CanonicalValue;
}

/** Deepest nesting accepted: ledger values are at most four levels deep; this bounds the recursion. */
export const CANONICAL_DEPTH_MAX = 16;

/** The canonical JSON text of `value`. Throws an assertion error for values outside the rules. */
export function canonicalJson(value: CanonicalValue): string {
  return encode(value, 0);
}

/** The UTF-8 bytes of `canonicalJson(value)`: what is hashed and signed. */
export function canonicalBytes(value: CanonicalValue): Uint8Array {
  return new Uint8Array(Buffer.from(canonicalJson(value), 'utf8'));
}

/** Lowercase hex SHA-256 of bytes (or of the UTF-8 bytes of a string). */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True for a lowercase hex SHA-256 digest (64 characters). */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

function encode(value: CanonicalValue, depth: number): string {
  assert(depth <= CANONICAL_DEPTH_MAX, `canonical: nesting deeper than ${CANONICAL_DEPTH_MAX}`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return `"${value.toString(10)}"`;
    case 'number':
      assert(Number.isSafeInteger(value), `canonical: ${value} is not a safe integer`);
      // `String(-0)` is "0": -0 and 0 are the same count or time.
      return String(value);
    case 'object':
      return Array.isArray(value) ? encodeArray(value, depth) : encodeObject(value as CanonicalObject, depth);
    default:
      assert(false, `canonical: unsupported type ${typeof value}`);
  }
}

function encodeArray(list: readonly CanonicalValue[], depth: number): string {
  return `[${list.map((item) => encode(item, depth + 1)).join(',')}]`;
}

function encodeObject(object: CanonicalObject, depth: number): string {
  const prototype: unknown = Object.getPrototypeOf(object);
  assert(prototype === Object.prototype || prototype === null, 'canonical: only plain objects are encoded');
  const keys = Object.keys(object).sort();
  const fields = keys.map((key) => {
    const item = object[key];
    assert(item !== undefined, `canonical: field ${key} is undefined (normalise optional fields to null)`);
    return `${JSON.stringify(key)}:${encode(item, depth + 1)}`;
  });
  return `{${fields.join(',')}}`;
}
