/** Domain <-> protobuf for the ledger area. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidField } from '../../domain/errors.js';
import type { Account as DomainAccount, AccountType as DomainAccountType } from '../../domain/ledger/account.js';
import type { Balance as DomainBalance } from '../../domain/ledger/balance.js';
import type { Direction as DomainDirection, Posting as DomainPosting } from '../../domain/ledger/entry.js';
import type { EntryView } from '../../app/ledger/ledger-use-cases.js';
import {
  AccountSchema, AccountType, BalanceSchema, Direction, EntrySchema, EntryStatus,
  type Account, type Balance, type Entry, type Posting,
} from '../../gen/tally/ledger/v1/ledger_pb.js';

const accountTypeNames: Record<AccountType, DomainAccountType | undefined> = {
  [AccountType.UNSPECIFIED]: undefined, [AccountType.ASSET]: 'asset', [AccountType.LIABILITY]: 'liability',
  [AccountType.EQUITY]: 'equity', [AccountType.REVENUE]: 'revenue', [AccountType.EXPENSE]: 'expense',
};
const accountTypeToProto: Record<DomainAccountType, AccountType> = {
  asset: AccountType.ASSET, liability: AccountType.LIABILITY, equity: AccountType.EQUITY, revenue: AccountType.REVENUE, expense: AccountType.EXPENSE,
};

/** Unset maps to '' (the domain reports it); unknown numbers are refused here. */
export function accountTypeFromProto(type: AccountType): string {
  if (!(type in accountTypeNames)) throw invalidField('type', `unknown account type ${String(type)}`);
  return accountTypeNames[type] ?? '';
}

export function directionFromProto(direction: Direction, field: string): DomainDirection {
  if (direction === Direction.DEBIT) return 'debit';
  if (direction === Direction.CREDIT) return 'credit';
  throw invalidField(field, direction === Direction.UNSPECIFIED ? 'required: DIRECTION_DEBIT or DIRECTION_CREDIT' : `unknown direction ${String(direction)}`,
    direction === Direction.UNSPECIFIED ? 'FIELD_REQUIRED' : 'FIELD_INVALID');
}

export function postingsFromProto(postings: readonly Posting[]): DomainPosting[] {
  return postings.map((p, i) => ({
    accountId: p.accountId,
    direction: directionFromProto(p.direction, `postings[${i}].direction`),
    amountMinor: p.amountMinor,
    currency: p.currency,
  }));
}

export function accountToProto(a: DomainAccount): Account {
  return create(AccountSchema, {
    id: a.id, code: a.code, name: a.name, currency: a.currency, type: accountTypeToProto[a.type],
    debitsMustNotExceedCredits: a.flags.debitsMustNotExceedCredits, creditsMustNotExceedDebits: a.flags.creditsMustNotExceedDebits,
    shardCount: a.shardCount, closed: a.closed, createTime: timestampFromMs(a.createdAtMs),
  });
}

const statusByPendingState = { pending: EntryStatus.PENDING, posted: EntryStatus.PENDING_POSTED, voided: EntryStatus.PENDING_VOIDED, expired: EntryStatus.PENDING_EXPIRED } as const;

export function entryToProto(view: EntryView): Entry {
  const r = view.record;
  if (r.kind !== 'entry') throw new Error('assertion failed: entryToProto on a resolution');
  return create(EntrySchema, {
    id: r.id,
    postings: r.postings.map((p) => ({ accountId: p.accountId, direction: p.direction === 'debit' ? Direction.DEBIT : Direction.CREDIT, amountMinor: p.amountMinor, currency: p.currency })),
    description: r.description,
    metadata: { ...r.metadata },
    reversesEntryId: r.reversesEntryId ?? '',
    status: view.pending ? statusByPendingState[view.pending.state] : r.pending ? EntryStatus.PENDING : EntryStatus.POSTED,
    ...(r.pending ? { expireTime: timestampFromMs(r.pending.expiresAtMs) } : {}),
    createTime: timestampFromMs(r.createdAtMs),
    traceId: r.traceId,
    spanId: r.spanId,
    chainHash: r.chain.hash,
    postedAmountsMinor: view.pending?.postedAmountsMinor ? [...view.pending.postedAmountsMinor] : [],
  });
}

export function balanceToProto(account: DomainAccount, b: DomainBalance, asOfMs: number): Balance {
  return create(BalanceSchema, {
    accountId: account.id, currency: account.currency,
    postedDebitsMinor: b.postedDebitsMinor, postedCreditsMinor: b.postedCreditsMinor,
    pendingDebitsMinor: b.pendingDebitsMinor, pendingCreditsMinor: b.pendingCreditsMinor,
    asOfTime: timestampFromMs(asOfMs),
  });
}
