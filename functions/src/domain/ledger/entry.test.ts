import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money/index.js';
import { type Account, closeAccount, createAccount } from './account.js';
import { type EntryInput, type Posting, decideReplay, entryContentHash, validateEntry, validateEntryShape } from './entry.js';
import { createEntryRecord } from './journal-record.js';
import { type ChainedRecord, emptyStripeHead, genesisHash, linkRecord, verifyChain } from './hash-chain.js';

const noLimits = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false };
function account(id: string, currency: string): Account {
  return createAccount({ code: id, name: id, currency, type: 'asset', flags: noLimits, shardCount: 1 }, { id, tenantId: 'ten_1', createdAtMs: 0 });
}
const accounts = new Map<string, Account>(
  [account('acc_a', 'USD'), account('acc_b', 'USD'), account('acc_c', 'USD'), account('acc_e', 'EUR'), account('acc_f', 'EUR')].map((a) => [a.id, a]),
);
const debit = (accountId: string, amountMinor: bigint, currency = 'USD'): Posting => ({ accountId, direction: 'debit', amountMinor, currency });
const credit = (accountId: string, amountMinor: bigint, currency = 'USD'): Posting => ({ accountId, direction: 'credit', amountMinor, currency });
const base: EntryInput = {
  id: 'je_order-42',
  postings: [debit('acc_a', 1000n), credit('acc_b', 970n), credit('acc_c', 30n)],
  description: 'order 42',
  metadata: { order: '42', b: 'x' },
};

function errorOf(fn: () => unknown): TallyError | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    return error;
  }
  return undefined;
}
function refusal(input: Partial<EntryInput>, map: ReadonlyMap<string, Account> = accounts): [string, string | undefined] | undefined {
  const error = errorOf(() => validateEntry({ ...base, ...input }, map));
  return error === undefined ? undefined : [error.reason, error.metadata.field];
}

describe('validateEntry', () => {
  it('accepts a balanced entry and normalises it', () => {
    const entry = validateEntry({ ...base, pending: undefined }, accounts);
    expect(entry).toEqual({ ...base, metadata: { b: 'x', order: '42' }, reversesEntryId: null, pending: null });
    expect(Object.keys(entry.metadata)).toEqual(['b', 'order']);
  });

  it('accepts several currencies when each balances', () => {
    const postings = [debit('acc_a', 5n), credit('acc_b', 5n), debit('acc_e', 7n, 'EUR'), credit('acc_f', 7n, 'EUR')];
    expect(refusal({ postings })).toBeUndefined();
  });

  it.each<[string, Partial<EntryInput>, [string, string]]>([
    ['no id', { id: '' }, ['FIELD_REQUIRED', 'entry_id']],
    ['a malformed id', { id: 'order-42' }, ['FIELD_INVALID', 'entry_id']],
    ['a too long id', { id: `je_${'x'.repeat(65)}` }, ['FIELD_INVALID', 'entry_id']],
    ['one posting', { postings: [debit('acc_a', 1n)] }, ['FIELD_INVALID', 'postings']],
    ['101 postings', { postings: Array.from({ length: 101 }, (_, i) => debit(`acc_${i}`, 1n)) }, ['FIELD_INVALID', 'postings']],
    ['a zero amount', { postings: [debit('acc_a', 0n), credit('acc_b', 0n)] }, ['AMOUNT_OUT_OF_RANGE', 'postings[0].amount_minor']],
    ['a negative amount', { postings: [debit('acc_a', 5n), credit('acc_b', -5n)] }, ['AMOUNT_OUT_OF_RANGE', 'postings[1].amount_minor']],
    ['an amount beyond int64', { postings: [debit('acc_a', AMOUNT_MINOR_MAX + 1n), credit('acc_b', 1n)] }, ['AMOUNT_OUT_OF_RANGE', 'postings[0].amount_minor']],
    ['a bad direction', { postings: [debit('acc_a', 5n), { ...credit('acc_b', 5n), direction: 'up' as 'credit' }] }, ['FIELD_INVALID', 'postings[1].direction']],
    ['a bad currency', { postings: [debit('acc_a', 5n), credit('acc_b', 5n, 'ZZZ')] }, ['UNKNOWN_CURRENCY', 'postings[1].currency']],
    ['an account twice', { postings: [debit('acc_a', 5n), credit('acc_b', 3n), credit('acc_a', 2n)] }, ['FIELD_INVALID', 'postings[2].account_id']],
    ['an unbalanced entry', { postings: [debit('acc_a', 5n), credit('acc_b', 4n)] }, ['ENTRY_UNBALANCED', 'postings']],
    ['mixed currencies without a balancing posting', { postings: [debit('acc_a', 5n), credit('acc_e', 5n, 'EUR')] }, ['ENTRY_UNBALANCED', 'postings']],
    ['an unknown account', { postings: [debit('acc_a', 5n), credit('acc_zz', 5n)] }, ['NOT_FOUND', 'postings[1].account_id']],
    ['a posting currency other than its account', { postings: [debit('acc_a', 5n), credit('acc_b', 5n), debit('acc_e', 1n), credit('acc_c', 1n)] }, ['CURRENCY_MISMATCH', 'postings[2].currency']],
    ['a long description', { description: 'd'.repeat(501) }, ['FIELD_INVALID', 'description']],
    ['51 metadata keys', { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, ['FIELD_INVALID', 'metadata']],
    ['a long metadata key', { metadata: { ['k'.repeat(41)]: 'v' } }, ['FIELD_INVALID', 'metadata']],
    ['a long metadata value', { metadata: { k: 'v'.repeat(501) } }, ['FIELD_INVALID', 'metadata.k']],
    ['a malformed reversed id', { reversesEntryId: 'nope' }, ['FIELD_INVALID', 'reverses_entry_id']],
    ['reversing itself', { reversesEntryId: base.id }, ['FIELD_INVALID', 'reverses_entry_id']],
    ['a pending timeout under 1 s', { pending: { timeoutMs: 999 } }, ['FIELD_INVALID', 'pending_timeout_ms']],
    ['a pending timeout over 30 days', { pending: { timeoutMs: 30 * 86_400_000 + 1 } }, ['FIELD_INVALID', 'pending_timeout_ms']],
  ])('refuses %s', (_name, input, expected) => {
    expect(refusal(input)).toEqual(expected);
  });

  it('names the currency and the difference of an unbalanced entry', () => {
    const error = errorOf(() => validateEntryShape({ ...base, postings: [debit('acc_a', 5n), credit('acc_b', 5n), debit('acc_e', 9n, 'EUR'), credit('acc_f', 2n, 'EUR')] }));
    expect(error?.reason).toBe('ENTRY_UNBALANCED');
    expect(error?.metadata).toMatchObject({ currency: 'EUR', differenceMinor: '7' });
  });

  it('refuses postings to a closed account', () => {
    const withClosed = new Map(accounts);
    withClosed.set('acc_b', closeAccount(accounts.get('acc_b') as Account));
    expect(refusal({}, withClosed)).toEqual(['ACCOUNT_CLOSED', 'postings[1].account_id']);
  });

  it('accepts the bounds: 100 postings, 50 metadata keys of 40 characters, 500-character texts, 1 s and 30 days', () => {
    const many = new Map<string, Account>();
    const postings: Posting[] = [];
    for (let i = 0; i < 100; i++) {
      many.set(`acc_${i}`, account(`acc_${i}`, 'USD'));
      postings.push(i < 50 ? debit(`acc_${i}`, 2n) : credit(`acc_${i}`, 2n));
    }
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${i}`.padStart(40, 'k'), 'v'.repeat(500)]));
    expect(refusal({ postings, metadata, description: 'd'.repeat(500), pending: { timeoutMs: 1_000 } }, many)).toBeUndefined();
    expect(refusal({ pending: { timeoutMs: 30 * 86_400_000 } })).toBeUndefined();
  });
});

describe('entryContentHash and decideReplay', () => {
  const hash = entryContentHash(base);

  it('does not depend on metadata key order or on absent versus null optional fields', () => {
    const reordered = { ...base, metadata: { b: 'x', order: '42' }, reversesEntryId: null, pending: null };
    expect(entryContentHash(reordered)).toBe(hash);
  });

  it('is the same for the stored record as for the input (server fields are not content)', () => {
    const record = createEntryRecord(validateEntry(base, accounts), 123, { tenantId: 'ten_1', traceId: 't', spanId: 's' });
    expect(entryContentHash(record)).toBe(hash);
    const pendingInput = { ...base, pending: { timeoutMs: 5_000 } };
    const pendingRecord = createEntryRecord(validateEntry(pendingInput, accounts), 123, { tenantId: 'ten_1', traceId: 't', spanId: 's' });
    expect(entryContentHash(pendingRecord)).toBe(entryContentHash(pendingInput));
  });

  it('changes with every caller-chosen field, including posting order', () => {
    const variants: EntryInput[] = [
      { ...base, id: 'je_order-43' },
      { ...base, postings: [base.postings[0] as Posting, base.postings[2] as Posting, base.postings[1] as Posting] },
      { ...base, postings: [debit('acc_a', 1001n), credit('acc_b', 971n), credit('acc_c', 30n)] },
      { ...base, postings: [debit('acc_a', 1000n), credit('acc_b', 970n), credit('acc_d', 30n)] },
      { ...base, description: 'order 42 ' },
      { ...base, metadata: { order: '42' } },
      { ...base, metadata: { order: '42', b: 'y' } },
      { ...base, reversesEntryId: 'je_x' },
      { ...base, pending: { timeoutMs: 1_000 } },
    ];
    const hashes = new Set(variants.map(entryContentHash));
    expect(hashes.size).toBe(variants.length);
    expect(hashes.has(hash)).toBe(false);
  });

  it('is distinct for distinct descriptions and metadata (no encoding ambiguity)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.dictionary(fc.string({ maxLength: 5 }), fc.string()), (d1, d2, metadata) => {
        fc.pre(d1 !== d2);
        expect(entryContentHash({ ...base, description: d1, metadata })).not.toBe(entryContentHash({ ...base, description: d2, metadata }));
      }),
      { numRuns: 200 },
    );
  });

  it('decides create, replay or ENTRY_ID_REUSED', () => {
    expect(decideReplay(undefined, hash)).toBe('create');
    expect(decideReplay(null, hash)).toBe('create');
    expect(decideReplay(hash, hash)).toBe('replay');
    const error = errorOf(() => decideReplay(hash, entryContentHash({ ...base, description: 'other' }), base.id));
    expect(error?.reason).toBe('ENTRY_ID_REUSED');
    expect(error?.metadata).toEqual({ field: 'entry_id', entryId: base.id });
  });
});

describe('metadata: accept => verify, for any keys and values (issue 11 item 2)', () => {
  const text = (maxLength: number) => fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    // Any UTF-16 code unit, so lone surrogates appear too.
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength }),
    fc.constantFrom('__proto__', 'constructor', 'prototype', '$bigint', '$$bigint', '\u0000', 'a\u0000b', 'toString', '__name__', '\ud800', ''),
  );

  it('either refuses the metadata with FIELD_INVALID, or the record hashes, links and verifies with exactly that metadata', () => {
    fc.assert(fc.property(fc.array(fc.tuple(text(40), text(80)), { maxLength: 8 }), fc.string({ maxLength: 30 }), (pairs, description) => {
      // Object.fromEntries defines own properties, as the protobuf decoder does for a map field.
      const metadata = Object.fromEntries(pairs);
      const input: EntryInput = { ...base, description, metadata };
      let valid;
      try {
        valid = validateEntryShape(input);
      } catch (error) {
        expect(error).toBeInstanceOf(TallyError);
        expect((error as TallyError).reason).toBe('FIELD_INVALID');
        return;
      }
      const record = createEntryRecord(valid, 1, { tenantId: 'ten_1', traceId: 't', spanId: 's' });
      expect(Object.entries(record.metadata).sort()).toEqual(Object.entries(metadata).sort());
      expect(entryContentHash(record)).toBe(entryContentHash(input));
      // What a reader rebuilds from stored key/value pairs hashes the same.
      const reread: EntryInput = { ...record, metadata: Object.fromEntries(Object.entries(record.metadata).reverse()) };
      expect(entryContentHash(reread)).toBe(entryContentHash(input));
      const { record: linked } = linkRecord(record, emptyStripeHead('ten_1', 0));
      expect(verifyChain([{ ...linked, metadata: reread.metadata } as ChainedRecord], genesisHash('ten_1', 0))).toMatchObject({ ok: true, count: 1 });
    }), { numRuns: 150 });
  });

  it('refuses a lone surrogate (UTF-8 storage cannot keep it) in a key, a value or the description', () => {
    for (const input of [{ ...base, metadata: { '\ud800': 'x' } }, { ...base, metadata: { k: 'x\udc00' } }, { ...base, description: 'a\ud800' }]) {
      expect(() => validateEntryShape(input)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID' }));
    }
  });
});
