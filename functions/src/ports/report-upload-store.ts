/**
 * Settlement reports uploaded through ReconService, kept until their run reads them (ADR 0033:
 * bounded chunk documents in Firestore; there is no Cloud Storage emulator here).
 */
import type { ReportPsp } from '../domain/recon/index.js';

export interface UploadedReport {
  readonly runId: string;
  readonly psp: ReportPsp;
  readonly fileName: string;
  /** SHA-256 of `content`, hex. */
  readonly sha256: string;
  readonly content: Uint8Array;
}

export interface ReportUploadStore {
  /** Stores the report under its run id (the same report stored twice is the same bytes: harmless). */
  save(tenantId: string, report: UploadedReport, nowMs: number): Promise<void>;
  /** The report, or undefined when none was uploaded for this run. Throws when its chunks do not add up (corruption). */
  load(tenantId: string, runId: string): Promise<UploadedReport | undefined>;
}
