/** A ledger balance as an accountant reads it: on the account type's normal side. */
import { AccountType } from '@gen/tally/ledger/v1/ledger_pb';
import type { Balance } from '@gen/tally/ledger/v1/ledger_pb';

/** Debit-normal types (assets, expenses) grow with debits; every other type with credits. */
export function isDebitNormal(type: AccountType): boolean {
  return type === AccountType.ASSET || type === AccountType.EXPENSE;
}

/** Posted balance on the normal side, minor units (negative when the account is on its other side). */
export function postedBalanceMinor(type: AccountType, balance: Balance): bigint {
  return isDebitNormal(type) ? balance.postedDebitsMinor - balance.postedCreditsMinor : balance.postedCreditsMinor - balance.postedDebitsMinor;
}

/** Pending (held) amount on the normal side, minor units. */
export function pendingBalanceMinor(type: AccountType, balance: Balance): bigint {
  return isDebitNormal(type) ? balance.pendingDebitsMinor - balance.pendingCreditsMinor : balance.pendingCreditsMinor - balance.pendingDebitsMinor;
}

export const accountTypeLabels: Record<AccountType, string> = {
  [AccountType.UNSPECIFIED]: '—',
  [AccountType.ASSET]: 'Asset',
  [AccountType.LIABILITY]: 'Liability',
  [AccountType.EQUITY]: 'Equity',
  [AccountType.REVENUE]: 'Revenue',
  [AccountType.EXPENSE]: 'Expense',
};
