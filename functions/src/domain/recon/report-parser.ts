/**
 * The contract every settlement report format implements: fed the CSV records of a file one by
 * one (streaming; nothing but running totals is kept), it returns each data line normalised and,
 * at the end, the report's own control checks. Pure code, no I/O.
 */
import type { ReportLine } from './report-line.js';

/** A payout the report announces, checked against the lines it pays out. */
export interface PayoutCheck {
  /** Adyen batch number. */
  readonly batch?: string;
  /** Stripe automatic payout id. */
  readonly id?: string;
  readonly currency: string;
  /** What the lines paid out with it add up to (minor units). */
  readonly expectedMinor: bigint;
  /** What the report says was paid out (minor units). */
  readonly reportedMinor: bigint;
  readonly ok: boolean;
  /** Line of the payout record (Adyen's MerchantPayout line), 0 when the format has none. */
  readonly line: number;
}

/** A control check of the report that failed: the report disagrees with itself. */
export interface SelfCheckError {
  /** Which check: `line_arithmetic`, `payout_total`, `section_footer`, `report_footer`, `record_count`, `footer_missing`. */
  readonly check: string;
  readonly line: number;
  readonly message: string;
}

/** The report's own checks, after the last record. */
export interface SelfCheck {
  readonly payouts: readonly PayoutCheck[];
  readonly errors: readonly SelfCheckError[];
}

/** Most self-check errors kept in full; more are counted (`SelfCheck` stays bounded on a broken million-line file). */
export const SELF_CHECK_ERRORS_KEPT_MAX = 1_000;

export interface ReportParser {
  /** One CSV record ending at 1-based `line`: its data line, or null for a header, footer or blank record. Throws `REPORT_MALFORMED`. */
  record(fields: readonly string[], line: number): ReportLine | null;
  /** After the last record. Throws `REPORT_MALFORMED` when the file ended before its header. */
  finish(): SelfCheck;
}

/** Collects self-check errors up to a bound, counting the rest. */
export class SelfCheckErrors {
  readonly kept: SelfCheckError[] = [];
  dropped = 0;
  add(error: SelfCheckError): void {
    if (this.kept.length < SELF_CHECK_ERRORS_KEPT_MAX) this.kept.push(error);
    else this.dropped++;
  }
  list(): SelfCheckError[] {
    return this.dropped === 0 ? this.kept : [...this.kept, { check: 'errors_truncated', line: 0, message: `${this.dropped} more self-check errors not listed` }];
  }
}
