/**
 * Payments that keep moving (issue 11 items 1, 11, 12): a PSP outcome whose ledger entry cannot be
 * written is still recorded (with an anomaly), a cold tenant's first burst of checkouts does not
 * stampede its account provisioning, and queues of never-matching work never block the head.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Timestamp } from '@google-cloud/firestore';
import { parkedEventRetentionMs, paymentAccountId, paymentAnomalyMessage, processInboxEvent, rematchParkedEvents, runJanitor } from '../functions/src/app/payments/index.js';
import type { PspWebhookEvent } from '../functions/src/domain/payments/psp-vocabulary.js';
import { planEntry } from '../functions/src/app/ledger/ledger-use-cases.js';
import { CaptureMethod } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { Code, rpcError } from './support/connect-error.js';
import { eventually } from './support/eventually.js';
import { outboxEventsOf } from './support/outbox-events.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

async function balanceOf(tenantId: string, code: Parameters<typeof paymentAccountId>[0], currency = 'EUR') {
  const { getBalance } = await import('../functions/src/app/ledger/ledger-use-cases.js');
  return (await getBalance(env.stack.services.ledger, tenantId, paymentAccountId(code, currency), null)).balance;
}

describe('a cold tenant\'s first burst of checkouts (item 11)', () => {
  it('a burst of concurrent first one-call checkouts on a fresh tenant: each succeeds or answers a typed retryable error (never internal), each charged once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
    const n = 60;
    const results = await Promise.all(Array.from({ length: n }, () =>
      owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })
        .then((r) => ({ ok: r.payment! }), async (error: unknown) => ({ error: await rpcError(Promise.reject(error)) }))));
    // Under load on this machine a checkout may be shed (contention, the PSP's limiter or breaker):
    // typed and retryable, never internal (the account provisioning stampede answered internal).
    const retryable = [{ code: 'Aborted', reason: 'CONTENTION' }, { code: 'Unavailable', reason: 'PSP_UNAVAILABLE' }];
    for (const r of results) if ('error' in r) expect(retryable, r.error.message).toContainEqual({ code: Code[r.error.code], reason: r.error.reason });
    const succeeded = results.flatMap((r) => ('ok' in r ? [r.ok] : []));
    expect(succeeded.length).toBeGreaterThan(n / 2);
    // A PSP call that timed out under the load answers PROCESSING: its webhook or the janitor settles it.
    for (const p of succeeded) expect([PaymentStatus.SUCCEEDED, PaymentStatus.PROCESSING]).toContain(p.status);
    // Charged once each: once nothing is in flight, the receivable is exactly the captured payments.
    await eventually(async () => {
      await runJanitor(env.stack.services.payments, { traceId: '', spanId: '' }, { graceMs: 3_000, paymentsMax: 1_000 });
      const all = (await owner.payments.listPayments({ pageSize: 100 })).payments;
      expect(all.filter((p) => p.status === PaymentStatus.PROCESSING)).toEqual([]);
      const captured = all.filter((p) => p.status === PaymentStatus.SUCCEEDED);
      expect(captured.length).toBeGreaterThanOrEqual(succeeded.length);
      expect((await balanceOf(tenantId, 'psp_receivable:stripe')).postedDebitsMinor).toBe(1_000n * BigInt(captured.length));
    }, { timeoutMs: 30_000, intervalMs: 500 });
    // Under load the burst can open Stripe's breaker (one per PSP, and this file's tests share the
    // stack): the next tests would then be refused PSP_UNAVAILABLE at once. Wait until it admits
    // calls again (half-open lets the next test's call through as a probe).
    await eventually(() => expect(env.stack.services.payments.breaker.state('stripe')).not.toBe('open'), { timeoutMs: 60_000, intervalMs: 250 });
  }, 180_000);
});

async function stripeTenant(): Promise<{ tenantId: string; owner: TallyClient; pm: string }> {
  const { tenantId, owner } = await env.stack.newTenant();
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  return { tenantId, owner, pm };
}

/** Anomalies the payments use cases log while `run` runs. */
async function anomaliesLoggedBy(run: () => Promise<void>): Promise<Record<string, unknown>[]> {
  // The one logger object every copy of the payments deps shares (the RPC handler's included).
  const logger = env.stack.services.payments.logger;
  const logged: Record<string, unknown>[] = [];
  const original = logger.error;
  logger.error = (message, extra = {}) => { if (message === paymentAnomalyMessage) logged.push(extra); original.call(logger, message, extra); };
  try { await run(); } finally { logger.error = original; }
  return logged;
}

async function anomalyEventsOf(tenantId: string, paymentId: string) {
  return outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: paymentId, type: 'payment.anomaly' });
}

/** Every inbox event of the payment was applied (none left to be redelivered). */
async function expectInboxApplied(tenantId: string, paymentId: string): Promise<void> {
  const store = env.stack.services.payments.store;
  const ids = (await env.stack.services.db.collection('tenants').doc(tenantId).collection('inbox').get()).docs.map((d) => d.id);
  const stored = (await Promise.all(ids.map((id) => store.getInboxEvent(tenantId, id)))).filter((e) => e?.event.paymentId === paymentId);
  expect(stored.length).toBeGreaterThan(0);
  for (const e of stored) expect(e!.processed, e!.event.pspEventId).toBe(true);
}

describe('a PSP outcome whose ledger entry cannot be written is still recorded (item 1)', () => {
  it('capture entry id taken by other content: the payment is SUCCEEDED with what the PSP captured, a payment.anomaly event and log; its webhooks apply', async () => {
    const { tenantId, owner, pm } = await stripeTenant();
    const p = (await owner.payments.createPayment({ amountMinor: 10_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, confirm: true, idempotencyKey: key() })).payment!;
    expect(p.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    // The capture's entry id, taken with other content directly in the ledger (the public RPCs
    // refuse ids in the payments namespace: this stands for whatever else could take it).
    const ledger = env.stack.services.ledger;
    await ledger.store.transaction(tenantId, async (tx) => {
      const plan = await planEntry(ledger, tx, 0, tenantId, {
        id: `je_cap_${p.id}`, description: 'squatter', metadata: {},
        postings: [
          { accountId: paymentAccountId('psp_receivable:stripe', 'EUR'), direction: 'debit', amountMinor: 1n, currency: 'EUR' },
          { accountId: paymentAccountId('merchant_payable', 'EUR'), direction: 'credit', amountMinor: 1n, currency: 'EUR' },
        ],
      }, { traceId: '', spanId: '' });
      plan.commit();
    });
    let captured!: Awaited<ReturnType<typeof owner.payments.capturePayment>>;
    const logged = await anomaliesLoggedBy(async () => { captured = await owner.payments.capturePayment({ paymentId: p.id, idempotencyKey: key() }); });
    expect(captured.payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 10_000n });
    expect(logged).toContainEqual(expect.objectContaining({ reason: 'ledger_entry_refused', paymentId: p.id }));
    const events = await anomalyEventsOf(tenantId, p.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ reason: 'ledger_entry_refused', refusedEntryId: `je_cap_${p.id}`, status: 'succeeded' });
    // Only the squatter's 1 cent is in the ledger; the webhooks of the capture apply (no redelivery loop).
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(1n);
    await env.sandbox.control.webhooksIdle(10_000);
    await eventually(() => expectInboxApplied(tenantId, p.id), { timeoutMs: 15_000, intervalMs: 200 });
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 10_000n });
  });

  it('a system account closed: a one-call checkout is SUCCEEDED with an anomaly, never left PROCESSING', async () => {
    const { tenantId, owner, pm } = await stripeTenant();
    // Provision the accounts (a first payment), then close the fee revenue account in the store.
    await owner.payments.createPayment({ amountMinor: 100n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() });
    const feeAccountId = paymentAccountId('platform_fee_revenue', 'EUR');
    await env.stack.services.ledger.store.transaction(tenantId, async (tx) => {
      const account = (await tx.getAccounts([feeAccountId])).get(feeAccountId)!;
      tx.setAccount({ ...account, closed: true });
    });
    let paid!: Awaited<ReturnType<typeof owner.payments.createPayment>>;
    const logged = await anomaliesLoggedBy(async () => {
      paid = await owner.payments.createPayment({ amountMinor: 10_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() });
    });
    expect(paid.payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 10_000n });
    expect(logged).toContainEqual(expect.objectContaining({ reason: 'ledger_entry_refused', paymentId: paid.payment!.id }));
    expect(await anomalyEventsOf(tenantId, paid.payment!.id)).toHaveLength(1);
    await env.sandbox.control.webhooksIdle(10_000);
    await eventually(() => expectInboxApplied(tenantId, paid.payment!.id), { timeoutMs: 15_000, intervalMs: 200 });
  });
});

describe('queues never block at the head (item 12)', () => {
  const trace = { traceId: '', spanId: '' };
  const event = (pspReference: string, action: PspWebhookEvent['action'], paymentId: string | null = null): PspWebhookEvent => ({
    psp: 'stripe', pspEventId: `evt_${randomUUID()}`, occurredAtMs: Date.now(), paymentId, pspReference, action,
    amountMinor: 1_000n, currency: 'EUR', refundId: null, declineReason: null,
  });

  it('200 parked events that never match, ahead of one that does: the one is matched within two runs of 150', async () => {
    const { owner, pm } = await stripeTenant();
    const paid = (await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
    const payments = env.stack.services.payments;
    const nowMs = payments.clock.nowMs();
    const strays = Array.from({ length: 200 }, (_, i) => ({ e: event(`pi_never_${randomUUID()}`, 'chargeback'), atMs: nowMs - 60_000 + i }));
    for (let i = 0; i < strays.length; i += 50) {
      await Promise.all(strays.slice(i, i + 50).map(({ e, atMs }) => payments.store.parkUnmatchedEvent(e, atMs, atMs + parkedEventRetentionMs)));
    }
    // Newest of all: a late `captured` for the payment above (names only its PSP reference).
    const matching = event(paid.pspReference, 'captured');
    await payments.store.parkUnmatchedEvent(matching, nowMs, nowMs + parkedEventRetentionMs);
    const parkedRef = env.stack.services.db.collection('parkedPspEvents').doc(`stripe:${matching.pspEventId}`);
    try {
      expect(await rematchParkedEvents(payments, trace, 150)).toBe(0);
      expect(await rematchParkedEvents(payments, trace, 150)).toBe(1);
      expect((await parkedRef.get()).exists).toBe(false);
      // None of the strays was dropped: they wait for their payment (or their TTL).
      const left = await env.stack.services.db.collection('parkedPspEvents').where('pspReference', '>=', 'pi_never_').where('pspReference', '<', 'pi_never`').count().get();
      expect(Number(left.data().count)).toBe(200);
    } finally {
      await Promise.all(strays.map(({ e }) => payments.store.dropParkedEvent(`stripe:${e.pspEventId}`)));
    }
  }, 120_000);

  it('200 unresolved payments the janitor cannot settle, ahead of one it can: settled within two runs of 150', async () => {
    const { tenantId, owner, pm } = await stripeTenant();
    const payments = env.stack.services.payments;
    // The one it can settle: a crash after saving the authorization attempt, before the PSP call.
    const p = (await owner.payments.createPayment({ amountMinor: 1_300n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    payments.testHooks.beforePspCall = (paymentId) => {
      if (paymentId !== p.id) return;
      payments.testHooks.beforePspCall = undefined;
      throw new Error('injected crash before the PSP call');
    };
    await rpcError(owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() }));
    expect((await payments.store.getPayment(tenantId, p.id))!.status).toBe('processing');
    // Older than it, 200 that can never be settled (unreadable: every try fails).
    const nowMs = payments.clock.nowMs();
    const db = env.stack.services.db;
    const stuck = Array.from({ length: 200 }, (_, i) => db.collection('tenants').doc(tenantId).collection('payments').doc(`pay_stuck_${i}`));
    const old = Timestamp.fromMillis(nowMs - 3_600_000);
    for (let i = 0; i < stuck.length; i += 100) {
      const batch = db.batch();
      for (const ref of stuck.slice(i, i + 100)) batch.set(ref, { tenantId, status: 'processing', unknownSince: old, settleQueuedAt: old });
      await batch.commit();
    }
    // The janitor as it would run later (past its grace), twice.
    let laterMs = 0;
    const later = () => { laterMs += 3_200; return runJanitor({ ...payments, clock: { nowMs: () => payments.clock.nowMs() + laterMs } }, trace, { graceMs: 3_000, paymentsMax: 150 }); };
    try {
      const first = await later();
      expect(first.resolved).toBe(0);
      expect(first.failures).toHaveLength(150);
      const second = await later();
      expect(second.resolved).toBe(1);
      // Settled by its lookup: Stripe never saw it, and the method has no other PSP to fail over to.
      expect((await payments.store.getPayment(tenantId, p.id))!.attempts[0]).toMatchObject({ psp: 'stripe', outcome: 'not_found', resolvedBy: 'lookup' });
      expect((await owner.payments.getPayment({ paymentId: p.id })).payment?.status).not.toBe(PaymentStatus.PROCESSING);
    } finally {
      for (let i = 0; i < stuck.length; i += 100) {
        const batch = db.batch();
        for (const ref of stuck.slice(i, i + 100)) batch.delete(ref);
        await batch.commit();
      }
    }
  }, 120_000);

  it('a webhook that can never apply is recorded as failed with an anomaly, once, instead of being redelivered', async () => {
    const { tenantId } = await stripeTenant();
    const payments = env.stack.services.payments;
    const gone = event('pi_gone', 'captured', 'pay_gone_never_created');
    const inboxId = `stripe:${gone.pspEventId}`;
    await payments.store.storeInboxEvent(tenantId, inboxId, gone, payments.clock.nowMs());
    const logged = await anomaliesLoggedBy(async () => {
      expect(await processInboxEvent(payments, tenantId, inboxId, trace)).toBe('failed');
    });
    expect(logged).toContainEqual(expect.objectContaining({ reason: 'webhook_cannot_apply', inboxId, errorReason: 'NOT_FOUND' }));
    expect(await payments.store.getInboxEvent(tenantId, inboxId)).toMatchObject({ processed: true, failure: { reason: 'NOT_FOUND' } });
    // A redelivery is a duplicate: acknowledged, nothing retried.
    expect(await processInboxEvent(payments, tenantId, inboxId, trace)).toBe('duplicate');
  });
});
