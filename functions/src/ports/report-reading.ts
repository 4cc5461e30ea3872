/**
 * A settlement report being read: its data lines in bounded batches (streamed; the whole file is
 * never in memory), and once they are consumed, the report's own checks and identity.
 */
import type { ReportLine, SelfCheck } from '../domain/recon/index.js';

export interface ReportReadResult {
  /** The report's control checks; null until every batch was consumed. */
  selfCheck: SelfCheck | null;
  /** SHA-256 of the file's bytes (hex): the report's identity for idempotent runs. */
  sha256: string;
  bytes: number;
  /** CSV records read, headers and footers included. */
  records: number;
}

export interface ReportReading {
  /** The data lines, in batches. Throws `REPORT_MALFORMED` (TallyError) for input that cannot be read. */
  readonly batches: AsyncIterable<ReportLine[]>;
  /** Filled when `batches` completes. */
  readonly result: ReportReadResult;
}
