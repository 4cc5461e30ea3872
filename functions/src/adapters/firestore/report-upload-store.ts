/**
 * Uploaded reports in Firestore (ADR 0033): a header document `tenants/{t}/reconReports/{runId}`
 * and the bytes in `tenants/{t}/reconReportChunks/{runId}_{i}`, each at most `CHUNK_BYTES`
 * (Firestore documents hold at most 1 MiB), written in one batch so a report is there whole or not
 * at all. Reading checks the chunk count, length and SHA-256 against the header.
 */
import { createHash } from 'node:crypto';
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { assert } from '../../domain/errors.js';
import type { ReportPsp } from '../../domain/recon/index.js';
import type { ReportUploadStore } from '../../ports/report-upload-store.js';

/** Bytes per chunk document: below Firestore's 1 MiB document limit with room for the fields. */
export const CHUNK_BYTES = 512 * 1024;
/** Most chunks of one report (8 MiB): one batch write stays under Firestore's 10 MiB request limit. */
export const CHUNKS_MAX = 16;

export function createFirestoreReportUploadStore(db: Firestore): ReportUploadStore {
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const headerRef = (t: string, runId: string) => tenant(t).collection('reconReports').doc(runId);
  const chunkRef = (t: string, runId: string, i: number) => tenant(t).collection('reconReportChunks').doc(`${runId}_${i}`);
  return {
    async save(tenantId, report, nowMs) {
      const chunkCount = Math.ceil(report.content.length / CHUNK_BYTES);
      assert(chunkCount >= 1 && chunkCount <= CHUNKS_MAX, `report of ${report.content.length} bytes: 1..${CHUNKS_MAX} chunks of ${CHUNK_BYTES} bytes`);
      const batch = db.batch();
      for (let i = 0; i < chunkCount; i++) {
        batch.set(chunkRef(tenantId, report.runId, i), { tenantId, runId: report.runId, index: i, data: Buffer.from(report.content.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)) });
      }
      batch.set(headerRef(tenantId, report.runId), {
        tenantId, runId: report.runId, psp: report.psp, fileName: report.fileName, sha256: report.sha256, bytes: report.content.length, chunkCount, createdAt: Timestamp.fromMillis(nowMs),
      });
      await batch.commit();
    },

    async load(tenantId, runId) {
      const header = await headerRef(tenantId, runId).get();
      if (!header.exists) return undefined;
      const h = header.data() as { psp: ReportPsp; fileName: string; sha256: string; bytes: number | bigint; chunkCount: number | bigint };
      // Integers may come back as bigint (the client's useBigInt setting).
      const chunkCount = Number(h.chunkCount);
      assert(Number.isInteger(chunkCount) && chunkCount >= 1 && chunkCount <= CHUNKS_MAX, `reconReports/${runId}: bad chunk count ${chunkCount}`);
      const snaps = await db.getAll(...Array.from({ length: chunkCount }, (_, i) => chunkRef(tenantId, runId, i)));
      const content = Buffer.concat(snaps.map((s, i) => {
        assert(s.exists, `reconReportChunks/${runId}_${i} is missing`);
        return s.get('data') as Buffer;
      }));
      assert(content.length === Number(h.bytes) && createHash('sha256').update(content).digest('hex') === h.sha256, `reconReports/${runId}: stored bytes do not match their SHA-256`);
      return { runId, psp: h.psp, fileName: h.fileName, sha256: h.sha256, content };
    },
  };
}
