/**
 * The dispatcher's delivery records on the real Firestore emulator (ADR 0034, group commit of ADR
 * 0016): records written while a commit is in flight leave together in one commit; a delivery
 * already recorded (a redelivered event) costs the others nothing - they are recorded, it reports
 * false and its stored record is untouched; with grouping off every record is its own commit.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { createFirestoreWebhooksStore } from '../functions/src/adapters/firestore/webhooks-store.js';
import type { WebhookDelivery } from '../functions/src/domain/webhooks/endpoint.js';
import { countFirestoreRpcs } from './support/firestore-rpcs.js';

const db = createFirestore(`demo-whrecords-${randomUUID().slice(0, 8)}`);
afterAll(async () => { await db.terminate(); });

const grouped = createFirestoreWebhooksStore(db, { recordGroupCommit: { groupsInFlightMax: 1, writesPerGroupMax: 200, waitingWritesMax: 10_000, stallMs: 10_000 } });
const alone = createFirestoreWebhooksStore(db);

function delivery(tenantId: string, n: number, status: WebhookDelivery['status'] = 'succeeded'): WebhookDelivery {
  return {
    id: `whd_${n}_${randomUUID().slice(0, 8)}`, tenantId, endpointId: 'we_1', eventId: `evt_${n}`, eventType: 'payment.created', body: `{"n":${n}}`,
    status, attempts: [{ atMs: 1_000, statusCode: 200, latencyMs: 3, error: '' }], nextAttemptAtMs: null, deadlineAtMs: 99_000, createdAtMs: 1_000, failureReason: '',
  };
}

describe('webhook delivery records (group commit)', () => {
  it('records of concurrent dispatches share commits: 50 records, far fewer commits, every one readable as written', async () => {
    const tenantId = `ten_${randomUUID().slice(0, 8)}`;
    const deliveries = Array.from({ length: 50 }, (_, n) => delivery(tenantId, n));
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(deliveries.map((d) => grouped.createDelivery(d))), db);
    expect(result).toEqual(deliveries.map(() => true));
    // The first leaves at once, alone; the 49 that arrived meanwhile leave together.
    expect(rpcs.commit).toBe(2);
    for (const d of deliveries) expect(await grouped.getDelivery(tenantId, d.id)).toEqual(d);
  });

  it('a delivery already recorded (a redelivered event) reports false and keeps its record; the rest of its group is recorded', async () => {
    const tenantId = `ten_${randomUUID().slice(0, 8)}`;
    const first = delivery(tenantId, 0, 'pending');
    expect(await grouped.createDelivery(first)).toBe(true);
    const others = Array.from({ length: 10 }, (_, n) => delivery(tenantId, n + 1));
    // The copy that finds it recorded arrives in the middle of a group.
    const again = { ...first, status: 'succeeded' as const };
    const results = await Promise.all([...others.slice(0, 5), again, ...others.slice(5)].map((d) => grouped.createDelivery(d)));
    expect(results).toEqual([true, true, true, true, true, false, true, true, true, true, true]);
    expect(await grouped.getDelivery(tenantId, first.id)).toEqual(first);
    for (const d of others) expect(await grouped.getDelivery(tenantId, d.id)).toEqual(d);
  });

  it('without grouping (TALLY_WEBHOOK_RECORD_GROUP_WRITES_MAX=0) each record is its own commit', async () => {
    const tenantId = `ten_${randomUUID().slice(0, 8)}`;
    const deliveries = Array.from({ length: 5 }, (_, n) => delivery(tenantId, n));
    const { result, rpcs } = await countFirestoreRpcs(() => Promise.all(deliveries.map((d) => alone.createDelivery(d))), db);
    expect(result).toEqual([true, true, true, true, true]);
    expect(rpcs.commit).toBe(5);
  });
});
