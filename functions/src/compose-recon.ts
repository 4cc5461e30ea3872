/**
 * Reconciliation's part of the composition root (kept beside compose.ts): the Firestore recon
 * store over the services' database, ledger and payments.
 */
import type { Firestore } from '@google-cloud/firestore';
import { createFirestoreReconStore } from './adapters/firestore/recon-store.js';
import type { LedgerDeps } from './app/ledger/ledger-use-cases.js';
import type { PaymentsDeps } from './app/payments/index.js';
import type { ReconDeps, ReconLimits } from './app/recon/run-recon.js';
import type { Clock } from './ports/clock.js';

/** Defaults: a payment settles within 3 days; 1,000 payments scanned for "missing in report"; 8 entries posted at once. */
export const defaultReconLimits: ReconLimits = { settlementWindowMs: 3 * 24 * 3_600_000, missingScanPaymentsMax: 1_000, postConcurrencyMax: 8 };

export function composeRecon(s: { db: Firestore; ledger: LedgerDeps; payments: PaymentsDeps; clock: Clock }, limits: Partial<ReconLimits> = {}): ReconDeps {
  return { store: createFirestoreReconStore(s.db), payments: s.payments.store, ledger: s.ledger, clock: s.clock, limits: { ...defaultReconLimits, ...limits } };
}
