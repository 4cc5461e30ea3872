/** Ledger accounts, balances and entries for the console. */
import type { Ref } from 'vue';
import { useInfiniteQuery, useQuery } from '@tanstack/vue-query';
import { LedgerService } from '@gen/tally/ledger/v1/ledger_pb';
import { callRpc } from '../rpc';
import { cursorPaging, reactiveKey, requestOfKey, type QueryKey } from './keys';

export const accountsPageSize = 25;
export const entriesPageSize = 25;

export function useAccounts() {
  const method = LedgerService.method.listAccounts;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({})),
    queryFn: ({ pageParam }: { pageParam: string }) => callRpc(method, { pageSize: accountsPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useAccount(accountId: Ref<string>) {
  const method = LedgerService.method.getAccount;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ accountId: accountId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).account!,
  });
}

export function useBalance(accountId: Ref<string>) {
  const method = LedgerService.method.getBalance;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ accountId: accountId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).balance!,
  });
}

export function useEntries(accountId: Ref<string>) {
  const method = LedgerService.method.listEntries;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ accountId: accountId.value })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: entriesPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}
