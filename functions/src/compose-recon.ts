/**
 * Reconciliation's part of the composition root (kept beside compose.ts): the Firestore recon
 * store over the services' database, ledger and payments; ReconService's uploads and topic.
 */
import { Readable } from 'node:stream';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestoreReconStore } from './adapters/firestore/recon-store.js';
import { CHUNKS_MAX, CHUNK_BYTES, createFirestoreReportUploadStore } from './adapters/firestore/report-upload-store.js';
import { openReport } from './adapters/recon/report-file.js';
import type { LedgerDeps } from './app/ledger/ledger-use-cases.js';
import type { PaymentsDeps } from './app/payments/index.js';
import { type ReconServiceDeps } from './app/recon/recon-requests.js';
import type { ReconDeps, ReconLimits } from './app/recon/run-recon.js';
import type { Clock } from './ports/clock.js';
import type { EventBus } from './ports/event-bus.js';

/** Defaults: a payment settles within 3 days; 1,000 payments scanned for "missing in report"; 8 entries posted at once. */
export const defaultReconLimits: ReconLimits = { settlementWindowMs: 3 * 24 * 3_600_000, missingScanPaymentsMax: 1_000, postConcurrencyMax: 8 };

export function composeRecon(s: { db: Firestore; ledger: LedgerDeps; payments: PaymentsDeps; clock: Clock }, limits: Partial<ReconLimits> = {}): ReconDeps {
  return { store: createFirestoreReconStore(s.db), payments: s.payments.store, ledger: s.ledger, clock: s.clock, limits: { ...defaultReconLimits, ...limits } };
}

/**
 * Most bytes of an uploaded report: what fits in the API's request body limit as base64 (the
 * Connect JSON encoding of `bytes`) with 16 KiB for the rest of the request, at most what the
 * upload store keeps (8 MiB). The default 256 KiB body limit gives 180 KiB.
 */
export function reconUploadBytesMaxOf(requestBodyBytesMax: number): number {
  return Math.max(1, Math.min(CHUNK_BYTES * CHUNKS_MAX, Math.floor(((requestBodyBytesMax - 16 * 1024) * 3) / 4)));
}

/** ReconService and `reconRun`: uploads in Firestore chunks, runs announced on `recon-requests`. */
export function composeReconService(s: { db: Firestore; ledger: LedgerDeps; payments: PaymentsDeps; clock: Clock; bus: EventBus }, options: { limits?: Partial<ReconLimits>; uploadBytesMax?: number } = {}): ReconServiceDeps {
  return {
    recon: composeRecon(s, options.limits),
    uploads: createFirestoreReportUploadStore(s.db),
    bus: s.bus,
    uploadBytesMax: options.uploadBytesMax ?? reconUploadBytesMaxOf(256 * 1024),
    read: (content, psp, fileName) => openReport(Readable.from([Buffer.from(content)]), psp, { fileName }),
  };
}
