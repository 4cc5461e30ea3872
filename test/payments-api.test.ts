/**
 * Payments end to end: the real API, both connectors, the sandbox PSP over HTTP, signed webhooks
 * through /webhooks/{psp} into the inbox, Pub/Sub (emulator) into processPspEvent, the ledger.
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId, runJanitor } from '../functions/src/app/payments/payments-use-cases.js';
import { CaptureMethod, PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { ErrorInfoSchema } from './support/test-stack.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

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

async function reason(promise: Promise<unknown>): Promise<{ code: Code; reason: string }> {
  try { await promise; } catch (error) {
    const e = ConnectError.from(error);
    return { code: e.code, reason: e.findDetails(ErrorInfoSchema)[0]?.reason ?? '' };
  }
  throw new Error('expected failure');
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
    await new Promise((r) => setTimeout(r, 500));
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
      for (let i = 0; i < 50 && (await owner.payments.getPayment({ paymentId: p.id })).payment?.status !== PaymentStatus.SUCCEEDED; i++) await new Promise((r) => setTimeout(r, 100));
    } else {
      expect(captured.status).toBe(PaymentStatus.SUCCEEDED);
    }
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 4_000n });
    await owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_500n, idempotencyKey: key() });
    await owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_000n, idempotencyKey: key() });
    expect(await reason(owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1_501n, idempotencyKey: key() }))).toMatchObject({ reason: 'AMOUNT_OUT_OF_RANGE' });
    for (let i = 0; i < 50; i++) {
      const cur = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
      if (cur.refunds.every((r) => r.status === 'succeeded') && cur.amountRefundedMinor === 2_500n) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment?.amountRefundedMinor).toBe(2_500n);
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
    let status = waiting.status;
    for (let i = 0; i < 80 && status !== PaymentStatus.SUCCEEDED; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await owner.payments.getPayment({ paymentId: p.id })).payment!.status;
    }
    expect(status).toBe(PaymentStatus.SUCCEEDED);
  });
});

describe.each(['stripe', 'adyen'] as const)('chargebacks through %s', (psp) => {
  it('a dispute webhook reverses the capture in the ledger, fee included, exactly once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    await route(owner, psp);
    const pm = await method(owner, { [psp]: psp === 'stripe' ? 'pm_card_visa' : 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 2_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    let paid = (await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() })).payment!;
    for (let i = 0; i < 50 && paid.status !== PaymentStatus.SUCCEEDED; i++) {
      await new Promise((r) => setTimeout(r, 100));
      paid = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    }
    expect(paid.status).toBe(PaymentStatus.SUCCEEDED);
    await env.sandbox.control.webhooksIdle(5_000);
    expect(env.sandbox.control.createDispute(psp, paid.pspReference)).toBe(true);
    await env.sandbox.control.webhooksIdle(5_000);
    const entryId = `je_cbk_${p.id}`;
    let entry = await env.stack.services.db.doc(`tenants/${tenantId}/journal/${entryId}`).get();
    for (let i = 0; i < 50 && !entry.exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
      entry = await env.stack.services.db.doc(`tenants/${tenantId}/journal/${entryId}`).get();
    }
    expect(entry.exists).toBe(true);
    const receivable = await balanceOf(tenantId, `psp_receivable:${psp}`);
    const payable = await balanceOf(tenantId, 'merchant_payable');
    const fee = await balanceOf(tenantId, 'platform_fee_revenue');
    // Everything captured went back: receivable, payable and fee all net to zero (dispute fee 0).
    expect(receivable.postedDebitsMinor - receivable.postedCreditsMinor).toBe(0n);
    expect(payable.postedCreditsMinor - payable.postedDebitsMinor).toBe(0n);
    expect(fee.postedCreditsMinor - fee.postedDebitsMinor).toBe(0n);
    // Refunds are refused after a chargeback.
    expect(await reason(owner.payments.refundPayment({ paymentId: p.id, amountMinor: 1n, idempotencyKey: key() }))).toMatchObject({ code: Code.FailedPrecondition });
  });
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
      await new Promise((r) => setTimeout(r, 3_200));
      // (Another test file's janitor may get there first: the assertion is on how it was settled.)
      await runJanitor(env.stack.services.payments, { traceId: '', spanId: '' }, { graceMs: 3_000, paymentsMax: 1_000 });
      const settled = await env.stack.services.payments.store.getPayment(tenantId, p.id);
      expect(settled?.attempts[0]).toMatchObject({ psp: 'stripe', resolvedBy: 'lookup' });
    } finally {
      env.sandbox.control.setFaults({ stripe: { webhookHold: false } });
    }
    // The held webhooks now arrive late (and reversed): they must change nothing.
    env.sandbox.control.releaseWebhooks('stripe', 'reverse');
    await env.sandbox.control.webhooksIdle(5_000);
    await new Promise((r) => setTimeout(r, 500));
    let final = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    for (let i = 0; i < 30 && final.status !== PaymentStatus.SUCCEEDED; i++) {
      await new Promise((r) => setTimeout(r, 100));
      final = (await owner.payments.getPayment({ paymentId: p.id })).payment!;
    }
    expect(final).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp: 'stripe' });
    expect(env.sandbox.control.requests('adyen').filter((r) => r.path.includes(p.id))).toHaveLength(0);
    expect((await balanceOf(tenantId, 'merchant_payable')).postedCreditsMinor).toBe(971n);
  }, 30_000);

  it('fails fast with PSP_UNAVAILABLE when every PSP circuit is open, and calls no PSP', async () => {
    const { stack, sandbox } = env;
    const { owner } = await stack.newTenant();
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    const p = (await owner.payments.createPayment({ amountMinor: 500n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    // Open both circuits the way failing calls would (the later tests of this file call no PSP).
    const breaker = stack.services.payments.breaker;
    for (const psp of ['stripe', 'adyen'] as const) {
      for (let i = 0; i < 40 && breaker.state(psp) !== 'open'; i++) breaker.acquire(psp).record('failure');
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
