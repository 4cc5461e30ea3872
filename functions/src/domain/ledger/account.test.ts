import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { type CreateAccountInput, closeAccount, createAccount, hasBalanceLimit, validateCreateAccount } from './account.js';

const noLimits = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false };
const valid: CreateAccountInput = { code: 'merchant:payable.usd-1', name: '  Merchant payable  ', currency: 'USD', type: 'liability', flags: noLimits, shardCount: 16 };
const identity = { id: 'acc_1', tenantId: 'ten_1', createdAtMs: 1_700_000_000_000 };

function errorOf(fn: () => unknown): { reason: string; field: string | undefined } | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    return { reason: error.reason, field: error.metadata.field };
  }
  return undefined;
}

describe('createAccount', () => {
  it('builds an open account with a trimmed name', () => {
    expect(createAccount(valid, identity)).toEqual({
      ...identity,
      code: 'merchant:payable.usd-1',
      name: 'Merchant payable',
      currency: 'USD',
      type: 'liability',
      flags: noLimits,
      closed: false,
      shardCount: 16,
    });
  });

  it.each([
    [{ code: '' }, 'FIELD_REQUIRED', 'code'],
    [{ code: 'a b' }, 'FIELD_INVALID', 'code'],
    [{ code: 'x'.repeat(65) }, 'FIELD_INVALID', 'code'],
    [{ name: '   ' }, 'FIELD_REQUIRED', 'name'],
    [{ name: 'n'.repeat(201) }, 'FIELD_INVALID', 'name'],
    [{ name: 'a\u0007b' }, 'FIELD_INVALID', 'name'],
    [{ currency: 'usd' }, 'UNKNOWN_CURRENCY', 'currency'],
    [{ currency: 'dollars' }, 'FIELD_INVALID', 'currency'],
    [{ type: 'cash' }, 'FIELD_INVALID', 'type'],
    [{ flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true }, shardCount: 1 }, 'FIELD_INVALID', 'credits_must_not_exceed_debits'],
    [{ shardCount: 0 }, 'FIELD_INVALID', 'shard_count'],
    [{ shardCount: 65 }, 'FIELD_INVALID', 'shard_count'],
    [{ shardCount: 1.5 }, 'FIELD_INVALID', 'shard_count'],
    [{ flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false }, shardCount: 2 }, 'FIELD_INVALID', 'shard_count'],
    [{ flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true }, shardCount: 64 }, 'FIELD_INVALID', 'shard_count'],
  ] as [Partial<CreateAccountInput>, string, string][])('refuses %j with %s on %s', (patch, reason, field) => {
    expect(errorOf(() => validateCreateAccount({ ...valid, ...patch }))).toEqual({ reason, field });
  });

  it('accepts the bounds: 64-character code, 200-character name, shard counts 1 and 64, a limit with one shard', () => {
    expect(errorOf(() => validateCreateAccount({ ...valid, code: 'c'.repeat(64), name: 'n'.repeat(200), shardCount: 64 }))).toBeUndefined();
    const limited = { ...valid, flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false }, shardCount: 1 };
    expect(hasBalanceLimit(createAccount(limited, identity))).toBe(true);
    expect(hasBalanceLimit(createAccount(valid, identity))).toBe(false);
  });
});

describe('closeAccount', () => {
  it('closes once; closing again is an invalid transition', () => {
    const closed = closeAccount(createAccount(valid, identity));
    expect(closed.closed).toBe(true);
    expect(errorOf(() => closeAccount(closed))?.reason).toBe('INVALID_STATE_TRANSITION');
  });
});
