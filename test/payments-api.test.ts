/**
 * Payments end to end: the real API, both connectors, the sandbox PSP over HTTP, signed webhooks
 * through /webhooks/{psp} into the inbox, Pub/Sub (emulator) into processPspEvent, the ledger.
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId, processInboxEvent, runJanitor } from '../functions/src/app/payments/index.js';
import { CaptureMethod, DisputeStatus, PaymentStatus, type Payment } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { ErrorInfoSchema } from './support/test-stack.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { eventually } from './support/eventually.js';
import { outboxEventsOf } from './support/outbox-events.js';
import { expectConnectError, rpcError } from './support/connect-error.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

async function method(client: TallyClient, tokens: Record<string, string>, brand = 'visa') {
  return (await client.payments.createPaymentMethod({ pspTokens: tokens, brand, country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
}

async function route(client: TallyClient, psp: 'stripe' | 'adyen') {
  await client.payments.setRoutingRules({ rules: [{ choices: [{ psp, weight: 1 }] }], idempotencyKey: key() });
}

/** The code and ErrorInfo reason a call failed with (fails if it succeeded). */
const reason = rpcError;

/** How long webhook-driven changes may take here (webhook, inbox, Pub/Sub bridge, under load). */
const SETTLE = { timeoutMs: 15_000, intervalMs: 100 } as const;

/** The payment once `check` passes on it (retried until SETTLE's deadline). */
async function paymentWhen(owner: TallyClient, paymentId: string, check: (p: Payment) => void): Promise<Payment> {
  return eventually(async () => {
    const p = (await owner.payments.getPayment({ paymentId })).payment!;
    check(p);
    return p;
  }, SETTLE);
}

/**
 * Waits until the tenant's inbox holds at least `countMin` events and every one is processed: what
 * webhooks do has then been done, so asserting that they changed nothing needs no sleep.
 */
async function inboxProcessed(tenantId: string, countMin: number): Promise<number> {
  return eventually(async () => {
    const inbox = (await env.stack.services.db.collection(`tenants/${tenantId}/inbox`).get()).docs;
    expect(inbox.length).toBeGreaterThanOrEqual(countMin);
    expect(inbox.filter((d) => d.get('processedAt') === null).map((d) => d.id)).toEqual([]);
    return inbox.length;
  }, SETTLE);
}

/**
 * The janitor as it would run `laterMs` from now: the clock it reads is moved forward past its
 * grace (3 s), instead of the test sleeping 3.2 s.
 */
function runJanitorLater(laterMs = 3_200) {
  const payments = env.stack.services.payments;
  return runJanitor({ ...payments, clock: { nowMs: () => payments.clock.nowMs() + laterMs } }, { traceId: '', spanId: '' }, { graceMs: 3_000, paymentsMax: 1_000 });
}

async function balanceOf(tenantId: string, code: Parameters<typeof paymentAccountId>[0], currency = 'EUR') {
  const { getBalance } = await import('../functions/src/app/ledger/ledger-use-cases.js');
  return (await getBalance(env.stack.services.ledger, tenantId, paymentAccountId(code, currency), null)).balance;
}

describe.each(['stripe', 'adyen'] as const)('payments through %s', (psp) => {
  const tokens = psp === 'stripe'
    ? { ok: 'pm_card_visa', insufficient: 'pm_card_chargeDeclinedInsufficientFunds', action: 'pm_card_threeDSecure2Required' }
    : { ok: 'adyen_success', insufficient: 'adyen_refused_insufficient_funds', action: 'adyen_3ds_challenge' };

  it('authorizes and captures automatically, posts the ledger (receivable, payable, fee) once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: tokens.ok });
    const created = (await owner.payments.createPayment({ amountMinor: 10_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    expect(created.status).toBe(PaymentStatus.REQUIRES_CONFIRMATION);
    const confirmed = (await owner.payments.confirmPayment({ paymentId: created.id, idempotencyKey: key() })).payment!;
    expect(confirmed).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp, amountCapturedMinor: 10_000n });
    expect((await balanceOf(tenantId, `psp_receivable:${psp}`)).postedDebitsMinor).toBe(10_000n);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(9_710n);
    expect((await balanceOf(tenantId, 'platform_fee_revenue')).postedCreditsMinor).toBe(290n);
    // Webhooks for the same capture arrive later and change nothing.
    await env.sandbox.control.webhooksIdle(5_000);
    await inboxProcessed(tenantId, 1);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(9_710n);
  });

  it('manual capture in part, then two refunds, never more than captured', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: tokens.ok });
    const p = (await owner.payments.createPayment({ amountMinor: 5_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    expect((await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment?.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    const captured = (await owner.payments.capturePayment({ paymentId: p.id, amountMinor: 4_000n, idempotencyKey: key() })).payment!;
    if (psp === 'adyen') {
      // Adyen confirms captures by webhook: wait for the CAPTURE notification to be processed.
      await paymentWhen(owner, p.id, (cur) => expect(cur.status).toBe(PaymentStatus.SUCCEEDED));
    } else {
      expect(captured.status).toBe(PaymentStatus.SUCCEEDED);
    }
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 4_000n });
    await owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_500n, idempotencyKey: key() });
    await owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_000n, idempotencyKey: key() });
    expect(await reason(owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_501n, idempotencyKey: key() }))).toMatchObject({ reason: 'AMOUNT_OUT_OF_RANGE' });
    await paymentWhen(owner, p.id, (cur) => expect(cur).toMatchObject({ amountRefundedMinor: 2_500n, refunds: [{ status: 'succeeded' }, { status: 'succeeded' }] }));
    const receivable = await balanceOf(tenantId, `psp_receivable:${psp}`);
    expect(receivable.postedDebitsMinor - receivable.postedCreditsMinor).toBe(1_500n);
  });

  it('a decline answers CARD_DECLINED/INSUFFICIENT_FUNDS, records the reason and posts nothing', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: tokens.insufficient });
    const p = (await owner.payments.createPayment({ amountMinor: 700n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const err = await reason(owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() }));
    expect(['INSUFFICIENT_FUNDS', 'CARD_DECLINED']).toContain(err.reason);
    const after = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    expect(after).toMatchObject({ status: PaymentStatus.REQUIRES_PAYMENT_METHOD, declineReason: 'insufficient_funds' });
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(0n);
  });

  it('a 3DS-style challenge puts the payment in REQUIRES_ACTION, and the webhook completes it', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: tokens.action });
    const p = (await owner.payments.createPayment({ amountMinor: 1_200n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const waiting = (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
    expect(waiting.status).toBe(PaymentStatus.REQUIRES_ACTION);
    expect(waiting.nextActionUrl).toContain('/_sandbox/challenge/');
    expect(env.sandbox.control.completeChallenge(psp, waiting.pspReference, 'success')).toBe(true);
    await paymentWhen(owner, p.id, (cur) => expect(cur.status).toBe(PaymentStatus.SUCCEEDED));
  });
});

describe.each(['stripe', 'adyen'] as const)('chargebacks through %s', (psp) => {
  /** A new tenant's payment of 2 000 EUR, captured, its webhooks delivered. */
  async function capturedPayment() {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: psp === 'stripe' ? 'pm_card_visa' : 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 2_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() });
    const paid = await paymentWhen(owner, p.id, (cur) => expect(cur.status).toBe(PaymentStatus.SUCCEEDED));
    await env.sandbox.control.webhooksIdle(5_000);
    return { tenantId, owner, p, paid };
  }

  it('a dispute webhook reverses the capture in the ledger, fee included, exactly once', async () => {
    const { tenantId, owner, p, paid } = await capturedPayment();
    expect(env.sandbox.control.createDispute(psp, paid.pspReference)).toBe(true);
    await env.sandbox.control.webhooksIdle(5_000);
    const entryId = `je_cbk_${p.id}`;
    await eventually(async () => expect((await env.stack.services.db.doc(`tenants/${tenantId}/journal/${entryId}`).get()).exists).toBe(true), SETTLE);
    const receivable = await balanceOf(tenantId, `psp_receivable:${psp}`);
    const payable = await balanceOf(tenantId, 'merchant_payable');
    const fee = await balanceOf(tenantId, 'platform_fee_revenue');
    // Everything captured went back: receivable, payable and fee all net to zero (dispute fee 0).
    expect(receivable.postedDebitsMinor - receivable.postedCreditsMinor).toBe(0n);
    expect(payable.postedCreditsMinor - payable.postedDebitsMinor).toBe(0n);
    expect(fee.postedCreditsMinor - fee.postedDebitsMinor).toBe(0n);
    // Refunds are refused after a chargeback.
    await expectConnectError(owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1n, idempotencyKey: key() }), Code.FailedPrecondition, 'INVALID_STATE_TRANSITION');
    // The dispute event was matched to the payment (a Stripe dispute names only the PaymentIntent,
    // matched through the PSP-reference index), stored with our payment id and processed once.
    const db = env.stack.services.db;
    expect((await db.doc(`pspReferences/${psp}:${paid.pspReference}`).get()).data()).toMatchObject({ tenantId, paymentId: p.id });
    // Stripe sends the dispute and the withdrawal of its funds: two chargeback events, one entry.
    const events = psp === 'stripe' ? 2 : 1;
    const inbox = await eventually(async () => {
      const docs = await chargebackInbox(tenantId);
      expect(docs.map((d) => d.get('processedAt') !== null)).toEqual(Array.from({ length: events }, () => true));
      return docs;
    }, SETTLE);
    for (const d of inbox) expect(JSON.parse(String(d.get('event')))).toMatchObject({ paymentId: p.id, pspReference: paid.pspReference });
    if (psp !== 'stripe') return;
    // Stripe: the dispute closes as lost, a second chargeback event: stored, processed, and a no-op.
    expect(env.sandbox.control.closeDispute(psp, paid.pspReference, 'lost')).toBe(true);
    await env.sandbox.control.webhooksIdle(5_000);
    await eventually(async () => expect((await chargebackInbox(tenantId)).map((d) => d.get('processedAt') !== null)).toEqual([true, true, true]), SETTLE);
    const after = await balanceOf(tenantId, `psp_receivable:${psp}`);
    expect(after.postedDebitsMinor - after.postedCreditsMinor).toBe(0n);
    expect((await db.collection(`tenants/${tenantId}/journal`).get()).docs.filter((d) => d.id.startsWith('je_cbk_'))).toHaveLength(1);
  });

  it('a won dispute reverses the chargeback: the ledger is back to the captured figures, once, even with duplicated webhooks', async () => {
    const { tenantId, owner, p, paid } = await capturedPayment();
    const figures = async () => {
      const [receivable, payable, fee] = await Promise.all([balanceOf(tenantId, `psp_receivable:${psp}`), balanceOf(tenantId, 'merchant_payable'), balanceOf(tenantId, 'platform_fee_revenue')]);
      return { receivable: receivable.postedDebitsMinor - receivable.postedCreditsMinor, payable: payable.postedCreditsMinor - payable.postedDebitsMinor, fee: fee.postedCreditsMinor - fee.postedDebitsMinor };
    };
    const captured = await figures();
    expect(captured).toEqual({ receivable: 2_000n, payable: 1_942n, fee: 58n });
    const db = env.stack.services.db;
    const journal = async (prefix: string) => (await db.collection(`tenants/${tenantId}/journal`).get()).docs.filter((d) => d.id.startsWith(prefix));
    // (This used to poll 8 s and go on silently if nothing came: the next assertion then failed
    // further from the cause.)
    const waitFor = (check: () => Promise<boolean>) => eventually(async () => expect(await check()).toBe(true), SETTLE);
    // Every dispute webhook is delivered twice.
    env.sandbox.control.setFaults({ [psp]: { webhookDuplicateRate: 1 } });
    try {
      expect(env.sandbox.control.createDispute(psp, paid.pspReference)).toBe(true);
      await waitFor(async () => (await journal('je_cbk_')).length === 1);
      expect(await figures()).toEqual({ receivable: 0n, payable: 0n, fee: 0n });
      expect(env.sandbox.control.closeDispute(psp, paid.pspReference, 'won')).toBe(true);
      await env.sandbox.control.webhooksIdle(5_000);
      await waitFor(async () => (await journal('je_cbr_')).length === 1);
    } finally {
      env.sandbox.control.setFaults({ [psp]: { webhookDuplicateRate: 0 } });
    }
    const deliveries = env.sandbox.control.webhooks(psp).filter((w) => w.type === (psp === 'stripe' ? 'charge.dispute.closed' : 'CHARGEBACK_REVERSED'));
    expect(deliveries.filter((w) => w.duplicate && w.outcome === 'delivered').length).toBeGreaterThan(0);
    await env.sandbox.control.webhooksIdle(5_000);
    await inboxProcessed(tenantId, 1);
    // Back to exactly what the capture posted; one chargeback and one reversal entry.
    expect(await figures()).toEqual(captured);
    expect((await journal('je_cbk_')).map((d) => d.id)).toEqual([`je_cbk_${p.id}`]);
    expect((await journal('je_cbr_')).map((d) => d.id)).toEqual([`je_cbr_${p.id}`]);
    const inbox = (await db.collection(`tenants/${tenantId}/inbox`).get()).docs.filter((d) => String(d.get('event')).includes('"chargeback_reversed"'));
    expect(inbox).toHaveLength(1);
    expect(inbox[0]?.get('processedAt')).not.toBeNull();
    const after = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    expect(after).toMatchObject({ status: PaymentStatus.SUCCEEDED, disputeStatus: DisputeStatus.CHARGEBACK_REVERSED, amountChargedBackMinor: 0n });
  });
});

describe('Stripe inquiries (pre-dispute: no funds move until escalated)', () => {
  it('an inquiry books nothing; escalated, it is the chargeback, once; one closed in the merchant\'s favour books nothing', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const pay = async () => {
      const p = (await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
      return (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
    };
    const [escalated, closed] = [await pay(), await pay()];
    await env.sandbox.control.webhooksIdle(5_000);
    const receivable = async () => { const b = await balanceOf(tenantId, 'psp_receivable:stripe'); return b.postedDebitsMinor - b.postedCreditsMinor; };
    const settle = async () => {
      await env.sandbox.control.webhooksIdle(5_000);
      // Every stored event processed (the Pub/Sub bridge delivers them asynchronously).
      return inboxProcessed(tenantId, 0);
    };
    expect(await receivable()).toBe(2_000n);

    for (const p of [escalated, closed]) expect(env.sandbox.control.createDispute('stripe', p.pspReference, { inquiry: true })).toBe(true);
    await settle();
    expect(await receivable()).toBe(2_000n); // inquiries took nothing
    expect((await owner.payments.getPayment({ paymentId: escalated.id })).payment!.disputeStatus).toBe(DisputeStatus.UNSPECIFIED);

    expect(env.sandbox.control.escalateDispute('stripe', escalated.pspReference)).toBe(true);
    expect(env.sandbox.control.closeDispute('stripe', closed.pspReference, 'won')).toBe(true);
    await settle();
    expect(await receivable()).toBe(1_000n); // the escalated one was charged back, once
    expect((await owner.payments.getPayment({ paymentId: escalated.id })).payment!).toMatchObject({ disputeStatus: DisputeStatus.CHARGEBACK, amountChargedBackMinor: 1_000n });
    expect((await owner.payments.getPayment({ paymentId: closed.id })).payment!.disputeStatus).toBe(DisputeStatus.UNSPECIFIED);
    const journal = (await env.stack.services.db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => d.id);
    expect(journal.filter((id) => id.startsWith('je_cb'))).toEqual([`je_cbk_${escalated.id}`]);
  });
});

async function chargebackInbox(tenantId: string) {
  return (await env.stack.services.db.collection(`tenants/${tenantId}/inbox`).get()).docs.filter((d) => String(d.get('event')).includes('"chargeback"'));
}

describe('cancellations through adyen (settled by the CANCELLATION webhook)', () => {
  async function authorized(owner: TallyClient, token: string) {
    await route(owner, 'adyen');
    const pm = await method(owner, { adyen: token });
    const p = (await owner.payments.createPayment({ amountMinor: 3_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    expect((await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment?.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    return p.id;
  }

  function waitForStatus(owner: TallyClient, paymentId: string, status: PaymentStatus) {
    return paymentWhen(owner, paymentId, (cur) => expect(cur.status).toBe(status));
  }

  it('a cancel is accepted (PROCESSING) and the CANCELLATION webhook makes it CANCELED', async () => {
    const { owner } = await env.stack.newTenant();
    const paymentId = await authorized(owner, 'adyen_success');
    const answered = (await owner.payments.cancelPayment({ paymentId, idempotencyKey: key() })).payment!;
    // The webhook may even have been processed before the call's answer was recorded.
    expect([PaymentStatus.PROCESSING, PaymentStatus.CANCELED]).toContain(answered.status);
    expect((await waitForStatus(owner, paymentId, PaymentStatus.CANCELED)).status).toBe(PaymentStatus.CANCELED);
  });

  it('a refused cancellation returns the payment to REQUIRES_CAPTURE; it can then be captured', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const paymentId = await authorized(owner, 'adyen_cancel_refused');
    const answered = (await owner.payments.cancelPayment({ paymentId, idempotencyKey: key() })).payment!;
    expect([PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_CAPTURE]).toContain(answered.status);
    await env.sandbox.control.webhooksIdle(5_000);
    const back = await waitForStatus(owner, paymentId, PaymentStatus.REQUIRES_CAPTURE);
    expect(back).toMatchObject({ status: PaymentStatus.REQUIRES_CAPTURE, amountCapturableMinor: 3_000n });
    const stored = await env.stack.services.payments.store.getPayment(tenantId, paymentId);
    expect(stored?.attempts.find((a) => a.operation === 'cancel')).toMatchObject({ outcome: 'declined', resolvedBy: 'webhook' });
    expect(stored?.unknownSinceMs).toBeNull();
    // Cancelable again (it is refused again: the card refuses every cancellation) or capturable.
    expect((await owner.payments.cancelPayment({ paymentId, idempotencyKey: key() })).payment?.status).not.toBe(PaymentStatus.CANCELED);
    await waitForStatus(owner, paymentId, PaymentStatus.REQUIRES_CAPTURE);
    await owner.payments.capturePayment({ paymentId, idempotencyKey: key() });
    expect((await waitForStatus(owner, paymentId, PaymentStatus.SUCCEEDED))).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 3_000n });
    expect((await balanceOf(tenantId, 'psp_receivable:adyen')).postedDebitsMinor).toBe(3_000n);
  });

  it('a capture answered `received` that the CAPTURE webhook says failed is unwound once: REQUIRES_CAPTURE, ledger back to zero', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const paymentId = await authorized(owner, 'adyen_capture_fails');
    await env.sandbox.control.webhooksIdle(5_000);
    // Hold the CAPTURE webhook so the (provisional) answer is recorded first, as it usually is.
    env.sandbox.control.setFaults({ adyen: { webhookHold: true } });
    try {
      const answered = (await owner.payments.capturePayment({ paymentId, idempotencyKey: key() })).payment!;
      expect(answered).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 3_000n });
      expect((await balanceOf(tenantId, 'psp_receivable:adyen')).postedDebitsMinor).toBe(3_000n);
      const stored = await env.stack.services.payments.store.getPayment(tenantId, paymentId);
      expect(stored?.attempts.find((a) => a.operation === 'capture')).toMatchObject({ outcome: 'captured', resolvedBy: 'call', provisional: true });
    } finally {
      env.sandbox.control.setFaults({ adyen: { webhookHold: false, webhookDuplicateRate: 1 } });
    }
    // The CAPTURE success=false arrives (twice).
    env.sandbox.control.releaseWebhooks('adyen');
    await env.sandbox.control.webhooksIdle(5_000);
    env.sandbox.control.setFaults({ adyen: { webhookDuplicateRate: 0 } });
    const back = await waitForStatus(owner, paymentId, PaymentStatus.REQUIRES_CAPTURE);
    expect(back).toMatchObject({ status: PaymentStatus.REQUIRES_CAPTURE, amountCapturableMinor: 3_000n, amountCapturedMinor: 0n, declineReason: 'other' });
    await inboxProcessed(tenantId, 1);
    const net = async (code: Parameters<typeof paymentAccountId>[0]) => {
      const b = await balanceOf(tenantId, code);
      return b.postedDebitsMinor - b.postedCreditsMinor;
    };
    expect([await net('psp_receivable:adyen'), await net('merchant_payable'), await net('platform_fee_revenue')]).toEqual([0n, 0n, 0n]);
    const journal = (await env.stack.services.db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => d.id).filter((id) => id.startsWith('je_cap'));
    expect(journal.sort()).toEqual([`je_cap_${paymentId}`, `je_capr_${paymentId}`]);
    const stored = await env.stack.services.payments.store.getPayment(tenantId, paymentId);
    expect(stored?.attempts.find((a) => a.operation === 'capture')).toMatchObject({ outcome: 'declined', resolvedBy: 'webhook', provisional: false });
    expect(stored?.captureReversals).toBe(1);
    // It can be canceled now (the card fails only captures).
    await owner.payments.cancelPayment({ paymentId, idempotencyKey: key() });
    expect((await waitForStatus(owner, paymentId, PaymentStatus.CANCELED)).status).toBe(PaymentStatus.CANCELED);
  });
});

// Runs before the routing block: that block's last tests leave every circuit open.
describe('idempotency keys on payment commands (written in the commands own transactions)', () => {
  const pspCallsFor = (paymentId: string) => env.sandbox.control.requests('stripe').filter((r) => r.method === 'POST' && r.idempotencyKey?.startsWith(paymentId) === true).length;

  it('a replayed create, confirm, capture and refund answer the first response and act once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const createReq = { amountMinor: 4_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() };
    const created = (await owner.payments.createPayment(createReq)).payment!;
    expect((await owner.payments.createPayment(createReq)).payment!.id).toBe(created.id);

    const confirmReq = { paymentId: created.id, idempotencyKey: key() };
    const confirmed = (await owner.payments.confirmPayment(confirmReq)).payment!;
    expect(confirmed.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    const captureReq = { paymentId: created.id, amountMinor: 3_000n, idempotencyKey: key() };
    const captured = (await owner.payments.capturePayment(captureReq)).payment!;
    expect(captured).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 3_000n });
    const refundReq = { paymentId: created.id, amountMinor: 1_000n, idempotencyKey: key() };
    const refunded = await owner.payments.refundPayment(refundReq);
    const callsBefore = pspCallsFor(created.id);

    // The replays answer exactly what the first runs answered (the confirm's REQUIRES_CAPTURE,
    // though the payment has moved on), and nothing reaches the PSP or the ledger again.
    expect((await owner.payments.confirmPayment(confirmReq)).payment!).toEqual(confirmed);
    expect((await owner.payments.capturePayment(captureReq)).payment!).toEqual(captured);
    const again = await owner.payments.refundPayment(refundReq);
    expect(again.refund).toEqual(refunded.refund);
    expect(again.payment!.refunds).toHaveLength(1);
    expect(pspCallsFor(created.id)).toBe(callsBefore);
    expect((await owner.payments.getPayment({ paymentId: created.id })).payment!.refunds).toHaveLength(1);
    expect((await balanceOf(tenantId, 'psp_receivable:stripe')).postedDebitsMinor).toBe(3_000n);
  });

  it('a key reused for another request is refused and changes nothing', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 2_500n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() });
    const captureKey = key();
    await owner.payments.capturePayment({ paymentId: p.id, amountMinor: 1_000n, idempotencyKey: captureKey });
    expect(await reason(owner.payments.capturePayment({ paymentId: p.id, amountMinor: 1_500n, idempotencyKey: captureKey })))
      .toMatchObject({ code: Code.FailedPrecondition, reason: 'IDEMPOTENCY_KEY_REUSED' });
    // Keys are per method: a create may use the same one.
    expect((await owner.payments.createPayment({ amountMinor: 1n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: captureKey })).payment!.id).not.toBe(p.id);
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment!.amountCapturedMinor).toBe(1_000n);
  });

  it('concurrent duplicates of a confirm authorize once and all answer the same', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_800n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    const confirmReq = { paymentId: p.id, idempotencyKey: key() };
    const answers = await Promise.all(Array.from({ length: 5 }, () => owner.payments.confirmPayment(confirmReq)));
    for (const a of answers) expect(a.payment).toEqual(answers[0]!.payment);
    expect(answers[0]!.payment!.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    expect(pspCallsFor(p.id)).toBe(1);
  });

  it('a refused command stores nothing under its key: fixing the state and retrying with the key works', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_100n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    const captureReq = { paymentId: p.id, idempotencyKey: key() };
    expect((await reason(owner.payments.capturePayment(captureReq))).reason).toBe('INVALID_STATE_TRANSITION');
    await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() });
    expect((await owner.payments.capturePayment(captureReq)).payment!.status).toBe(PaymentStatus.SUCCEEDED);
  });
});

describe('payment metadata, trace, return URL and customer', () => {
  it('metadata and the creating trace come back on create, get, list and after confirm, and metadata is in payment.created; bad metadata is refused and stores nothing', async () => {
    const { owner, tenantId } = await env.stack.newTenant();
    // Both tokens: whichever PSP routing picks takes it.
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const metadata = { order_id: 'ord_1042', channel: 'web' };
    const created = (await owner.payments.createPayment({ amountMinor: 700n, currency: 'EUR', paymentMethodId: pm, metadata, idempotencyKey: key() })).payment!;
    expect(created.metadata).toEqual(metadata);
    const confirmed = (await owner.payments.confirmPayment({ paymentId: created.id, idempotencyKey: key() })).payment!;
    expect(confirmed).toMatchObject({ status: PaymentStatus.SUCCEEDED, metadata });
    expect((await owner.payments.getPayment({ paymentId: created.id })).payment!.metadata).toEqual(metadata);
    expect((await owner.payments.listPayments({})).payments.map((p) => p.metadata)).toEqual([metadata]);
    // Consumers of domain-events get the terms and the metadata without reading the payment back.
    const [createdEvent] = await outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: created.id, type: 'payment.created' });
    expect(createdEvent?.id).toBe(`evt_${created.id}_1_payment_created`);
    expect(createdEvent?.payload).toEqual({
      type: 'payment.created', status: 'requires_confirmation', amountMinor: '700', currency: 'EUR', captureMethod: 'automatic', customerId: null, metadata,
      // The payment as it stands after the event (issue 13: the analytics sink reads state from it).
      payment: {
        version: 1, status: 'requires_confirmation', psp: '', amountMinor: '700', currency: 'EUR', amountAuthorizedMinor: '0', amountCapturedMinor: '0',
        amountRefundedMinor: '0', amountChargedBackMinor: '0', feeMinor: '0', declineReason: '', createdAtMs: Number(created.createTime!.seconds) * 1000 + Math.floor(created.createTime!.nanos / 1e6),
        // And everything else the API shows (webhooks send the payment as GetPayment does, issue 16).
        id: created.id, captureMethod: 'automatic', paymentMethodId: pm, customerId: null, pspReference: null, nextActionUrl: null, amountCapturableMinor: '0',
        refunds: [], disputeStatus: null, pricing: { rateBps: created.pricing!.rateBps, fixedMinor: created.pricing!.fixedMinor.toString() }, metadata,
        traceId: created.traceId, updatedAtMs: Number(created.updateTime!.seconds) * 1000 + Math.floor(created.updateTime!.nanos / 1e6),
      },
    });
    // The trace of the creating request, for audit: kept through later requests (which have their own).
    expect(created.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(confirmed.traceId).toBe(created.traceId);
    expect((await owner.payments.getPayment({ paymentId: created.id })).payment!.traceId).toBe(created.traceId);

    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    expect(await reason(owner.payments.createPayment({ amountMinor: 700n, currency: 'EUR', metadata: tooMany, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect(await reason(owner.payments.createPayment({ amountMinor: 700n, currency: 'EUR', metadata: { note: 'x'.repeat(501) }, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect((await owner.payments.listPayments({})).payments.map((p) => p.id)).toEqual([created.id]);
  });

  it('UpdatePayment sets and removes metadata in any status, announces it, replays under its key, and refuses what breaks the limits', async () => {
    const { owner, tenantId } = await env.stack.newTenant();
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const paid = (await owner.payments.createPayment({ amountMinor: 600n, currency: 'EUR', paymentMethodId: pm, confirm: true, metadata: { order_id: 'o-1', channel: 'web' }, idempotencyKey: key() })).payment!;
    expect(paid.status).toBe(PaymentStatus.SUCCEEDED);
    const request = { paymentId: paid.id, metadata: { order_id: 'o-2', channel: '', note: 'gift' }, idempotencyKey: key() };
    const updated = (await owner.payments.updatePayment(request)).payment!;
    expect(updated).toMatchObject({ id: paid.id, status: PaymentStatus.SUCCEEDED, metadata: { order_id: 'o-2', note: 'gift' }, amountCapturedMinor: 600n });
    expect((await owner.payments.getPayment({ paymentId: paid.id })).payment!.metadata).toEqual({ note: 'gift', order_id: 'o-2' });
    const metadataUpdated = () => outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: paid.id, type: 'payment.metadata_updated' });
    expect((await metadataUpdated()).map((e) => e.payload.metadata)).toEqual([{ note: 'gift', order_id: 'o-2' }]);
    // A replay answers the first response and publishes nothing more.
    expect((await owner.payments.updatePayment(request)).payment).toEqual(updated);
    expect(await metadataUpdated()).toHaveLength(1);

    const tooMany = Object.fromEntries(Array.from({ length: 19 }, (_, i) => [`k${i}`, 'v']));
    expect(await reason(owner.payments.updatePayment({ paymentId: paid.id, metadata: tooMany, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect(await reason(owner.payments.updatePayment({ paymentId: paid.id, metadata: {}, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_REQUIRED' });
    expect(await reason(owner.payments.updatePayment({ paymentId: 'pay_doesnotexist', metadata: { a: 'b' }, idempotencyKey: key() })))
      .toMatchObject({ code: Code.NotFound, reason: 'NOT_FOUND' });
    expect((await owner.payments.getPayment({ paymentId: paid.id })).payment!.metadata).toEqual({ note: 'gift', order_id: 'o-2' });
  });

  it('the return URL a confirm gives reaches the PSP for the challenge; a bad one is refused and changes nothing', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_threeDSecure2Required' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_200n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    for (const bad of ['http://shop.example/return', 'not a url']) {
      expect(await reason(owner.payments.confirmPayment({ paymentId: p.id, returnUrl: bad, idempotencyKey: key() })))
        .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    }
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment!.status).toBe(PaymentStatus.REQUIRES_CONFIRMATION);

    const returnUrl = 'https://shop.example/checkout/return?order=1042';
    const challenged = (await owner.payments.confirmPayment({ paymentId: p.id, returnUrl, idempotencyKey: key() })).payment!;
    expect(challenged.status).toBe(PaymentStatus.REQUIRES_ACTION);
    // What the PSP will send the customer back to, read from the PSP's own record of the payment.
    const Stripe = (await import('stripe')).default;
    const stripe = new Stripe('sk_test_tally', { host: new URL(env.sandbox.url).hostname, port: Number(new URL(env.sandbox.url).port), protocol: 'http' });
    const atPsp = await stripe.paymentIntents.retrieve(challenged.pspReference);
    expect(atPsp.next_action?.redirect_to_url?.return_url).toBe(returnUrl);
  });

  it('a payment for a customer needs that customer, and never a payment method saved for another; refusals store nothing', async () => {
    const { owner } = await env.stack.newTenant();
    const customer = async (name: string) => (await owner.payments.createCustomer({ email: `${name}@shop.example`, name, idempotencyKey: key() })).customer!.id;
    const [alice, bob] = [await customer('alice'), await customer('bob')];
    const alicesCard = (await owner.payments.createPaymentMethod({ customerId: alice, pspTokens: { stripe: 'pm_card_visa', adyen: 'adyen_success' }, brand: 'visa', idempotencyKey: key() })).paymentMethod!.id;
    const unattached = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });

    expect(await reason(owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', customerId: 'cus_doesnotexist', idempotencyKey: key() })))
      .toMatchObject({ code: Code.NotFound, reason: 'NOT_FOUND' });
    expect(await reason(owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', customerId: bob, paymentMethodId: alicesCard, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect((await owner.payments.listPayments({})).payments).toEqual([]);

    // Bob's payment created with no card; confirming it with Alice's card is refused, with his own works.
    const bobs = (await owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', customerId: bob, idempotencyKey: key() })).payment!;
    expect(bobs.customerId).toBe(bob);
    expect(await reason(owner.payments.confirmPayment({ paymentId: bobs.id, paymentMethodId: alicesCard, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect((await owner.payments.getPayment({ paymentId: bobs.id })).payment!.status).toBe(PaymentStatus.REQUIRES_PAYMENT_METHOD);
    expect((await owner.payments.confirmPayment({ paymentId: bobs.id, paymentMethodId: unattached, idempotencyKey: key() })).payment!.status).toBe(PaymentStatus.SUCCEEDED);
    const alices = (await owner.payments.createPayment({ amountMinor: 800n, currency: 'EUR', customerId: alice, paymentMethodId: alicesCard, idempotencyKey: key() })).payment!;
    expect(alices).toMatchObject({ customerId: alice, paymentMethodId: alicesCard, status: PaymentStatus.REQUIRES_CONFIRMATION });
  });
});

describe.each(['stripe', 'adyen'] as const)('one-call checkout through %s (CreatePayment with confirm)', (psp) => {
  it('creates, confirms and captures in one call: the ledger once, payment.created once, and its webhooks find it', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: psp === 'stripe' ? 'pm_card_visa' : 'adyen_success' });
    const paid = (await owner.payments.createPayment({ amountMinor: 10_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, metadata: { order_id: 'o-1' }, idempotencyKey: key() })).payment!;
    expect(paid).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp, amountCapturedMinor: 10_000n, metadata: { order_id: 'o-1' } });
    expect((await balanceOf(tenantId, `psp_receivable:${psp}`)).postedDebitsMinor).toBe(10_000n);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(9_710n);
    const createdEvents = await outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: paid.id, type: 'payment.created' });
    // Announced once, created into the status it was confirmed into (never seen as requires_confirmation).
    expect(createdEvents.map((e) => e.payload.status)).toEqual(['processing']);
    const changes = (await outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: paid.id, type: 'payment.status_changed' })).map((e) => e.payload.from as string);
    expect(changes).not.toContain('requires_confirmation');
    // Indexed at creation though its first saved version is the confirmed one: webhooks match it.
    expect(await env.stack.services.payments.store.tenantOfPayment(paid.id)).toBe(tenantId);
    await env.sandbox.control.webhooksIdle(5_000);
    expect(await inboxProcessed(tenantId, 1)).toBeGreaterThan(0);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(9_710n);
    expect((await owner.payments.listPayments({})).payments.map((p) => p.id)).toEqual([paid.id]);
  });
});

describe('one-call checkout: keys, declines, refusals and crashes', () => {
  const pspCallsFor = (paymentId: string) => env.sandbox.control.requests('stripe').filter((r) => r.method === 'POST' && r.idempotencyKey?.startsWith(paymentId) === true).length;

  it('a replay answers the first response and charges once; a decline creates the payment once, names it in the error, and a retry under the key answers the same error', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const request = { amountMinor: 3_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, confirm: true, idempotencyKey: key() };
    const authorized = (await owner.payments.createPayment(request)).payment!;
    expect(authorized.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    expect((await owner.payments.createPayment(request)).payment).toEqual(authorized);
    expect(pspCallsFor(authorized.id)).toBe(1);

    const declining = await method(owner, { stripe: 'pm_card_chargeDeclinedInsufficientFunds' });
    const declineRequest = { amountMinor: 700n, currency: 'EUR', paymentMethodId: declining, confirm: true, idempotencyKey: key() };
    const declined = async () => {
      try {
        await owner.payments.createPayment(declineRequest);
      } catch (error) {
        const e = ConnectError.from(error);
        const info = e.findDetails(ErrorInfoSchema)[0]!;
        return { code: e.code, reason: info.reason, paymentId: info.metadata.paymentId ?? '', message: e.rawMessage };
      }
      throw new Error('a declined card must fail');
    };
    const first = await declined();
    expect(first).toMatchObject({ code: Code.FailedPrecondition, reason: 'INSUFFICIENT_FUNDS' });
    expect(first.paymentId).toMatch(/^pay_/);
    const paymentId = first.paymentId;
    // The retry does not create and charge a second payment: it answers the same error, naming the same payment.
    expect(await declined()).toEqual(first);
    expect((await owner.payments.getPayment({ paymentId })).payment).toMatchObject({ status: PaymentStatus.REQUIRES_PAYMENT_METHOD, declineReason: 'insufficient_funds' });
    expect(pspCallsFor(paymentId)).toBe(1);
    expect((await owner.payments.listPayments({})).payments).toHaveLength(2);
    // Confirmed again with another card, it goes through.
    expect((await owner.payments.confirmPayment({ paymentId, paymentMethodId: pm, idempotencyKey: key() })).payment!.status).toBe(PaymentStatus.SUCCEEDED);
  });

  it('concurrent duplicates of a one-call checkout create one payment, charge once and all answer the same', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const request = { amountMinor: 2_200n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() };
    const answers = await Promise.all(Array.from({ length: 5 }, () => owner.payments.createPayment(request)));
    for (const a of answers) expect(a.payment).toEqual(answers[0]!.payment);
    expect(answers[0]!.payment!.status).toBe(PaymentStatus.SUCCEEDED);
    expect(pspCallsFor(answers[0]!.payment!.id)).toBe(1);
    expect((await owner.payments.listPayments({})).payments).toHaveLength(1);
  });

  it('a new one-call checkout is one blind write and one transaction: 2 commits and 1 batched read', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const checkout = () => owner.payments.createPayment({ amountMinor: 900n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() });
    // Webhooks held, so that only the checkout's own round trips are counted.
    env.sandbox.control.setFaults({ stripe: { webhookHold: true } });
    try {
      await checkout(); // the instance caches (payment method, accounts, routing rules) warm
      const { countFirestoreRpcs } = await import('./support/firestore-rpcs.js');
      const { result, byTransaction } = await countFirestoreRpcs(checkout, env.stack.services.db);
      expect(result.payment!.status).toBe(PaymentStatus.SUCCEEDED);
      // Reads outside a transaction are the instance caches refreshing (tenant, routing rules: 1 s), if any.
      const { 'batchGetDocuments outside': _cacheRefreshes, ...own } = byTransaction;
      expect(own).toEqual({ 'commit outside': 1, 'batchGetDocuments in a transaction': 1, 'commit in a transaction': 1 });
    } finally {
      env.sandbox.control.setFaults({ stripe: { webhookHold: false } });
      env.sandbox.control.releaseWebhooks('stripe');
      await env.sandbox.control.webhooksIdle(5_000);
    }
  });

  it('concurrent one-call checkouts share their first writes: fewer blind commits than checkouts, each payment stored once and captured once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const checkout = () => owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() });
    env.sandbox.control.setFaults({ stripe: { webhookHold: true } });
    try {
      await checkout(); // caches warm
      const { countFirestoreRpcs } = await import('./support/firestore-rpcs.js');
      const { result, byTransaction } = await countFirestoreRpcs(() => Promise.all(Array.from({ length: 12 }, checkout)), env.stack.services.db);
      expect(result.map((r) => r.payment!.status)).toEqual(Array(12).fill(PaymentStatus.SUCCEEDED));
      expect(new Set(result.map((r) => r.payment!.id)).size).toBe(12);
      // The first leaves alone; the others, arriving while it is in flight, in one or a few groups.
      expect(byTransaction['commit outside']).toBeGreaterThanOrEqual(2);
      expect(byTransaction['commit outside']).toBeLessThan(12);
      for (const r of result) expect(pspCallsFor(r.payment!.id)).toBe(1);
      const stored = await env.stack.services.db.collection('tenants').doc(tenantId).collection('payments').get();
      expect(stored.size).toBe(13);
    } finally {
      env.sandbox.control.setFaults({ stripe: { webhookHold: false } });
      env.sandbox.control.releaseWebhooks('stripe');
      await env.sandbox.control.webhooksIdle(5_000);
    }
  });

  it('a first write that landed though its commit answered otherwise (an ambiguous failure): the run recognises its own lease and goes on at once; charged once', async () => {
    const { owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const store = env.stack.services.payments.store;
    const original = store.createPaymentAtOnce;
    let landed = 0;
    store.createPaymentAtOnce = async (input) => {
      if (landed > 0) return original.call(store, input); // a rerun: as it is
      expect(await original.call(store, input)).toBe(true);
      landed++;
      return false; // as a group commit retried alone after an error that hid its success reports
    };
    try {
      const startedMs = Date.now();
      const done = (await owner.payments.createPayment({ amountMinor: 1_300n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
      expect(landed).toBe(1);
      expect(done.status).toBe(PaymentStatus.SUCCEEDED);
      expect(pspCallsFor(done.id)).toBe(1);
      // Not after waiting for the idempotency wait or its own lease to run out.
      expect(Date.now() - startedMs).toBeLessThan(5_000);
      expect((await owner.payments.listPayments({})).payments.map((p) => p.id)).toEqual([done.id]);
    } finally {
      store.createPaymentAtOnce = original;
    }
  });

  it("events of one payment arriving together are applied one after the other (no contention on its document), each exactly once", async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const paid = (await owner.payments.createPayment({ amountMinor: 700n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
    await env.sandbox.control.webhooksIdle(5_000);
    const deps = env.stack.services.payments;
    // Three deliveries of the PSP's word that it captured (as a PSP's resends, under new event ids).
    const inboxIds = await Promise.all(['a', 'b', 'c'].map(async (n) => {
      const inboxId = `stripe:evt_together_${paid.id}_${n}`;
      await deps.store.storeInboxEvent(tenantId, inboxId, {
        psp: 'stripe', pspEventId: inboxId.slice('stripe:'.length), occurredAtMs: Date.now(), paymentId: paid.id, pspReference: paid.pspReference,
        action: 'captured', amountMinor: 700n, currency: 'EUR', refundId: null, declineReason: null,
      }, Date.now());
      return inboxId;
    }));
    const store = deps.store;
    const original = store.transaction;
    let inside = 0;
    let mostInside = 0;
    const run: typeof original = original.bind(store);
    store.transaction = (t, work) => run(t, async (tx) => {
      mostInside = Math.max(mostInside, ++inside);
      try { return await work(tx); } finally { inside--; }
    });
    try {
      const results = await Promise.all(inboxIds.map((id) => processInboxEvent(deps, tenantId, id, { traceId: '', spanId: '' })));
      expect(results).toEqual(['applied', 'applied', 'applied']);
      expect(mostInside).toBe(1);
      // Applied again (a redelivery): nothing left to do.
      expect(await processInboxEvent(deps, tenantId, inboxIds[0]!, { traceId: '', spanId: '' })).toBe('duplicate');
    } finally {
      store.transaction = original;
    }
    expect((await owner.payments.getPayment({ paymentId: paid.id })).payment!.amountCapturedMinor).toBe(700n);
  });

  it('a payment only created is one blind write; under its key a replay answers it, another request is refused, duplicates at once store one', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const request = { amountMinor: 1_100n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, metadata: { order_id: 'o-1' }, idempotencyKey: key() };
    await owner.payments.createPayment({ ...request, idempotencyKey: key() }); // caches warm
    const { countFirestoreRpcs } = await import('./support/firestore-rpcs.js');
    const { result, byTransaction } = await countFirestoreRpcs(() => owner.payments.createPayment(request), env.stack.services.db);
    const created = result.payment!;
    expect(created).toMatchObject({ status: PaymentStatus.REQUIRES_CONFIRMATION, amountMinor: 1_100n, metadata: { order_id: 'o-1' } });
    const { 'batchGetDocuments outside': _cacheRefreshes, ...own } = byTransaction;
    expect(own).toEqual({ 'commit outside': 1 });
    // A replay answers the first response; another request under the key is refused and stores nothing.
    expect((await owner.payments.createPayment(request)).payment).toEqual(created);
    expect(await reason(owner.payments.createPayment({ ...request, amountMinor: 1_200n }))).toMatchObject({ code: Code.FailedPrecondition, reason: 'IDEMPOTENCY_KEY_REUSED' });
    const twins = { ...request, idempotencyKey: key() };
    const answers = await Promise.all(Array.from({ length: 4 }, () => owner.payments.createPayment(twins)));
    for (const a of answers) expect(a.payment).toEqual(answers[0]!.payment);
    const stored = await env.stack.services.db.collection('tenants').doc(tenantId).collection('payments').get();
    expect(stored.size).toBe(3); // the warm-up, the first, one of the twins
    expect(stored.docs.map((d) => d.id)).toEqual(expect.arrayContaining([created.id, answers[0]!.payment!.id]));
    // What it created is confirmed as any payment: the outbox has its payment.created.
    const outbox = await outboxEventsOf(env.stack.services.outbox.store, tenantId, { aggregateId: created.id });
    expect(outbox.map((e) => e.type)).toEqual(['payment.created']);
    expect((await owner.payments.confirmPayment({ paymentId: created.id, idempotencyKey: key() })).payment!.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
  });

  it('refuses a confirm without a payment method and a bad return URL, and stores nothing', async () => {
    const { owner } = await env.stack.newTenant();
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    expect(await reason(owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', confirm: true, idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_REQUIRED' });
    expect(await reason(owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', paymentMethodId: pm, confirm: true, returnUrl: 'http://shop.example/back', idempotencyKey: key() })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
    expect((await owner.payments.listPayments({})).payments).toEqual([]);
  });

  it('a crash after saving the authorization attempt: retries under the key answer that payment, even once its key record is gone; the janitor finishes it; charged once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const hooks = env.stack.services.payments.testHooks;
    let crashed = '';
    hooks.beforePspCall = (paymentId) => {
      if (crashed !== '') return;
      crashed = paymentId;
      hooks.beforePspCall = undefined;
      throw new Error('injected crash before the PSP call');
    };
    const request = { amountMinor: 1_400n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() };
    await expectConnectError(owner.payments.createPayment(request), Code.Internal, 'INTERNAL'); // the injected crash
    expect(crashed).toMatch(/^pay_/);
    expect((await owner.payments.createPayment(request)).payment).toMatchObject({ id: crashed, status: PaymentStatus.PROCESSING });
    // As if the process had died before settling its key and the lease had run out: the payment's
    // id derives from the key and the request, so the rerun finds it instead of charging again.
    const idempotency = await env.stack.services.db.collection('tenants').doc(tenantId).collection('idempotency').get();
    await Promise.all(idempotency.docs.map((d) => d.ref.delete()));
    expect((await owner.payments.createPayment(request)).payment).toMatchObject({ id: crashed, status: PaymentStatus.PROCESSING });
    expect((await owner.payments.listPayments({})).payments.map((p) => p.id)).toEqual([crashed]);

    await runJanitorLater();
    await paymentWhen(owner, crashed, (cur) => expect(cur.status).toBe(PaymentStatus.SUCCEEDED));
    const receivable = async (p: string) => (await balanceOf(tenantId, `psp_receivable:${p as 'stripe' | 'adyen'}`)).postedDebitsMinor;
    expect((await receivable('stripe')) + (await receivable('adyen'))).toBe(1_400n);
    expect((await owner.payments.listPayments({})).payments).toHaveLength(1);
  }, 30_000);
});

describe('routing, failover and unknown outcomes', () => {
  it('fails over to the next PSP when the first certainly did not act (5xx before processing)', async () => {
    const { owner } = await env.stack.newTenant();
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = await method(owner, { stripe: 'pm_card_sandboxErrorBeforeProcessing', adyen: 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 900n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const done = (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
    expect(done).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp: 'adyen' });
  });

  it('never re-routes an ambiguous timeout: the janitor asks the PSP and finishes it, exactly once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_sandboxTimeout', adyen: 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    // Hold Stripe's webhooks so that only the janitor can settle the payment.
    env.sandbox.control.setFaults({ stripe: { webhookHold: true } });
    try {
      const pending = (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
      expect(pending).toMatchObject({ status: PaymentStatus.PROCESSING, psp: 'stripe' });
      // (Another test file's janitor may get there first: the assertion is on how it was settled.)
      await runJanitorLater();
      const settled = await env.stack.services.payments.store.getPayment(tenantId, p.id);
      expect(settled?.attempts[0]).toMatchObject({ psp: 'stripe', resolvedBy: 'lookup' });
    } finally {
      env.sandbox.control.setFaults({ stripe: { webhookHold: false } });
    }
    // The held webhooks now arrive late (and reversed): they must change nothing.
    env.sandbox.control.releaseWebhooks('stripe', 'reverse');
    await env.sandbox.control.webhooksIdle(5_000);
    await inboxProcessed(tenantId, 1);
    await paymentWhen(owner, p.id, (cur) => expect(cur).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp: 'stripe' }));
    expect(env.sandbox.control.requests('adyen').filter((r) => r.path.includes(p.id))).toHaveLength(0);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(971n);
  }, 30_000);

  it('a dispute that arrives before the PSP reference of its payment is known is parked, then matched by the janitor, once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_sandboxTimeout' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_500n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    // The authorization times out and its webhooks are lost: Tally knows neither outcome nor reference.
    env.sandbox.control.setFaults({ stripe: { webhookHold: true } });
    try {
      expect((await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!.status).toBe(PaymentStatus.PROCESSING);
    } finally {
      env.sandbox.control.reset(); // drops the held webhooks
    }
    const atPsp = await env.stack.services.payments.gateways.get('stripe')!.lookup({ paymentId: p.id, pspReference: null, signal: AbortSignal.timeout(5_000) });
    expect(atPsp.kind).toBe('captured');
    const pspReference = (atPsp as { pspReference: string }).pspReference;
    expect(env.sandbox.control.createDispute('stripe', pspReference)).toBe(true);
    await env.sandbox.control.webhooksIdle(5_000);
    const db = env.stack.services.db;
    const parked = async () => (await db.collection('parkedPspEvents').where('pspReference', '==', pspReference).get()).docs;
    expect((await parked()).length).toBe(2); // created and funds_withdrawn, both the chargeback
    expect((await db.collection(`tenants/${tenantId}/inbox`).get()).size).toBe(0);

    const run = await runJanitorLater();
    expect(run.rematched).toBeGreaterThanOrEqual(2);
    expect(await parked()).toEqual([]);
    const final = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    expect(final).toMatchObject({ status: PaymentStatus.SUCCEEDED, disputeStatus: DisputeStatus.CHARGEBACK, amountChargedBackMinor: 1_500n });
    const journal = (await db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => d.id).filter((id) => id.startsWith('je_c')).sort();
    expect(journal).toEqual([`je_cap_${p.id}`, `je_cbk_${p.id}`]);
    const receivable = await balanceOf(tenantId, 'psp_receivable:stripe');
    expect(receivable.postedDebitsMinor - receivable.postedCreditsMinor).toBe(0n);
    // A second run finds nothing left to match.
    expect((await runJanitor(env.stack.services.payments, { traceId: '', spanId: '' }, { graceMs: 3_000, paymentsMax: 1_000 })).rematched).toBe(0);
  }, 30_000);

  it('a dispute won while the capture is still unknown: capture, chargeback and its reversal post together, linked, once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_000n, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
    const authorized = (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
    expect(authorized.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    await env.sandbox.control.webhooksIdle(5_000);
    // The capture times out (Stripe captured it; Tally does not know) and its webhook is lost. The
    // dispute and its close arrive in order: both wait for the capture (deferred), and come out
    // with it when the janitor's lookup finds it, all in one transaction.
    env.sandbox.control.setFaults({ stripe: { webhookHold: true, timeoutRate: 1 } });
    try {
      const pending = (await owner.payments.capturePayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
      expect(pending.status).toBe(PaymentStatus.PROCESSING);
    } finally {
      env.sandbox.control.reset(); // drops the held capture webhook; faults off
    }
    // One at a time (the Pub/Sub bridge may apply concurrent events in any order; a reversal seen
    // first would leave nothing to reverse, which is right but not this test's path).
    const store = env.stack.services.payments.store;
    const deferred = async () => new Set((await store.getPayment(tenantId, p.id))!.deferredPspEvents.map((e) => e.action));
    const deferredHas = async (action: 'chargeback' | 'chargeback_reversed') => {
      await env.sandbox.control.webhooksIdle(5_000);
      await eventually(async () => expect([...(await deferred())]).toContain(action), SETTLE);
    };
    expect(env.sandbox.control.createDispute('stripe', authorized.pspReference)).toBe(true);
    await deferredHas('chargeback');
    expect(env.sandbox.control.closeDispute('stripe', authorized.pspReference, 'won')).toBe(true);
    await deferredHas('chargeback_reversed');
    // (Stripe's `created` and `funds_withdrawn` are both the chargeback: it may wait twice, and applies once.)
    expect([...(await deferred())].sort()).toEqual(['chargeback', 'chargeback_reversed']);
    await runJanitorLater();

    const journal = new Map((await env.stack.services.db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => [d.id, d]));
    expect([...journal.keys()].filter((id) => id.startsWith('je_c')).sort()).toEqual([`je_cap_${p.id}`, `je_cbk_${p.id}`, `je_cbr_${p.id}`]);
    expect(journal.get(`je_cbr_${p.id}`)!.get('reversesEntryId')).toBe(`je_cbk_${p.id}`);
    const final = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    expect(final).toMatchObject({ status: PaymentStatus.SUCCEEDED, disputeStatus: DisputeStatus.CHARGEBACK_REVERSED, amountCapturedMinor: 1_000n });
    const receivable = await balanceOf(tenantId, 'psp_receivable:stripe');
    expect(receivable.postedDebitsMinor - receivable.postedCreditsMinor).toBe(1_000n);
    expect((await owner.ledger.verifyChain({})).ok).toBe(true);
  }, 30_000);

  it('a crash after saving the attempt and before calling the PSP: the janitor finds nothing there and carries on, once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, 'stripe');
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 1_300n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const hooks = env.stack.services.payments.testHooks;
    hooks.beforePspCall = (paymentId) => {
      if (paymentId !== p.id) return;
      hooks.beforePspCall = undefined;
      throw new Error('injected crash before the PSP call');
    };
    await expectConnectError(owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() }), Code.Internal, 'INTERNAL'); // the injected crash
    const store = env.stack.services.payments.store;
    const saved = (await store.getPayment(tenantId, p.id))!;
    expect(saved.status).toBe('processing');
    expect(saved.unknownSinceMs).not.toBeNull(); // the janitor will find it
    await runJanitorLater();
    await paymentWhen(owner, p.id, (cur) => expect(cur.status).toBe(PaymentStatus.SUCCEEDED));
    const settled = (await store.getPayment(tenantId, p.id))!;
    expect(settled.attempts[0]).toMatchObject({ psp: 'stripe', outcome: 'not_found', resolvedBy: 'lookup' });
    // Stripe was never asked to authorize it; it was captured once, wherever it went on to.
    expect(env.sandbox.control.requests('stripe').filter((r) => r.method === 'POST' && r.idempotencyKey?.startsWith(p.id) === true)).toHaveLength(0);
    expect((await balanceOf(tenantId, `psp_receivable:${settled.psp!}`)).postedDebitsMinor).toBe(1_300n);
  }, 30_000);

  it('fails fast with PSP_UNAVAILABLE when every PSP circuit is open, and calls no PSP', async () => {
    const { stack, sandbox } = env;
    const { owner } = await stack.newTenant();
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    // Open both circuits the way failing calls would (the later tests of this file call no PSP).
    const breaker = stack.services.payments.breaker;
    for (const psp of ['stripe', 'adyen'] as const) {
      // The window also holds this file's earlier successful calls (more of them the faster the
      // file runs), so the bound is generous: it opened after 40 on a slow run and failed on a fast one.
      for (let i = 0; i < 10_000 && breaker.state(psp) !== 'open'; i++) breaker.acquire(psp).record('failure');
      expect(breaker.state(psp)).toBe('open');
    }
    const before = sandbox.control.requests().length;
    const started = performance.now();
    expect(await reason(owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() }))).toMatchObject({ code: Code.Unavailable, reason: 'PSP_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(sandbox.control.requests().length).toBe(before);
  });

  it('webhooks: a bad signature is refused (400); a signed event for an unknown payment is acknowledged and stored nowhere', async () => {
    const Stripe = (await import('stripe')).default;
    const secret = env.stack.services.config.stripe.webhookSecret;
    const payload = JSON.stringify({
      id: `evt_${randomUUID().replaceAll('-', '')}`, object: 'event', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'pi_unknown', object: 'payment_intent', amount: 100, amount_received: 100, currency: 'eur', status: 'succeeded', metadata: { tally_payment_id: 'pay_doesnotexist' } } },
    });
    const post = (signature: string) => fetch(`${env.stack.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body: payload });
    const good = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret });
    expect((await post(good.replace(/v1=[0-9a-f]+/, `v1=${'0'.repeat(64)}`))).status).toBe(400);
    expect((await post('')).status).toBe(400);
    expect((await post(good)).status).toBe(200);
    const inbox = await env.stack.services.db.collectionGroup('inbox').get();
    expect(inbox.docs.filter((d) => String(d.get('event')).includes('pay_doesnotexist'))).toHaveLength(0);
  });

  it('refuses raw card numbers as payment methods', async () => {
    const { owner } = await env.stack.newTenant();
    const err = await reason(owner.payments.createPaymentMethod({ pspTokens: { stripe: '4242 4242 4242 4242' }, idempotencyKey: key() }));
    expect(err).toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID' });
  });

  it('illegal transitions are INVALID_STATE_TRANSITION', async () => {
    const { owner } = await env.stack.newTenant();
    const p = (await owner.payments.createPayment({ amountMinor: 100n, currency: 'EUR', idempotencyKey: key() })).payment!;
    expect(await reason(owner.payments.capturePayment({ paymentId: p.id, idempotencyKey: key() }))).toMatchObject({ reason: 'INVALID_STATE_TRANSITION' });
  });
});
