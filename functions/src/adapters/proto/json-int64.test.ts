import fc from 'fast-check';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { CreateEntryRequestSchema, PostPendingEntryRequestSchema } from '../../gen/tally/ledger/v1/ledger_pb.js';
import { looseInt64Field, mayHoldLooseInt64 } from './json-int64.js';

const entry = (amountMinor: JsonValue, pendingTimeoutMs: JsonValue = '0'): JsonValue => ({
  entryId: 'je_1', postings: [{ accountId: 'acc_a', direction: 'DIRECTION_DEBIT', amountMinor, currency: 'USD' }], pendingTimeoutMs,
});

describe('strict int64 text in proto3 JSON (issue 11 item 4)', () => {
  it.each(['0x10', '0b101', '0o7', ' 12', '12 ', '+5', '\t1', '1\n'])('finds %j, which protobuf-es itself would accept as an int64', (text) => {
    expect(() => fromJson(CreateEntryRequestSchema, entry(text))).not.toThrow(); // the gap this closes
    const body = entry(text);
    expect(mayHoldLooseInt64(JSON.stringify(body))).toBe(true);
    expect(looseInt64Field(CreateEntryRequestSchema, body)).toBe('postings[0].amount_minor');
    expect(looseInt64Field(CreateEntryRequestSchema, entry('1', text))).toBe('pending_timeout_ms');
    expect(looseInt64Field(PostPendingEntryRequestSchema, { entryId: 'je_1', amountsMinor: ['1', text] })).toBe('amounts_minor[1]');
  });

  it('accepts plain decimal strings and JSON numbers, and ignores strings in non-integer fields', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
      expect(looseInt64Field(CreateEntryRequestSchema, entry(n.toString()))).toBeUndefined();
    }));
    expect(looseInt64Field(CreateEntryRequestSchema, entry(12))).toBeUndefined();
    expect(looseInt64Field(CreateEntryRequestSchema, { ...(entry('1') as Record<string, JsonValue>), description: ' +0x10 ', metadata: { k: ' 12' } })).toBeUndefined();
    expect(mayHoldLooseInt64(JSON.stringify(entry('12')))).toBe(false);
  });
});
