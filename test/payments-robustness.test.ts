/**
 * Payments that keep moving (issue 11 items 1, 11, 12): a PSP outcome whose ledger entry cannot be
 * written is still recorded (with an anomaly), a cold tenant's first burst of checkouts does not
 * stampede its account provisioning, and queues of never-matching work never block the head.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId, runJanitor } from '../functions/src/app/payments/index.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { Code, rpcError } from './support/connect-error.js';
import { eventually } from './support/eventually.js';
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
  }, 120_000);
});
