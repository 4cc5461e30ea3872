/**
 * A dry run: reads a report (streamed, in batches) into a summary and its own control checks,
 * touching nothing else.
 */
import { ReconSummary } from '../../domain/recon/index.js';
import type { ReportReading } from '../../ports/report-reading.js';

/** Progress of a long read: called after each batch. */
export type ReconProgress = (progress: { lines: number; bytes: number }) => void;

/** Parses and self-checks a report alone. Throws `REPORT_MALFORMED` for input it cannot read. */
export async function parseReport(reading: ReportReading, onProgress?: ReconProgress): Promise<ReconSummary> {
  const summary = new ReconSummary();
  for await (const batch of reading.batches) {
    for (const line of batch) summary.addLine(line);
    onProgress?.({ lines: summary.lines, bytes: reading.result.bytes });
  }
  summary.selfCheck = reading.result.selfCheck!;
  return summary;
}
