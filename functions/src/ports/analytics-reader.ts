/**
 * Reads merchant reports from the analytics store (ClickHouse, filled by analyticsSink). Every
 * query names exactly one tenant: the adapter never runs one without it.
 */

/** One group of payments created on one UTC day with the same status, currency and PSP. */
export interface PaymentVolumeRow {
  /** `YYYY-MM-DD`, UTC, of the payments' creation. */
  day: string;
  status: string;
  currency: string;
  /** '' when no PSP was reached. */
  psp: string;
  paymentCount: bigint;
  grossMinor: bigint;
  capturedMinor: bigint;
  refundedMinor: bigint;
  disputedMinor: bigint;
  feeMinor: bigint;
  /** Payments that reached an authorization decision (authorized, or declined). */
  authorizationAttempts: bigint;
  authorized: bigint;
}

/** Postings to one account in one currency. */
export interface LedgerVolumeRow {
  accountId: string;
  currency: string;
  debitMinor: bigint;
  creditMinor: bigint;
  postingCount: bigint;
}

export interface ReportQuery {
  tenantId: string;
  /** Inclusive. */
  startMs: number;
  /** Exclusive. */
  endMs: number;
  /** Rows to skip (the page's start in the report's fixed order). */
  offset: number;
  /** Most rows returned. */
  limit: number;
}

export interface ReportRows<Row> {
  rows: Row[];
  /** Time of the newest event the rows include (the tenant's sink watermark); null when none. */
  dataAsOfMs: number | null;
}

export interface AnalyticsReader {
  /** Rows ordered by day, currency, psp, status. */
  paymentVolume(query: ReportQuery): Promise<ReportRows<PaymentVolumeRow>>;
  /** Rows ordered by account id, currency. */
  ledgerVolume(query: ReportQuery): Promise<ReportRows<LedgerVolumeRow>>;
}
