import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../../domain/errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';

function reasonOf(fn: () => unknown): string | undefined {
  try { fn(); return undefined; } catch (e) { return e instanceof TallyError ? `${e.reason}:${e.metadata.field}` : 'untyped'; }
}

describe('page tokens', () => {
  it('round-trip what the API encodes', () => {
    expect(decodePageToken(encodePageToken([1_700_000_000_000, 'pay_abc']), ['int', 'id'])).toEqual([1_700_000_000_000, 'pay_abc']);
    expect(decodePageToken(encodePageToken(['a/b code']), ['string'])).toEqual(['a/b code']);
  });

  it.each([
    ['an id with a slash', encodePageToken([1, 'a/b'])],
    ['the id ..', encodePageToken([1, '..'])],
    ['a reserved id', encodePageToken([1, '__x__'])],
    ['an empty id', encodePageToken([1, ''])],
    ['a float', encodePageToken([1.5, 'x'])],
    ['too few parts', encodePageToken([1])],
    ['not base64url', '!!!'],
    ['not JSON', Buffer.from('{').toString('base64url')],
    ['huge', 'A'.repeat(5000)],
  ])('%s is FIELD_INVALID page_token', (_label, token) => {
    expect(reasonOf(() => decodePageToken(token, ['int', 'id']))).toBe('FIELD_INVALID:page_token');
  });

  it('any string decodes to the shape or FIELD_INVALID page_token, nothing else', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (token) => {
      const reason = reasonOf(() => decodePageToken(token, ['int', 'id']));
      expect([undefined, 'FIELD_INVALID:page_token']).toContain(reason);
    }), { seed: 11, numRuns: 500 });
  });
});
