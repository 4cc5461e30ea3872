/**
 * The console's business resources over the callables: customers, subscriptions, invoices, API
 * keys, webhook endpoints and their deliveries, reconciliation runs and breaks. One composable per
 * resource; query keys are the method plus its request (rpc.ts), so a mutation invalidates exactly
 * the methods whose answers it changes. Every mutation takes the idempotency key of its user action
 * from the caller (a retry of the same action sends the same key).
 */
import type { Ref } from 'vue';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/vue-query';
import type { DescMessage, DescMethodUnary } from '@bufbuild/protobuf';
import { PaymentsService } from '@gen/tally/payments/v1/payments_pb';
import { BillingService } from '@gen/tally/billing/v1/billing_pb';
import { Role, TenancyService } from '@gen/tally/tenancy/v1/tenancy_pb';
import { WebhookEndpointsService } from '@gen/tally/webhooks/v1/webhooks_pb';
import { ReconService } from '@gen/tally/recon/v1/recon_pb';
import { callRpc, methodKey } from '../rpc';
import { cursorPaging, reactiveKey, requestOfKey, type QueryKey } from './keys';

/** Rows per page of every list here (the API allows 1..100). */
export const businessPageSize = 25;

type AnyMethod = DescMethodUnary<DescMessage, DescMessage>;

async function invalidate(queryClient: QueryClient, methods: readonly unknown[]): Promise<void> {
  await Promise.all(methods.map((method) => queryClient.invalidateQueries({ queryKey: methodKey(method as AnyMethod) })));
}

// ---- Customers, subscriptions, invoices ------------------------------------------------------

export function useCustomers(email: Ref<string>) {
  const method = PaymentsService.method.listCustomers;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ email: email.value })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useCustomer(customerId: Ref<string>) {
  const method = PaymentsService.method.getCustomer;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ customerId: customerId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).customer!,
  });
}

/** Subscriptions, newest first: one customer's when `customerId` is set, else all. */
export function useSubscriptions(customerId: Ref<string>) {
  const method = BillingService.method.listSubscriptions;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ customerId: customerId.value })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useSubscription(subscriptionId: Ref<string>) {
  const method = BillingService.method.getSubscription;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ subscriptionId: subscriptionId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).subscription!,
  });
}

/** Invoices, newest first: of one customer, or one subscription, or all (at most one filter). */
export function useInvoices(filter: Ref<{ customerId?: string; subscriptionId?: string }>) {
  const method = BillingService.method.listInvoices;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ customerId: filter.value.customerId ?? '', subscriptionId: filter.value.subscriptionId ?? '' })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useInvoice(invoiceId: Ref<string>) {
  const method = BillingService.method.getInvoice;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ invoiceId: invoiceId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).invoice!,
  });
}

/** The invoice's PDF bytes (a read, but fetched on demand: a mutation carries its pending/error state). */
export function useInvoicePdf() {
  return useMutation({
    mutationFn: async (invoiceId: string) => (await callRpc(BillingService.method.getInvoicePdf, { invoiceId })).pdf,
  });
}

/** A customer's credit balances (negative invoices carried forward), per currency. */
export function useCustomerCredit(customerId: Ref<string>) {
  const method = BillingService.method.getCustomerCreditBalance;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ customerId: customerId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).balances,
  });
}

/** What a billing action can change: subscriptions, invoices, the customer's credit, payments. */
const billingReads = [
  BillingService.method.getSubscription, BillingService.method.listSubscriptions, BillingService.method.getInvoice, BillingService.method.listInvoices,
  BillingService.method.getCustomerCreditBalance, PaymentsService.method.listPayments,
];

export function useCancelSubscription() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { subscriptionId: string; atPeriodEnd: boolean; idempotencyKey: string }) =>
      (await callRpc(BillingService.method.cancelSubscription, input)).subscription!,
    onSuccess: () => invalidate(queryClient, billingReads),
  });
}

/** Charges an open invoice now (the customer's default payment method); a decline answers the reason. */
export function usePayInvoice() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { invoiceId: string; idempotencyKey: string }) => callRpc(BillingService.method.payInvoice, input),
    onSuccess: () => invalidate(queryClient, billingReads),
  });
}

export function useVoidInvoice() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { invoiceId: string; idempotencyKey: string }) => (await callRpc(BillingService.method.voidInvoice, input)).invoice!,
    onSuccess: () => invalidate(queryClient, billingReads),
  });
}

// ---- API keys ------------------------------------------------------------------------------

export function useApiKeys() {
  const method = TenancyService.method.listApiKeys;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({})),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useCreateApiKey() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { name: string; role: Role; idempotencyKey: string }) =>
      (await callRpc(TenancyService.method.createApiKey, input)).apiKey!,
    onSuccess: () => invalidate(queryClient, [TenancyService.method.listApiKeys]),
  });
}

export function useRevokeApiKey() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { apiKeyId: string; idempotencyKey: string }) => (await callRpc(TenancyService.method.revokeApiKey, input)).apiKey!,
    onSuccess: () => invalidate(queryClient, [TenancyService.method.listApiKeys]),
  });
}

// ---- Webhook endpoints and deliveries ------------------------------------------------------

export function useWebhookEndpoints() {
  const method = WebhookEndpointsService.method.listWebhookEndpoints;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({})),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

export function useWebhookEndpoint(endpointId: Ref<string>) {
  const method = WebhookEndpointsService.method.getWebhookEndpoint;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ webhookEndpointId: endpointId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).webhookEndpoint!,
  });
}

/** How often deliveries still being attempted are read again (attempts happen in the background). */
export const pendingDeliveriesPollMs = 3_000;

export function useWebhookDeliveries(endpointId: Ref<string>, status: Ref<string>) {
  const method = WebhookEndpointsService.method.listWebhookDeliveries;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ webhookEndpointId: endpointId.value, status: status.value })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
    // New events make new deliveries at any time, and pending ones change as they are attempted.
    refetchInterval: pendingDeliveriesPollMs,
  });
}

const endpointReads = [WebhookEndpointsService.method.listWebhookEndpoints, WebhookEndpointsService.method.getWebhookEndpoint];
const deliveryReads = [WebhookEndpointsService.method.listWebhookDeliveries];

export function useCreateWebhookEndpoint() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { url: string; enabledEvents: string[]; description: string; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.createWebhookEndpoint, input)).webhookEndpoint!,
    onSuccess: () => invalidate(queryClient, endpointReads),
  });
}

export function useSetWebhookEndpointEnabled() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { webhookEndpointId: string; enabled: boolean; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.updateWebhookEndpoint, { ...input, updateMask: ['enabled'] })).webhookEndpoint!,
    onSuccess: () => invalidate(queryClient, endpointReads),
  });
}

export function useRollWebhookSecret() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { webhookEndpointId: string; overlapSeconds: bigint; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.rollWebhookEndpointSecret, input)).webhookEndpoint!,
    onSuccess: () => invalidate(queryClient, endpointReads),
  });
}

export function useDeleteWebhookEndpoint() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { webhookEndpointId: string; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.deleteWebhookEndpoint, input)).webhookEndpoint!,
    onSuccess: () => invalidate(queryClient, [...endpointReads, ...deliveryReads]),
  });
}

export function useSendTestWebhook() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { webhookEndpointId: string; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.sendTestWebhookEvent, input)).delivery!,
    onSuccess: () => invalidate(queryClient, [...deliveryReads, ...endpointReads]),
  });
}

export function useResendWebhookDelivery() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { deliveryId: string; idempotencyKey: string }) =>
      (await callRpc(WebhookEndpointsService.method.resendWebhookDelivery, input)).delivery!,
    onSuccess: () => invalidate(queryClient, [...deliveryReads, ...endpointReads]),
  });
}

// ---- Reconciliation ------------------------------------------------------------------------

/** How often runs still queued or running are read again. */
export const runningReconPollMs = 2_000;
const unfinished = (status: string | undefined) => status === 'queued' || status === 'running';

export function useReconRuns() {
  const method = ReconService.method.listReconRuns;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({})),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
    refetchInterval: (query: { state: { data?: { pages: { runs: { status: string }[] }[] } } }) =>
      (query.state.data?.pages.some((p) => p.runs.some((r) => unfinished(r.status))) ? runningReconPollMs : false),
  });
}

export function useReconRun(runId: Ref<string>) {
  const method = ReconService.method.getReconRun;
  return useQuery({
    queryKey: reactiveKey(method, () => ({ runId: runId.value })),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => (await callRpc(method, requestOfKey(method, queryKey))).run!,
    refetchInterval: (query: { state: { data?: { status: string } } }) => (unfinished(query.state.data?.status) ? runningReconPollMs : false),
  });
}

export function useBreaks(filter: Ref<{ runId: string; status: string }>) {
  const method = ReconService.method.listBreaks;
  return useInfiniteQuery({
    queryKey: reactiveKey(method, () => ({ runId: filter.value.runId, status: filter.value.status })),
    queryFn: ({ queryKey, pageParam }: { queryKey: QueryKey; pageParam: string }) =>
      callRpc(method, { ...requestOfKey(method, queryKey), pageSize: businessPageSize, pageToken: pageParam }),
    ...cursorPaging,
  });
}

/** What a reviewer may decide about a break (ReconService.ResolveBreak). */
export const breakResolutions = ['accepted', 'written_off', 'corrected', 'disputed_with_psp'] as const;

export function useResolveBreak() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { breakId: string; resolution: string; note: string; idempotencyKey: string }) =>
      (await callRpc(ReconService.method.resolveBreak, input)).break!,
    onSuccess: () => invalidate(queryClient, [ReconService.method.listBreaks, ReconService.method.getReconRun, ReconService.method.listReconRuns]),
  });
}

export function useUploadReport() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (input: { psp: string; fileName: string; content: Uint8Array; idempotencyKey: string }) =>
      (await callRpc(ReconService.method.uploadReport, input)).run!,
    onSuccess: () => invalidate(queryClient, [ReconService.method.listReconRuns]),
  });
}

export { Role };
