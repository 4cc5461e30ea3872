/**
 * Reconciliation on Firestore, under `tenants/{t}/`: `reconRuns/{runId}`, `reconBreaks/{breakId}`,
 * `reconMatches/{psp}:{paymentId}` (a payment a report of that PSP named). Payments are read from
 * `payments/{id}` by merchant reference (our payment id) and through the top-level
 * `pspReferences/{psp}:{ref}` index, with one `getAll` per batch of lines (bounded by the batch).
 */
import { Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import type { PaymentIntent } from '../../domain/payments/index.js';
import type { PaymentView } from '../../domain/recon/index.js';
import type { ReconRun, ReconStore, StoredBreak } from '../../ports/recon-store.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';
import { fromJsonWithBigint } from './json-bigint.js';
import { isAlreadyExists } from './run-transaction.js';

/** Most documents one `getAll` or batch write touches. */
const DOCS_PER_CALL_MAX = 500;
const paymentIdShape = /^pay_[A-Za-z0-9_-]{1,64}$/;

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

function viewOf(intent: PaymentIntent): PaymentView {
  return {
    paymentId: intent.id, currency: intent.currency, amountCapturedMinor: intent.amountCapturedMinor,
    refundsMinor: intent.refunds.filter((r) => r.status === 'succeeded').map((r) => r.amountMinor),
    chargebackMinor: intent.chargeback?.amountMinor ?? null, disputeStatus: intent.dispute?.status ?? null,
  };
}

const runOf = (d: DocumentData): ReconRun => ({
  id: d.id as string, tenantId: d.tenantId as string, psp: d.psp as ReconRun['psp'], sha256: d.sha256 as string, fileName: d.fileName as string,
  status: d.status as ReconRun['status'], summaryJson: (d.summaryJson as string) ?? '', error: (d.error as string) ?? '', reportPath: (d.reportPath as string) ?? '',
  createdAtMs: (d.createdAt as Timestamp).toMillis(), completedAtMs: d.completedAt ? (d.completedAt as Timestamp).toMillis() : null,
  // useBigInt: Firestore integers read as bigint.
  breaksByKind: Object.fromEntries(Object.entries((d.breaksByKind as Record<string, unknown>) ?? {}).map(([k, v]) => [k, Number(v)])),
});

const breakOf = (d: DocumentData): StoredBreak => ({
  id: d.id as string, runId: d.runId as string, psp: d.psp as StoredBreak['psp'], kind: d.kind as StoredBreak['kind'], line: Number(d.line),
  pspReference: d.pspReference as string, merchantReference: d.merchantReference as string, currency: d.currency as string,
  reportedMinor: BigInt(d.reportedMinor as string), expectedMinor: BigInt(d.expectedMinor as string), tallyId: d.tallyId as string, detail: d.detail as string,
  status: d.status as StoredBreak['status'], resolution: (d.resolution as string) ?? '', note: (d.note as string) ?? '',
  createdAtMs: (d.createdAt as Timestamp).toMillis(), resolvedAtMs: d.resolvedAt ? (d.resolvedAt as Timestamp).toMillis() : null,
});

export function createFirestoreReconStore(db: Firestore): ReconStore {
  const tenant = (t: string) => db.collection('tenants').doc(t);
  const runRef = (t: string, id: string) => tenant(t).collection('reconRuns').doc(id);
  const breakRef = (t: string, id: string) => tenant(t).collection('reconBreaks').doc(id);
  const matchRef = (t: string, psp: string, paymentId: string) => tenant(t).collection('reconMatches').doc(`${psp}:${paymentId}`);

  return {
    async findPayments(tenantId, psp, refs) {
      const found = new Map<string, PaymentView>();
      const byPaymentId = new Map<string, string[]>();
      const want = (paymentId: string, ref: string) => byPaymentId.set(paymentId, [...(byPaymentId.get(paymentId) ?? []), ref]);
      for (const r of refs) if (paymentIdShape.test(r.merchantReference)) want(r.merchantReference, r.merchantReference);
      // PSP references only for lines whose merchant reference is not a payment id of ours.
      const pspRefs = [...new Set(refs.filter((r) => !paymentIdShape.test(r.merchantReference)).flatMap((r) => r.pspReferences))];
      for (const part of chunks(pspRefs, DOCS_PER_CALL_MAX)) {
        const snaps = await db.getAll(...part.map((ref) => db.collection('pspReferences').doc(`${psp}:${encodeURIComponent(ref)}`)));
        snaps.forEach((s, i) => {
          // Another tenant's payment is not this tenant's: the line stays an unknown reference.
          if (s.exists && s.get('tenantId') === tenantId) want(s.get('paymentId') as string, part[i]!);
        });
      }
      const ids = [...byPaymentId.keys()];
      for (const part of chunks(ids, DOCS_PER_CALL_MAX)) {
        const snaps = await db.getAll(...part.map((id) => tenant(tenantId).collection('payments').doc(id)));
        for (const s of snaps) {
          if (!s.exists) continue;
          const view = viewOf(fromJsonWithBigint<PaymentIntent>(s.get('state') as string));
          for (const ref of byPaymentId.get(s.id) ?? []) found.set(ref, view);
        }
      }
      return found;
    },

    async getRun(tenantId, runId) {
      const s = await runRef(tenantId, runId).get();
      return s.exists ? runOf(s.data()!) : undefined;
    },

    async createRun(run) {
      try {
        const { createdAtMs, completedAtMs: _completed, ...fields } = run;
        await runRef(run.tenantId, run.id).create({ ...fields, createdAt: Timestamp.fromMillis(createdAtMs), completedAt: null });
        return { run, created: true };
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
        const s = await runRef(run.tenantId, run.id).get();
        return { run: runOf(s.data()!), created: false };
      }
    },

    async updateRun(tenantId, runId, patch) {
      const { completedAtMs, ...rest } = patch;
      await runRef(tenantId, runId).update({ ...rest, ...(completedAtMs === undefined ? {} : { completedAt: completedAtMs === null ? null : Timestamp.fromMillis(completedAtMs) }) });
    },

    async listRuns(tenantId, pageSize, cursor) {
      let q = tenant(tenantId).collection('reconRuns').orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
      if (cursor) {
        const parts = decodePageToken(cursor, ['int', 'id']);
        q = q.startAfter(Timestamp.fromMillis(parts[0] as number), runRef(tenantId, parts[1] as string));
      }
      const snap = await q.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => runOf(d.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.size > pageSize && last ? encodePageToken([last.createdAtMs, last.id]) : undefined };
    },

    async saveBreaks(tenantId, breaks) {
      for (const part of chunks(breaks, DOCS_PER_CALL_MAX)) {
        // create: an existing break (a rerun, or reviewed since) is never overwritten.
        const results = await Promise.allSettled(part.map(({ createdAtMs, resolvedAtMs: _resolved, ...b }) => breakRef(tenantId, b.id).create({
          ...b, tenantId, reportedMinor: b.reportedMinor.toString(), expectedMinor: b.expectedMinor.toString(),
          createdAt: Timestamp.fromMillis(createdAtMs), resolvedAt: null,
        })));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isAlreadyExists(r.reason));
        if (failed) throw failed.reason;
      }
    },

    async listBreaks(tenantId, filter, pageSize, cursor) {
      let q = tenant(tenantId).collection('reconBreaks').orderBy('__name__');
      if (filter.status) q = q.where('status', '==', filter.status);
      if (filter.runId) q = q.where('runId', '==', filter.runId);
      if (cursor) q = q.startAfter(breakRef(tenantId, decodePageToken(cursor, ['id'])[0] as string));
      const snap = await q.limit(pageSize + 1).get();
      const items = snap.docs.slice(0, pageSize).map((d) => breakOf(d.data()));
      const last = items.at(-1);
      return { items, nextCursor: snap.size > pageSize && last ? encodePageToken([last.id]) : undefined };
    },

    async getBreak(tenantId, breakId) {
      const s = await breakRef(tenantId, breakId).get();
      return s.exists ? breakOf(s.data()!) : undefined;
    },

    async resolveBreak(tenantId, breakId, resolution, note, nowMs) {
      return db.runTransaction(async (tx) => {
        const s = await tx.get(breakRef(tenantId, breakId));
        if (!s.exists) return undefined;
        const b = breakOf(s.data()!);
        if (b.status !== 'open') return b;
        tx.update(s.ref, { status: 'resolved', resolution, note, resolvedAt: Timestamp.fromMillis(nowMs) });
        return { ...b, status: 'resolved' as const, resolution, note, resolvedAtMs: nowMs };
      });
    },

    async markMatched(tenantId, psp, paymentIds, runId) {
      for (const part of chunks(paymentIds, DOCS_PER_CALL_MAX)) {
        const batch = db.batch();
        // set with merge: idempotent; the first run that matched stays in firstRunId.
        for (const id of part) batch.set(matchRef(tenantId, psp, id), { psp, paymentId: id, lastRunId: runId }, { merge: true });
        await batch.commit();
      }
    },

    async unmatched(tenantId, psp, paymentIds) {
      const out: string[] = [];
      for (const part of chunks(paymentIds, DOCS_PER_CALL_MAX)) {
        const snaps = await db.getAll(...part.map((id) => matchRef(tenantId, psp, id)));
        snaps.forEach((s, i) => { if (!s.exists) out.push(part[i]!); });
      }
      return out;
    },
  };
}
