/**
 * Payments for the console: one composable per resource over the callables, query keys from
 * rpc.ts (method name + request), and exact invalidation after every mutation.
 */
import type { Ref } from 'vue';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/vue-query';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { PaymentStatus, PaymentsService, type ListPaymentsRequestSchema, type Payment } from '@gen/tally/payments/v1/payments_pb';
import { LedgerService } from '@gen/tally/ledger/v1/ledger_pb';
import { callRpc, methodKey, rpcQueryKey } from '../rpc';
import { cursorPaging, reactiveKey, requestOfKey, type QueryKey } from './keys';

/** Payments per page of the list (the API allows 1..100). */
export const paymentsPageSize = 25;
/** Events per page of a payment's timeline. */
export const eventsPageSize = 50;

/** The list's filters as the page holds them (dates are local calendar days, inclusive). */
export interface PaymentFilters {
  statuses: PaymentStatus[];
  /** `YYYY-MM-DD` or ''. */
  fromDay: string;
  /** `YYYY-MM-DD` or '' (inclusive: payments of that whole day). */
  toDay: string;
  customerId: string;
}

function localDay(day: string, plusDays = 0): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays) : undefined;
}

/** The ListPayments request of the filters (without paging). */
export function listPaymentsRequest(filters: PaymentFilters): MessageInitShape<typeof ListPaymentsRequestSchema> {
  const from = localDay(filters.fromDay);
  const before = localDay(filters.toDay, 1);
  return {
    statuses: [...filters.statuses].sort((a, b) => a - b),
    ...(from ? { createdAfter: timestampFromDate(from) } : {}),
    ...(before ? { createdBefore: timestampFromDate(before) } : {}),
    customerId: filters.customerId.trim(),
  };
}

export function usePayments(filters: Ref<PaymentFilters>) {
  const method = PaymentsService.method.listPayments;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => listPaymentsRequest(filters.value)),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: paymentsPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function usePayment(paymentId: Ref<string>) {
  const method = PaymentsService.method.getPayment;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ paymentId: paymentId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).payment!,
    // While the PSP has not answered (a refund pending, a payment processing), look again: the
    // outcome arrives by webhook, seconds later.
    refetchInterval: (query: { state: { data?: Payment } }) => (isSettling(query.state.data) ? settlingPollMs : false),
  });
}

/** How often a payment waiting for its PSP is read again. */
export const settlingPollMs = 2_000;

export function isSettling(payment: Payment | undefined): boolean {
  return payment !== undefined && (payment.status === PaymentStatus.PROCESSING || payment.refunds.some((r) => r.status === 'pending'));
}

export function usePaymentEvents(paymentId: Ref<string>) {
  const method = PaymentsService.method.listPaymentEvents;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ paymentId: paymentId.value })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: eventsPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

/** Everything a payment command can change: the payment, the lists, its timeline, the ledger. */
export async function invalidateAfterPaymentChange(queryClient: QueryClient): Promise<void> {
  await Promise.all([
    PaymentsService.method.getPayment, PaymentsService.method.listPayments, PaymentsService.method.listPaymentEvents,
    LedgerService.method.getBalance, LedgerService.method.listEntries,
  ].map((method) => queryClient.invalidateQueries({ queryKey: methodKey(method as never) })));
}

/** One payment command: `idempotencyKey` is chosen per user action by the caller (a retry reuses it). */
export interface PaymentCommand { paymentId: string; amountMinor?: bigint; idempotencyKey: string }

export function usePaymentCommand(kind: 'capture' | 'refund' | 'cancel') {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (command: PaymentCommand) => {
      const base = { paymentId: command.paymentId, idempotencyKey: command.idempotencyKey };
      switch (kind) {
        case 'capture': return (await callRpc(PaymentsService.method.capturePayment, { ...base, amountMinor: command.amountMinor ?? 0n })).payment!;
        case 'refund': return (await callRpc(PaymentsService.method.refundPayment, { ...base, amountMinor: command.amountMinor ?? 0n })).payment!;
        case 'cancel': return (await callRpc(PaymentsService.method.cancelPayment, base)).payment!;
      }
    },
    onSuccess: async (payment) => {
      queryClient.setQueryData(rpcQueryKey(PaymentsService.method.getPayment, { paymentId: payment.id }), payment);
      await invalidateAfterPaymentChange(queryClient);
    },
  });
}
