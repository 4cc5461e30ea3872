import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromJsonWithBigint, toJsonWithBigint } from './json-bigint.js';

describe('JSON with exact bigints', () => {
  it('round-trips any JSON-shaped value with bigints anywhere, exactly', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.bigInt(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null)),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string().filter((k) => k !== '$bigint'), tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(fc.property(value, (v) => {
      expect(fromJsonWithBigint(toJsonWithBigint(v))).toEqual(v);
    }));
  });

  it('turns only a lone, integral $bigint back into a bigint', () => {
    expect(fromJsonWithBigint('{"a":{"$bigint":"-9007199254740993"}}')).toEqual({ a: -9007199254740993n });
    expect(fromJsonWithBigint('{"$bigint":"1.5"}')).toEqual({ $bigint: '1.5' });
    expect(fromJsonWithBigint('{"$bigint":"1","other":2}')).toEqual({ $bigint: '1', other: 2 });
    expect(fromJsonWithBigint('[{"$bigint":"7"},"$bigint"]')).toEqual([7n, '$bigint']);
  });
});
