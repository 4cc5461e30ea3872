/**
 * AnalyticsService for the console: every page of a period's rows (bounded), then summed per UTC
 * day in exact bigint minor units, per currency (amounts of different currencies never add up).
 */
import type { Ref } from 'vue';
import { useQuery } from '@tanstack/vue-query';
import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { AnalyticsService, type LedgerVolumeRow, type PaymentVolumeRow } from '@gen/tally/analytics/v1/analytics_pb';
import { callRpc } from '../rpc';
import { reactiveKey, requestOfKey, type QueryKey } from './keys';

/** Rows per page (the API allows 1..1000) and the most pages one report reads. */
export const analyticsPageSize = 1_000;
export const analyticsPagesMax = 10;
const dayMs = 86_400_000;

/** [start, end) in UTC whole days, ending tomorrow (UTC) so that today is included. */
export function periodRange(days: number, nowMs: number): { startMs: number; endMs: number } {
  const endMs = (Math.floor(nowMs / dayMs) + 1) * dayMs;
  return { startMs: endMs - days * dayMs, endMs };
}

async function allRows<Row>(
  fetchPage: (pageToken: string) => Promise<{ rows: Row[]; nextPageToken: string }>,
): Promise<{ rows: Row[]; truncated: boolean }> {
  const rows: Row[] = [];
  let pageToken = '';
  for (let page = 0; page < analyticsPagesMax; page++) {
    const res = await fetchPage(pageToken);
    rows.push(...res.rows);
    if (res.nextPageToken === '') return { rows, truncated: false };
    pageToken = res.nextPageToken;
  }
  // The bound was hit: say so on the page rather than showing a silently partial report.
  return { rows, truncated: true };
}

/** The report's request for a period ending now (recomputed when the period changes). */
function periodRequest(days: number) {
  const { startMs, endMs } = periodRange(days, Date.now());
  return { startTime: timestampFromMs(startMs), endTime: timestampFromMs(endMs) };
}

export function usePaymentVolume(days: Ref<number>) {
  const method = AnalyticsService.method.getPaymentVolume;
  return useQuery({
    queryKey: reactiveKey(method, () => periodRequest(days.value)),
    queryFn: async ({ queryKey }: { queryKey: QueryKey }) => {
      const request = requestOfKey(method, queryKey);
      return {
        startMs: timestampMs(request.startTime!), endMs: timestampMs(request.endTime!),
        ...(await allRows<PaymentVolumeRow>((pageToken) => callRpc(method, { ...request, pageSize: analyticsPageSize, pageToken }))),
      };
    },
  });
}

export function useLedgerVolume(days: Ref<number>) {
  const method = AnalyticsService.method.getLedgerVolume;
  return useQuery({
    queryKey: reactiveKey(method, () => periodRequest(days.value)),
    queryFn: ({ queryKey }: { queryKey: QueryKey }) =>
      allRows<LedgerVolumeRow>((pageToken) => callRpc(method, { ...requestOfKey(method, queryKey), pageSize: analyticsPageSize, pageToken })),
  });
}

/** Every UTC day `YYYY-MM-DD` of [startMs, endMs). */
export function daysOf(startMs: number, endMs: number): string[] {
  const days: string[] = [];
  for (let t = startMs; t < endMs && days.length < 400; t += dayMs) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

export interface DailySeries {
  currency: string;
  days: string[];
  capturedMinor: bigint[];
  refundedMinor: bigint[];
  paymentCount: bigint[];
  /** Authorized / attempted per day; null on a day without an attempt. */
  authorizationRate: (number | null)[];
}

/** The rows summed per day for one currency (exact: bigint sums; the rate as a ratio of counts). */
export function dailySeries(rows: readonly PaymentVolumeRow[], currency: string, days: readonly string[]): DailySeries {
  const index = new Map(days.map((d, i) => [d, i]));
  const zeros = () => days.map(() => 0n);
  const series = { captured: zeros(), refunded: zeros(), count: zeros(), attempts: zeros(), authorized: zeros() };
  for (const row of rows) {
    const i = index.get(row.day);
    if (i === undefined || row.currency !== currency) continue;
    series.captured[i]! += row.capturedAmountMinor;
    series.refunded[i]! += row.refundedAmountMinor;
    series.count[i]! += row.paymentCount;
    series.attempts[i]! += row.authorizationAttemptCount;
    series.authorized[i]! += row.authorizedCount;
  }
  return {
    currency, days: [...days], capturedMinor: series.captured, refundedMinor: series.refunded, paymentCount: series.count,
    // A display ratio of two counts (not money): a float is fine here.
    authorizationRate: series.attempts.map((a, i) => (a === 0n ? null : Number(series.authorized[i]!) / Number(a))),
  };
}

/** Payment counts per status over the period (for the status breakdown). */
export function countsByStatus(rows: readonly PaymentVolumeRow[], currency: string): { status: string; count: bigint }[] {
  const counts = new Map<string, bigint>();
  for (const row of rows) if (row.currency === currency) counts.set(row.status, (counts.get(row.status) ?? 0n) + row.paymentCount);
  return [...counts].map(([status, count]) => ({ status, count })).sort((a, b) => (a.count === b.count ? a.status.localeCompare(b.status) : a.count > b.count ? -1 : 1));
}

/** Currencies in the rows, most payments first. */
export function currenciesOf(rows: readonly PaymentVolumeRow[]): string[] {
  const counts = new Map<string, bigint>();
  for (const row of rows) counts.set(row.currency, (counts.get(row.currency) ?? 0n) + row.paymentCount);
  return [...counts].sort((a, b) => (a[1] === b[1] ? a[0].localeCompare(b[0]) : a[1] > b[1] ? -1 : 1)).map(([c]) => c);
}
