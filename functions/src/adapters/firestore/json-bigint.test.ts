import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromJsonWithBigint, toJsonWithBigint } from './json-bigint.js';

describe('JSON with exact bigints', () => {
  const key = fc.oneof(fc.string(), fc.constantFrom('$bigint', '$$bigint', '$$$bigint', '__proto__', 'constructor', 'toString', '\u0000', '$'));

  it('round-trips any JSON-shaped value with bigints anywhere, exactly', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.bigInt(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null)),
      // Keys include the encoding's own words and prototype names: they must round-trip as data.
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(fc.property(value, (v) => {
      expect(fromJsonWithBigint(toJsonWithBigint(v))).toEqual(v);
    }));
  });

  it('keeps a caller\'s "$bigint" key as data (it was read back as a bigint before)', () => {
    const metadata = Object.fromEntries([['$bigint', '5'], ['__proto__', 'x']]);
    const back = fromJsonWithBigint<{ metadata: Record<string, string> }>(toJsonWithBigint({ metadata }));
    expect(Object.entries(back.metadata)).toEqual([['$bigint', '5'], ['__proto__', 'x']]);
    expect(fromJsonWithBigint(toJsonWithBigint({ $bigint: 5n, $$bigint: '7' }))).toEqual({ $bigint: 5n, $$bigint: '7' });
  });

  it('turns only a lone, integral $bigint back into a bigint', () => {
    expect(fromJsonWithBigint('{"a":{"$bigint":"-9007199254740993"}}')).toEqual({ a: -9007199254740993n });
    expect(fromJsonWithBigint('{"$bigint":"1.5"}')).toEqual({ $bigint: '1.5' });
    expect(fromJsonWithBigint('{"$bigint":"1","other":2}')).toEqual({ $bigint: '1', other: 2 });
    expect(fromJsonWithBigint('[{"$bigint":"7"},"$bigint"]')).toEqual([7n, '$bigint']);
  });
});
