/**
 * A reconciliation run: a settlement report (streamed in batches) matched line by line against the
 * tenant's payments and ledger, PSP fees, FX, payouts and corrections posted as their own ledger
 * entries, breaks recorded with their evidence.
 *
 * Idempotent by report hash + line: the run id, every entry id and every break id derive from the
 * report's SHA-256 and the line, so a rerun (the same report uploaded again, a redelivered message,
 * a crash halfway) replays entries (the ledger returns the stored one), leaves existing breaks as
 * they are, and a completed run answers its stored summary without reading the report again.
 */
import { TallyError } from '../../domain/errors.js';
import { createAccount as createAccountDomain } from '../../domain/ledger/index.js';
import type { EntryInput } from '../../domain/ledger/index.js';
import { paymentAccountIdOf, pspReceivableCode } from '../../domain/payments/ledger-postings.js';
import { pspNames, type PspName } from '../../domain/payments/psp-vocabulary.js';
import {
  type Break, type Movement, type PaymentView, type ReconAccount, type ReportLine, type ReportPsp, ReconSummary, fingerprint53,
  healedKinds, matchLine, matchedTypes, move, summaryJson,
} from '../../domain/recon/index.js';
import type { Clock } from '../../ports/clock.js';
import type { PaymentsStore } from '../../ports/payments-store.js';
import type { ReconRun, ReconStore, StoredBreak } from '../../ports/recon-store.js';
import type { ReportReading } from '../../ports/report-reading.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { type LedgerDeps, planEntry } from '../ledger/ledger-use-cases.js';
import { RECON_ACCOUNT_ID_PREFIX, RECON_ENTRY_FAMILY } from '../../domain/recon/ledger-namespace.js';
import type { ReconProgress } from './parse-report.js';

export interface ReconLimits {
  /** A payment captured longer ago than this and in no report is "missing in report". */
  settlementWindowMs: number;
  /** Most payments one run scans for "missing in report" (newest first); reaching it is reported. */
  missingScanPaymentsMax: number;
  /** Ledger entries posted at once per batch. */
  postConcurrencyMax: number;
}

export interface ReconDeps {
  store: ReconStore;
  payments: Pick<PaymentsStore, 'listPayments'>;
  ledger: LedgerDeps;
  clock: Clock;
  limits: ReconLimits;
}

export interface ReconRunInput {
  tenantId: string;
  psp: ReportPsp;
  /** SHA-256 (hex) of the report's bytes: the run's identity. */
  sha256: string;
  fileName: string;
  /** Opens the report for reading (not called when the run already completed). */
  open: () => ReportReading;
  /** Match and report, write nothing (no entries, breaks or run). */
  dryRun: boolean;
  reportPath?: string;
  trace: TraceIds;
}

export interface ReconRunResult {
  run: ReconRun | null;
  summary: Record<string, unknown>;
  /** True when a completed run with this report existed: nothing was read or written. */
  replayed: boolean;
}

/** The run id of a report: `rcn_` + its SHA-256's first 32 hex digits. */
export const runIdOf = (sha256: string): string => `rcn_${sha256.slice(0, 32)}`;
const runKeyOf = (sha256: string): string => sha256.slice(0, 24);

const reconAccountTypes: Readonly<Record<Exclude<ReconAccount, 'psp_receivable'>, 'expense' | 'asset'>> = {
  psp_fees: 'expense', fx_clearing: 'asset', bank: 'asset', recon_adjustments: 'expense',
};

/** Ledger account id of a recon account of a PSP in a currency. The receivable is the payments path's own. */
export function reconAccountIdOf(account: ReconAccount, psp: ReportPsp, currency: string): string {
  if (account === 'psp_receivable' && (pspNames as readonly string[]).includes(psp)) return paymentAccountIdOf(pspReceivableCode(psp as PspName), currency);
  return `${RECON_ACCOUNT_ID_PREFIX}${account}_${psp}_${currency}`;
}

async function ensureAccounts(deps: ReconDeps, tenantId: string, psp: ReportPsp, currency: string, ensured: Set<string>): Promise<void> {
  if (ensured.has(currency)) return;
  const accounts: [ReconAccount, string, 'expense' | 'asset'][] = [
    ...Object.entries(reconAccountTypes).map(([a, type]) => [a as ReconAccount, `${a}:${psp}:${currency}`, type] as [ReconAccount, string, 'expense' | 'asset']),
    // The same definition as the payments path's (payment-accounts.ts): creating it first is harmless.
    ['psp_receivable', (pspNames as readonly string[]).includes(psp) ? `${pspReceivableCode(psp as PspName)}:${currency}` : `psp_receivable:${psp}:${currency}`, 'asset'],
  ];
  for (const [account, code, type] of accounts) {
    await deps.ledger.store.createAccount(createAccountDomain(
      { code, name: `${code.replace(/:/g, ' ')}`, currency, type, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: 4 },
      { id: reconAccountIdOf(account, psp, currency), tenantId, createdAtMs: deps.clock.nowMs() },
    ));
  }
  ensured.add(currency);
}

function entryOf(psp: ReportPsp, runKey: string, where: string, m: Movement, metadata: Record<string, string>): EntryInput {
  return {
    id: `je_${RECON_ENTRY_FAMILY}_${runKey}_${where}_${m.part}`,
    postings: [
      { accountId: reconAccountIdOf(m.debit, psp, m.currency), direction: 'debit', amountMinor: m.amountMinor, currency: m.currency },
      { accountId: reconAccountIdOf(m.credit, psp, m.currency), direction: 'credit', amountMinor: m.amountMinor, currency: m.currency },
    ],
    description: `${m.what} ${m.ref}`.trim().slice(0, 500),
    metadata,
  };
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
async function forEachBounded<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

function storedBreak(b: Break, id: string, runId: string, psp: ReportPsp, nowMs: number): StoredBreak {
  return { ...b, id, runId, psp, status: healedKinds.has(b.kind) ? 'healed' : 'open', resolution: '', note: '', createdAtMs: nowMs, resolvedAtMs: null };
}

const refsOf = (l: ReportLine) => ({ pspReferences: [l.pspReference, ...l.altReferences].filter((r) => r !== ''), merchantReference: l.merchantReference });

function viewFor(l: ReportLine, found: Map<string, PaymentView>): PaymentView | undefined {
  const byMerchant = l.merchantReference === '' ? undefined : found.get(l.merchantReference);
  if (byMerchant) return byMerchant;
  const byPsp = l.pspReference === '' ? undefined : found.get(l.pspReference);
  if (byPsp) return byPsp;
  for (const r of l.altReferences) {
    const v = r === '' ? undefined : found.get(r);
    if (v) return v;
  }
  return undefined;
}

/**
 * Reconciles one report for one tenant. Throws `REPORT_MALFORMED` (nothing of a malformed report
 * is kept beyond the lines already applied, which a corrected rerun would not replay: a corrected
 * report has another hash; the failed run says where it stopped).
 */
export async function runRecon(deps: ReconDeps, input: ReconRunInput, onProgress?: ReconProgress): Promise<ReconRunResult> {
  const { tenantId, psp, sha256 } = input;
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new TallyError('FIELD_INVALID', 'sha256: must be 64 lower-case hex digits', { field: 'sha256' });
  const runId = runIdOf(sha256);
  const runKey = runKeyOf(sha256);
  const nowMs = deps.clock.nowMs();
  let run: ReconRun | null = null;
  if (!input.dryRun) {
    const created = await deps.store.createRun({
      id: runId, tenantId, psp, sha256, fileName: input.fileName, status: 'running', summaryJson: '', error: '',
      reportPath: input.reportPath ?? '', createdAtMs: nowMs, completedAtMs: null, breaksByKind: {},
    });
    run = created.run;
    if (!created.created && run.status === 'completed') return { run, summary: JSON.parse(run.summaryJson) as Record<string, unknown>, replayed: true };
    if (!created.created && run.psp !== psp) throw new TallyError('FIELD_INVALID', `this report was already run as a ${run.psp} report (${runId})`, { field: 'psp', runId });
    if (!created.created) await deps.store.updateRun(tenantId, runId, { status: 'running' });
  }
  const summary = new ReconSummary();
  const ensured = new Set<string>();
  let healed = 0;
  let awaitingReview = 0;
  let movementsPlanned = 0;
  const reading = input.open();
  const metadata = { reconRunId: runId, psp };

  const post = async (entries: EntryInput[], currencies: Iterable<string>) => {
    if (input.dryRun) return;
    for (const c of currencies) await ensureAccounts(deps, tenantId, psp, c, ensured);
    await forEachBounded(entries, deps.limits.postConcurrencyMax, (entry) => deps.ledger.lanes.withLane((lane) => deps.ledger.store.transaction(tenantId, async (tx) => {
      const plan = await planEntry(deps.ledger, tx, lane, tenantId, entry, input.trace);
      plan.commit();
    })));
  };
  const keepBreaks = async (breaks: StoredBreak[]) => {
    for (const b of breaks) {
      if (b.status === 'healed') healed++;
      else awaitingReview++;
    }
    if (!input.dryRun && breaks.length > 0) await deps.store.saveBreaks(tenantId, breaks);
  };

  try {
    for await (const batch of reading.batches) {
      const fresh: ReportLine[] = [];
      const batchBreaks: StoredBreak[] = [];
      const before = summary.breaks.length;
      const countsBefore = { ...summary.breaksByKind };
      for (const l of batch) if (summary.addLine(l)) fresh.push(l);
      // Breaks the report alone shows (duplicates, fee itemisation), with their ids.
      for (const b of summary.breaks.slice(before)) batchBreaks.push(storedBreak(b, `brk_${runKey}_${b.line}_${b.kind}`, runId, psp, nowMs));
      const lostEvidence = Object.entries(summary.breaksByKind).reduce((n, [k, v]) => n + v - countsBefore[k as Break['kind']], 0) - (summary.breaks.length - before);
      awaitingReview += Math.max(0, lostEvidence);
      const toMatch = fresh.filter((l) => matchedTypes.has(l.type));
      const found = toMatch.length === 0 ? new Map<string, PaymentView>() : await deps.store.findPayments(tenantId, psp, toMatch.map(refsOf));
      const entries: EntryInput[] = [];
      const currencies = new Set<string>();
      const matched: string[] = [];
      for (const l of fresh) {
        const m = matchLine(l, viewFor(l, found));
        for (const b of m.breaks) {
          summary.addBreak(b);
          batchBreaks.push(storedBreak(b, `brk_${runKey}_${b.line}_${b.kind}`, runId, psp, nowMs));
        }
        if (m.paymentId !== '') matched.push(m.paymentId);
        movementsPlanned += m.movements.length;
        // A dry run plans the movements (above) and builds no entries: nothing will be posted.
        if (input.dryRun) continue;
        for (const mv of m.movements) {
          currencies.add(mv.currency);
          entries.push(entryOf(psp, runKey, String(l.line), mv, { ...metadata, line: String(l.line), pspReference: l.pspReference.slice(0, 500) }));
        }
      }
      await post(entries, currencies);
      await keepBreaks(batchBreaks);
      if (!input.dryRun && matched.length > 0) await deps.store.markMatched(tenantId, psp, [...new Set(matched)], runId);
      onProgress?.({ lines: summary.lines, bytes: reading.result.bytes });
    }
    summary.selfCheck = reading.result.selfCheck!;
    // Stripe's payouts are not lines: each payout moves its net from the receivable to the bank.
    if (psp === 'stripe') {
      const payouts = summary.selfCheck.payouts.flatMap((p) => move('po', 'bank', 'psp_receivable', p.reportedMinor, p.currency, 'payout', p.id ?? '')
        .map((mv) => entryOf(psp, runKey, `p${fingerprint53(p.id ?? '', p.currency).toString(36)}`, mv, { ...metadata, payoutId: p.id ?? '' })));
      await post(payouts, new Set(summary.selfCheck.payouts.map((p) => p.currency)));
    }
    const missing = await missingInReport(deps, input, runId, nowMs);
    for (const b of missing.breaks) summary.addBreak(b);
    await keepBreaks(missing.breaks);
    const json = summaryJson(summary, {
      psp, report: input.fileName, sha256, runId, dryRun: input.dryRun, tenantId, healed, awaitingReview, ledgerMovements: movementsPlanned,
      missingInReportScan: { scanned: missing.scanned, bounded: missing.bounded },
    });
    if (!input.dryRun) {
      await deps.store.updateRun(tenantId, runId, {
        status: 'completed', summaryJson: JSON.stringify(json), completedAtMs: deps.clock.nowMs(), breaksByKind: { ...summary.breaksByKind },
      });
      run = (await deps.store.getRun(tenantId, runId)) ?? run;
    }
    return { run, summary: json, replayed: false };
  } catch (error) {
    if (!input.dryRun && error instanceof TallyError) {
      await deps.store.updateRun(tenantId, runId, { status: 'failed', error: `${error.reason}: ${error.message}`.slice(0, 1000), completedAtMs: deps.clock.nowMs() });
    }
    throw error;
  }
}

/**
 * Payments of the tenant captured through this PSP longer ago than the settlement window that no
 * report of the PSP has named. Scans the newest payments first, at most `missingScanPaymentsMax`
 * (`bounded` says the bound was reached: older payments were not checked by this run).
 */
async function missingInReport(deps: ReconDeps, input: ReconRunInput, runId: string, nowMs: number)
  : Promise<{ breaks: StoredBreak[]; scanned: number; bounded: boolean }> {
  const cutoffMs = nowMs - deps.limits.settlementWindowMs;
  const candidates: { id: string; currency: string; amountMinor: bigint }[] = [];
  let scanned = 0;
  let cursor: string | undefined;
  let bounded = false;
  // Bounded by missingScanPaymentsMax / 100 pages.
  while (scanned < deps.limits.missingScanPaymentsMax) {
    const page = await deps.payments.listPayments(input.tenantId, 100, cursor);
    for (const p of page.items) {
      scanned++;
      if (p.psp === input.psp && p.amountCapturedMinor > 0n && p.createdAtMs <= cutoffMs) candidates.push({ id: p.id, currency: p.currency, amountMinor: p.amountCapturedMinor });
    }
    cursor = page.nextCursor;
    if (cursor === undefined) break;
    if (scanned >= deps.limits.missingScanPaymentsMax) bounded = true;
  }
  if (candidates.length === 0) return { breaks: [], scanned, bounded };
  const unmatched = new Set(await deps.store.unmatched(input.tenantId, input.psp, candidates.map((c) => c.id)));
  const breaks = candidates.filter((c) => unmatched.has(c.id)).map((c) => storedBreak({
    kind: 'missing_in_report', line: 0, pspReference: '', merchantReference: c.id, currency: c.currency, reportedMinor: 0n, expectedMinor: c.amountMinor,
    tallyId: c.id, detail: `captured more than ${Math.round(deps.limits.settlementWindowMs / 3_600_000)} h ago, in no ${input.psp} settlement report`,
  }, `brk_mir_${input.psp}_${c.id}`, runId, input.psp, nowMs));
  return { breaks, scanned, bounded };
}
