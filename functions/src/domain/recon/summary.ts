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

/** A 53-bit fingerprint of strings (two 32-bit FNV-1a-style lanes over each, with a separator): cheap set membership for millions of keys. */
export function fingerprint53(...parts: readonly string[]): number {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (const text of parts) {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      a = Math.imul(a ^ ch, 0x01000193);
      b = Math.imul(b ^ ch, 0x5bd1e995);
    }
    // The separator: ("ab", "c") and ("a", "bc") differ.
    a = Math.imul(a ^ 0x1f, 0x01000193);
    b = Math.imul(b ^ 0x1f, 0x5bd1e995);
  }
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) & 0x1fffff);
}

/**
 * A set of 53-bit fingerprints in one Float64Array (open addressing, linear probing, at most half
 * full): 16 bytes a key at worst, no object per key, so a million-line report's duplicate check
 * costs about 16 MB instead of a Set's 50 or more. Bounded by `FINGERPRINTS_MAX`.
 */
export class FingerprintSet {
  private slots = new Float64Array(1 << 16);
  private count = 0;

  /** Adds `fp`; false when it was already there. */
  add(fp: number): boolean {
    if (this.count * 2 >= this.slots.length) this.grow();
    // Stored + 1: 0 marks an empty slot.
    const stored = fp + 1;
    const mask = this.slots.length - 1;
    for (let i = fp % this.slots.length; ; i = (i + 1) & mask) {
      const v = this.slots[i]!;
      if (v === 0) {
        this.slots[i] = stored;
        this.count++;
        return true;
      }
      if (v === stored) return false;
    }
  }

  private grow(): void {
    if (this.slots.length * 2 > FINGERPRINTS_MAX * 2) throw new Error(`assertion failed: more than ${FINGERPRINTS_MAX} report lines to check for duplicates`);
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.count = 0;
    for (const v of old) if (v !== 0) this.add(v - 1);
  }
}

/** Most distinct lines one report may have (2^26, 67 million; PayPal caps its files at 1 million records). */
export const FINGERPRINTS_MAX = 1 << 26;

export class ReconSummary {
  lines = 0;
  readonly byType: Record<LineType, number> = Object.fromEntries(lineTypes.map((t) => [t, 0])) as Record<LineType, number>;
  readonly totals = new Map<string, CurrencyTotals>();
  readonly breaksByKind: Record<BreakKind, number> = Object.fromEntries(breakKinds.map((k) => [k, 0])) as Record<BreakKind, number>;
  readonly breaks: Break[] = [];
  selfCheck: SelfCheck = { payouts: [], errors: [] };
  private readonly seen = new FingerprintSet();

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
      if (!this.seen.add(fingerprint53(l.rawType, l.pspReference, l.modificationReference, l.payoutKey))) {
        this.addBreak({ kind: 'duplicate_in_report', line: l.line, pspReference: l.pspReference, merchantReference: l.merchantReference,
          currency: l.currency, reportedMinor: l.netMinor, expectedMinor: 0n, tallyId: '', detail: `${l.rawType} ${l.modificationReference || l.pspReference} appears again` });
        return false;
      }
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
