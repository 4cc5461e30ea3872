/**
 * What reconciliation reads and writes besides the ledger: payments looked up by reference (in
 * batches), runs, breaks, and which payments a report matched (for "missing in report").
 */
import type { Break, BreakKind, PaymentView, ReportPsp } from '../domain/recon/index.js';
import type { Page } from './tenancy-repository.js';

/** A reference a line names: its PSP references and merchant reference. */
export interface LineReferences { pspReferences: readonly string[]; merchantReference: string }

export type BreakStatus = 'open' | 'healed' | 'resolved';

/** A break as stored: the evidence plus its run and status. Id `brk_<run key>_<line>_<kind>` (payment id for missing in report). */
export interface StoredBreak extends Break {
  readonly id: string;
  readonly runId: string;
  readonly psp: ReportPsp;
  readonly status: BreakStatus;
  /** How a reviewer resolved it ('' until resolved). */
  readonly resolution: string;
  readonly note: string;
  readonly createdAtMs: number;
  readonly resolvedAtMs: number | null;
}

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed';

/** A reconciliation run: one report for one tenant (id from the report's SHA-256: the same report is the same run). */
export interface ReconRun {
  readonly id: string;
  readonly tenantId: string;
  readonly psp: ReportPsp;
  readonly sha256: string;
  readonly fileName: string;
  readonly status: RunStatus;
  /** The JSON summary (`summaryJson`) once completed, '' before. */
  readonly summaryJson: string;
  /** Why it failed (`REPORT_MALFORMED: ...`), '' otherwise. */
  readonly error: string;
  /** Where the uploaded report is stored (the API's uploads), '' for a local file. */
  readonly reportPath: string;
  readonly createdAtMs: number;
  readonly completedAtMs: number | null;
  readonly breaksByKind: Readonly<Partial<Record<BreakKind, number>>>;
}

export interface ReconStore {
  /**
   * The tenant's payments the references name, keyed by every reference given that found one.
   * Merchant references are payment ids; PSP references go through the PSP reference index. A
   * payment of another tenant is never returned (the line is then an unknown reference).
   */
  findPayments(tenantId: string, psp: ReportPsp, refs: readonly LineReferences[]): Promise<Map<string, PaymentView>>;
  getRun(tenantId: string, runId: string): Promise<ReconRun | undefined>;
  /** Creates the run, or returns the existing one (false) without changing it. */
  createRun(run: ReconRun): Promise<{ run: ReconRun; created: boolean }>;
  updateRun(tenantId: string, runId: string, patch: Partial<Pick<ReconRun, 'status' | 'summaryJson' | 'error' | 'completedAtMs' | 'breaksByKind'>>): Promise<void>;
  listRuns(tenantId: string, pageSize: number, cursor: string | undefined): Promise<Page<ReconRun>>;
  /** Creates breaks that do not exist yet (by id); existing ones are left as they are (a rerun changes nothing). */
  saveBreaks(tenantId: string, breaks: readonly StoredBreak[]): Promise<void>;
  listBreaks(tenantId: string, filter: { status?: BreakStatus; runId?: string }, pageSize: number, cursor: string | undefined): Promise<Page<StoredBreak>>;
  getBreak(tenantId: string, breakId: string): Promise<StoredBreak | undefined>;
  /** Marks an open break resolved (transactionally); a resolved or healed one is returned unchanged. */
  resolveBreak(tenantId: string, breakId: string, resolution: string, note: string, nowMs: number): Promise<StoredBreak | undefined>;
  /** Records that these payments were seen settled by `psp` (idempotent). */
  markMatched(tenantId: string, psp: ReportPsp, paymentIds: readonly string[], runId: string): Promise<void>;
  /** Of these payment ids, those never seen in a report of `psp`. */
  unmatched(tenantId: string, psp: ReportPsp, paymentIds: readonly string[]): Promise<string[]>;
}
