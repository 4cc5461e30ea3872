/**
 * Connector limits end to end (issue 11 item 9, ADR 0021): routing checks each PSP's declared
 * limits before anything is sent. A payment no routed PSP can take is answered with the typed
 * refusal naming the PSP's limit and stays as it was; one another PSP can take goes there; a
 * capture its PSP would refuse is refused before it is written or sent.
 */
import { randomUUID } from 'node:crypto';
import { ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TallyClient } from '../functions/src/cli/client.js';
import { CaptureMethod, PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { ErrorInfoSchema } from './support/test-stack.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

async function errorInfo(promise: Promise<unknown>): Promise<{ reason: string; metadata: Record<string, string> }> {
  try { await promise; } catch (error) {
    const info = ConnectError.from(error).findDetails(ErrorInfoSchema)[0];
    return { reason: info?.reason ?? '', metadata: { ...(info?.metadata ?? {}) } };
  }
  throw new Error('expected failure');
}

async function method(client: TallyClient, tokens: Record<string, string>): Promise<string> {
  return (await client.payments.createPaymentMethod({ pspTokens: tokens, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
}

const stripePosts = () => env.sandbox.control.requests('stripe').filter((r) => r.method === 'POST');

describe('PSP limits are checked by routing before anything is sent', () => {
  it('an amount over Stripe\'s maximum, routed only to Stripe, is AMOUNT_OUT_OF_RANGE naming the limit; the payment is unchanged', async () => {
    const { owner } = await env.stack.newTenant('Limits over');
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 100_000_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const before = stripePosts().length;
    expect(await errorInfo(owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: key() }))).toEqual({
      reason: 'AMOUNT_OUT_OF_RANGE',
      metadata: expect.objectContaining({ psp: 'stripe', currency: 'EUR', amount_minor_max: '99999999' }),
    });
    expect(stripePosts().length).toBe(before);
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment).toMatchObject({ status: PaymentStatus.REQUIRES_CONFIRMATION, psp: '' });
  });

  it('the same amount with both PSPs possible goes to the one that takes it (Adyen), whatever the weighted pick', async () => {
    const { owner } = await env.stack.newTenant('Limits failover');
    const pm = await method(owner, { stripe: 'pm_card_visa', adyen: 'adyen_success' });
    for (let i = 0; i < 4; i++) {
      const p = (await owner.payments.createPayment({ amountMinor: 100_000_000n, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
      expect(p).toMatchObject({ status: PaymentStatus.SUCCEEDED, psp: 'adyen' });
    }
  });

  it('a partial capture Stripe would refuse (1,005 BHD fils) is AMOUNT_PRECISION_EXCEEDED before it is written or sent', async () => {
    const { owner } = await env.stack.newTenant('Limits capture');
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = await method(owner, { stripe: 'pm_card_visa' });
    const p = (await owner.payments.createPayment({ amountMinor: 2_000n, currency: 'BHD', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, confirm: true, idempotencyKey: key() })).payment!;
    expect(p.status).toBe(PaymentStatus.REQUIRES_CAPTURE);
    const before = stripePosts().length;
    expect(await errorInfo(owner.payments.capturePayment({ paymentId: p.id, amountMinor: 1_005n, idempotencyKey: key() }))).toEqual({
      reason: 'AMOUNT_PRECISION_EXCEEDED', metadata: expect.objectContaining({ psp: 'stripe', amount_minor_multiple: '10' }),
    });
    expect(stripePosts().length).toBe(before);
    expect((await owner.payments.getPayment({ paymentId: p.id })).payment).toMatchObject({ status: PaymentStatus.REQUIRES_CAPTURE, amountCapturedMinor: 0n });
    expect((await owner.payments.capturePayment({ paymentId: p.id, amountMinor: 1_010n, idempotencyKey: key() })).payment).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: 1_010n });
  });
});
