import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CanonicalValue, canonicalBytes, canonicalJson, isSha256Hex, sha256Hex } from './canonical.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, writes no whitespace and bigints as decimal strings', () => {
    const value = { b: 1, a: { d: [3n, -4n, null, true], c: 'x' } };
    expect(canonicalJson(value)).toBe('{"a":{"c":"x","d":["3","-4",null,true]},"b":1}');
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
    // U+1F600 is the surrogate pair D83D DE00, so it sorts before U+FB33 (code point order would not).
    expect(canonicalJson({ b: 1, B: 2, é: 3, '\ufb33': 4, '😀': 5 })).toBe('{"B":2,"b":1,"é":3,"😀":5,"\ufb33":4}');
  });

  it('does not depend on insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), (dict) => {
        const reversed = Object.fromEntries(Object.entries(dict).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(dict));
      }),
    );
  });

  it('keeps a __proto__ key as plain data', () => {
    const value = JSON.parse('{"__proto__":"x","a":"y"}') as Record<string, string>;
    expect(canonicalJson(value)).toBe('{"__proto__":"x","a":"y"}');
  });

  it('escapes lone surrogates so the bytes are well-formed UTF-8 and distinct', () => {
    const a = canonicalJson('\ud800');
    const b = canonicalJson('\ud801');
    expect(a).toBe('"\\ud800"');
    expect(sha256Hex(canonicalBytes('\ud800'))).not.toBe(sha256Hex(canonicalBytes('\ud801')));
    expect(a).not.toBe(b);
  });

  it('round-trips through JSON.parse for strings, safe integers and nesting', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        const value = JSON.parse(JSON.stringify(raw)) as unknown;
        if (!onlySafeIntegers(value)) return;
        expect(JSON.parse(canonicalJson(value as CanonicalValue))).toEqual(value);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses undefined, fractions, unsafe integers and class instances (programmer errors)', () => {
    expect(() => canonicalJson({ a: undefined } as unknown as CanonicalValue)).toThrow(/assertion failed/);
    expect(() => canonicalJson(1.5)).toThrow(/assertion failed/);
    expect(() => canonicalJson(2 ** 53)).toThrow(/assertion failed/);
    expect(() => canonicalJson(new Date(0) as unknown as CanonicalValue)).toThrow(/assertion failed/);
    let deep: CanonicalValue = 1;
    for (let i = 0; i < 20; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nesting/);
  });
});

describe('sha256Hex', () => {
  it('is the standard digest, in lowercase hex', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(isSha256Hex(sha256Hex('abc'))).toBe(true);
    expect(isSha256Hex('ABC')).toBe(false);
  });
});

function onlySafeIntegers(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  if (Array.isArray(value)) return value.every(onlySafeIntegers);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(onlySafeIntegers);
  return true;
}
