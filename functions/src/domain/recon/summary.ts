/**
 * The running summary of a reconciliation: line counts by type, per-currency totals, payouts,
 * breaks by kind (the first few with their evidence) and self-check errors. Memory is bounded by
 * currencies, kinds and the evidence kept, never by the report's length (ADR 0033), except the
 * duplicate detector's 53-bit line fingerprints (8 bytes a line). Pure code, no I/O.
 */
import { type LineType, type ReportLine, lineTypes } from './report-line.js';
import type { SelfCheck } from './report-parser.js';

/** Every kind of break (a disagreement between the report, the ledger and Tally's records). */
export const breakKinds = [
  'missing_in_ledger', 'missing_in_report', 'amount_mismatch', 'fee_mismatch', 'currency_mismatch', 'duplicate_in_report', 'unknown_reference',
] as const;
export type BreakKind = (typeof breakKinds)[number];

/** A break with its evidence: what the report says and what Tally holds. */
export interface Break {
  readonly kind: BreakKind;
  /** Report line (0 for a break found in Tally's records, e.g. missing in report). */
  readonly line: number;
  readonly pspReference: string;
  readonly merchantReference: string;
  readonly currency: string;
  /** What the report says (minor units; 0 when absent). */
  readonly reportedMinor: bigint;
  /** What Tally holds (minor units; 0 when absent). */
  readonly expectedMinor: bigint;
  /** Tally's record (payment, refund, entry id) when there is one. */
  readonly tallyId: string;
  readonly detail: string;
}

/** Line types that are about one of Tally's payments (matched against its records). */
export const matchedTypes: ReadonlySet<LineType> = new Set(['payment', 'refund', 'chargeback', 'chargeback_reversal']);

/** Breaks kept with evidence in a summary; more are counted by kind. */
export const BREAKS_KEPT_MAX = 1_000;

export interface CurrencyTotals { grossMinor: bigint; feesMinor: bigint; netMinor: bigint }

/** A 53-bit fingerprint of a string (two 32-bit FNV-1a lanes): cheap set membership for a million keys. */
export function fingerprint53(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x01000193);
    b = Math.imul(b ^ ch, 0x5bd1e995);
  }
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) & 0x1fffff);
}

export class ReconSummary {
  lines = 0;
  readonly byType: Record<LineType, number> = Object.fromEntries(lineTypes.map((t) => [t, 0])) as Record<LineType, number>;
  readonly totals = new Map<string, CurrencyTotals>();
  readonly breaksByKind: Record<BreakKind, number> = Object.fromEntries(breakKinds.map((k) => [k, 0])) as Record<BreakKind, number>;
  readonly breaks: Break[] = [];
  selfCheck: SelfCheck = { payouts: [], errors: [] };
  private readonly seen = new Set<number>();

  private totalsOf(currency: string): CurrencyTotals {
    let t = this.totals.get(currency);
    if (!t) this.totals.set(currency, (t = { grossMinor: 0n, feesMinor: 0n, netMinor: 0n }));
    return t;
  }

  /**
   * Counts a line and finds what the report alone shows: a line seen before (same PSP references
   * and type: `duplicate_in_report`), and, where gross and net share a currency, fees that do not
   * account for gross - net (`fee_mismatch`). Returns false for a duplicate (it must not be matched again).
   */
  addLine(l: ReportLine): boolean {
    this.lines++;
    this.byType[l.type]++;
    this.totalsOf(l.grossCurrency).grossMinor += l.grossMinor;
    const t = this.totalsOf(l.currency);
    t.feesMinor += l.feesMinor;
    t.netMinor += l.netMinor;
    if (l.pspReference !== '' || l.modificationReference !== '') {
      const key = fingerprint53(`${l.rawType}\u0000${l.pspReference}\u0000${l.modificationReference}\u0000${l.payoutKey}`);
      if (this.seen.has(key)) {
        this.addBreak({ kind: 'duplicate_in_report', line: l.line, pspReference: l.pspReference, merchantReference: l.merchantReference,
          currency: l.currency, reportedMinor: l.netMinor, expectedMinor: 0n, tallyId: '', detail: `${l.rawType} ${l.modificationReference || l.pspReference} appears again` });
        return false;
      }
      this.seen.add(key);
    }
    if (matchedTypes.has(l.type) && l.grossCurrency === l.currency && l.grossMinor - l.feesMinor !== l.netMinor) {
      this.addBreak({ kind: 'fee_mismatch', line: l.line, pspReference: l.pspReference, merchantReference: l.merchantReference, currency: l.currency,
        reportedMinor: l.feesMinor, expectedMinor: l.grossMinor - l.netMinor, tallyId: '', detail: `fees ${l.feesMinor} do not account for gross ${l.grossMinor} - net ${l.netMinor}` });
    }
    return true;
  }

  addBreak(b: Break): void {
    this.breaksByKind[b.kind]++;
    if (this.breaks.length < BREAKS_KEPT_MAX) this.breaks.push(b);
  }

  /** True when the report passed its own control checks. */
  get selfCheckOk(): boolean {
    return this.selfCheck.errors.length === 0;
  }
}

/** The JSON summary (`tally recon run --json`): minor units as decimal strings (exact beyond 2^53, as proto3 JSON int64). */
export function summaryJson(s: ReconSummary, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const perCurrency = (pick: (t: CurrencyTotals) => bigint) =>
    Object.fromEntries([...s.totals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([c, t]) => [c, pick(t).toString()]));
  return {
    ...extra,
    lines: s.lines,
    byType: { ...s.byType },
    gross: perCurrency((t) => t.grossMinor),
    fees: perCurrency((t) => t.feesMinor),
    net: perCurrency((t) => t.netMinor),
    payouts: s.selfCheck.payouts.map((p) => ({
      ...(p.batch === undefined ? {} : { batch: p.batch }), ...(p.id === undefined ? {} : { id: p.id }),
      currency: p.currency, expected: p.expectedMinor.toString(), reported: p.reportedMinor.toString(), ok: p.ok,
    })),
    breaks: { ...s.breaksByKind },
    breakDetails: s.breaks.map((b) => ({ ...b, reportedMinor: b.reportedMinor.toString(), expectedMinor: b.expectedMinor.toString() })),
    selfCheckOk: s.selfCheckOk,
    errors: s.selfCheck.errors.map((e) => ({ ...e })),
  };
}
