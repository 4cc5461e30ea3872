/**
 * Reconciliation: settlement reports of PSPs read into normalised lines, their own control checks,
 * and the summary and breaks of tying them out to Tally's records. Pure code, no I/O.
 */
import { createAdyenSettlementParser } from './adyen-settlement.js';
import { createPaypalStlParser } from './paypal-stl.js';
import type { ReportPsp } from './report-line.js';
import type { ReportParser } from './report-parser.js';
import { createStripePayoutReconParser } from './stripe-payout-recon.js';

export { type LineType, type ReportLine, type ReportPsp, lineTypes, reportPsps, reportMalformed, decimalMinor, ColumnMap } from './report-line.js';
export { type PayoutCheck, type ReportParser, type SelfCheck, type SelfCheckError, SELF_CHECK_ERRORS_KEPT_MAX } from './report-parser.js';
export { classifyAdyenType, createAdyenSettlementParser } from './adyen-settlement.js';
export { classifyStripeCategory, createStripePayoutReconParser, STRIPE_MERCHANT_REFERENCE_COLUMN } from './stripe-payout-recon.js';
export { classifyPaypalEventCode, createPaypalStlParser } from './paypal-stl.js';
export { type LineMatch, type Movement, type PaymentView, type ReconAccount, healedKinds, lineMovements, matchLine, move } from './match.js';
export { type Break, type BreakKind, type CurrencyTotals, BREAKS_KEPT_MAX, FINGERPRINTS_MAX, FingerprintSet, ReconSummary, breakKinds, fingerprint53, matchedTypes, summaryJson } from './summary.js';

/** The parser of one PSP's settlement report format; `file` names the input in errors. */
export function createReportParser(psp: ReportPsp, file: string): ReportParser {
  switch (psp) {
    case 'adyen': return createAdyenSettlementParser(file);
    case 'stripe': return createStripePayoutReconParser(file);
    case 'paypal': return createPaypalStlParser(file);
  }
}
