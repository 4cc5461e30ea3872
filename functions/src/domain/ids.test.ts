import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from './errors.js';
import { derivedId, idPrefixes, isId, newId, parseId, parseOptionalId, type IdKind } from './ids.js';

const kinds = Object.keys(idPrefixes) as IdKind[];
const reasonOf = (run: () => unknown): string => {
  try { run(); } catch (e) { expect(e).toBeInstanceOf(TallyError); return (e as TallyError).reason; }
  return 'accepted';
};

describe('ids (issue 11 item 10)', () => {
  it('accepts every id Tally makes, new or derived', () => {
    for (const kind of kinds) {
      expect(parseId(kind, newId(idPrefixes[kind]), 'x')).toMatch(/_/);
      expect(isId(kind, derivedId(idPrefixes[kind], ['a', 'b']))).toBe(true);
    }
    // Derived ids of the payments path (ledger-postings.ts): account and entry ids that embed others.
    expect(isId('account', 'acc_pay_platform_fee_revenue_EUR')).toBe(true);
    expect(isId('entry', `je_capr2_${newId('pay')}`)).toBe(true);
    expect(isId('refund', `re_psp_${'a'.repeat(32)}`)).toBe(true);
  });

  it.each(['..', '.', 'a/b', '__x__', 'pay_..', 'pay_a/b', 'pay_', 'pay', 'pay_a.b', 'PAY_abc', ' pay_abc', 'pay_abc\n', 'pay_ä', `pay_${'a'.repeat(65)}`, 'cus_abc', 'pay_a b'])(
    'a payment id %j is FIELD_INVALID with the field named, never a path', (value) => {
      expect(reasonOf(() => parseId('payment', value, 'payment_id'))).toBe('FIELD_INVALID');
      try { parseId('payment', value, 'payment_id'); } catch (e) { expect((e as TallyError).metadata).toEqual({ field: 'payment_id' }); }
    },
  );

  it('empty is FIELD_REQUIRED, or null where the field is optional', () => {
    expect(reasonOf(() => parseId('entry', '', 'entry_id'))).toBe('FIELD_REQUIRED');
    expect(parseOptionalId('customer', '', 'customer_id')).toBeNull();
    expect(reasonOf(() => parseOptionalId('customer', 'a/b', 'customer_id'))).toBe('FIELD_INVALID');
  });

  it('property: whatever the string, parseId accepts exactly prefix + base64url body of 1..64 and accepted ids are safe document ids', () => {
    const alphabet = fc.constantFrom(...'AZaz09_-./ \n\u0000%ä'.split(''), 'pay_', '..', '__');
    fc.assert(fc.property(fc.constantFrom(...kinds), fc.oneof(fc.string({ maxLength: 80 }), fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''))), fc.boolean(), (kind, body, prefixed) => {
      const value = prefixed ? `${idPrefixes[kind]}_${body}` : body;
      const reason = reasonOf(() => parseId(kind, value, 'f'));
      const expected = value === '' ? 'FIELD_REQUIRED' : new RegExp(`^${idPrefixes[kind]}_[A-Za-z0-9_-]{1,64}$`).test(value) ? 'accepted' : 'FIELD_INVALID';
      expect(reason).toBe(expected);
      if (reason === 'accepted') {
        // What Firestore refuses as a document id: '/', '.', '..', __...__, more than 1500 bytes.
        expect(value).not.toMatch(/\/|^\.\.?$|^__.*__$/);
        expect(Buffer.byteLength(value)).toBeLessThan(1500);
      }
    }), { seed: 11, numRuns: 2_000 });
  });
});
