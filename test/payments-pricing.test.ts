/**
 * Per-tenant pricing end to end (issue 11 item 13): the platform admin sets a tenant's pricing
 * through TenancyService; its payments snapshot it, show it, and their captures post that fee;
 * other tenants keep the platform's default (configuration).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId } from '../functions/src/app/payments/index.js';
import { getBalance } from '../functions/src/app/ledger/ledger-use-cases.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import { Code, expectConnectError } from './support/connect-error.js';
import { parseJson, runCli } from './support/cli-runner.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

async function balanceOf(tenantId: string, code: Parameters<typeof paymentAccountId>[0], currency = 'EUR') {
  return (await getBalance(env.stack.services.ledger, tenantId, paymentAccountId(code, currency), null)).balance;
}

async function checkout(owner: TallyClient, amountMinor: bigint, currency = 'EUR') {
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  return (await owner.payments.createPayment({ amountMinor, currency, paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
}

describe('per-tenant pricing', () => {
  it('tenant A at 1.5 % + 0.25 EUR, tenant B on the default 2.9 %: each capture posts its own fee, shown on the payment', async () => {
    const a = await env.stack.newTenant('A');
    const b = await env.stack.newTenant('B');
    const set = await env.stack.admin.tenancy.setTenantPricing({ tenantId: a.tenantId, pricing: { rateBps: 150, fixedMinorByCurrency: { EUR: 25n } }, idempotencyKey: key() });
    expect(set.tenant?.pricing).toMatchObject({ rateBps: 150, fixedMinorByCurrency: { EUR: 25n } });
    // Each tenant sees the pricing that applies to it.
    expect((await a.owner.tenancy.getTenant({})).tenant?.pricing).toMatchObject({ rateBps: 150, fixedMinorByCurrency: { EUR: 25n } });
    expect((await b.owner.tenancy.getTenant({})).tenant?.pricing).toMatchObject({ rateBps: 290, fixedMinorByCurrency: {} });

    const paidA = await checkout(a.owner, 10_000n);
    expect(paidA).toMatchObject({ status: PaymentStatus.SUCCEEDED, feeMinor: 175n, pricing: { rateBps: 150, fixedMinor: 25n } });
    expect((await balanceOf(a.tenantId, 'platform_fee_revenue')).postedCreditsMinor).toBe(175n);
    expect((await balanceOf(a.tenantId, 'merchant_payable')).postedCreditsMinor).toBe(9_825n);
    // The fixed part is per currency: none set for USD.
    const paidUsd = await checkout(a.owner, 10_000n, 'USD');
    expect(paidUsd).toMatchObject({ feeMinor: 150n, pricing: { rateBps: 150, fixedMinor: 0n } });

    const paidB = await checkout(b.owner, 10_000n);
    expect(paidB).toMatchObject({ status: PaymentStatus.SUCCEEDED, feeMinor: 290n, pricing: { rateBps: 290, fixedMinor: 0n } });
    expect((await balanceOf(b.tenantId, 'platform_fee_revenue')).postedCreditsMinor).toBe(290n);
  });

  it('a payment keeps the pricing it was created with; a replay of SetTenantPricing answers the first response', async () => {
    const a = await env.stack.newTenant();
    await a.owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
    const pm = (await a.owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
    const created = (await a.owner.payments.createPayment({ amountMinor: 2_000n, currency: 'EUR', paymentMethodId: pm, idempotencyKey: key() })).payment!;
    const k = key();
    const request = { tenantId: a.tenantId, pricing: { rateBps: 100, fixedMinorByCurrency: { EUR: 10n } }, idempotencyKey: k };
    const first = await env.stack.admin.tenancy.setTenantPricing(request);
    expect(await env.stack.admin.tenancy.setTenantPricing(request)).toEqual(first);
    await expectConnectError(env.stack.admin.tenancy.setTenantPricing({ ...request, pricing: { rateBps: 101, fixedMinorByCurrency: {} } }), Code.FailedPrecondition, 'IDEMPOTENCY_KEY_REUSED');
    const confirmed = (await a.owner.payments.confirmPayment({ paymentId: created.id, idempotencyKey: key() })).payment!;
    // Created under the default: 2.9 % of 20.00.
    expect(confirmed).toMatchObject({ status: PaymentStatus.SUCCEEDED, feeMinor: 58n, pricing: { rateBps: 290, fixedMinor: 0n } });
  });

  it('only the platform admin sets pricing; bad pricing is refused naming the field and changes nothing', async () => {
    const a = await env.stack.newTenant();
    await expectConnectError(a.owner.tenancy.setTenantPricing({ tenantId: a.tenantId, pricing: { rateBps: 0, fixedMinorByCurrency: {} }, idempotencyKey: key() }), Code.PermissionDenied, 'PERMISSION_DENIED');
    await expectConnectError(env.stack.admin.tenancy.setTenantPricing({ tenantId: a.tenantId, pricing: { rateBps: 10_001, fixedMinorByCurrency: {} }, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'pricing.rate_bps' });
    await expectConnectError(env.stack.admin.tenancy.setTenantPricing({ tenantId: a.tenantId, pricing: { rateBps: 100, fixedMinorByCurrency: { EUR: -1n } }, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_INVALID', { field: 'pricing.fixed_minor_by_currency.EUR' });
    await expectConnectError(env.stack.admin.tenancy.setTenantPricing({ tenantId: a.tenantId, idempotencyKey: key() }), Code.InvalidArgument, 'FIELD_REQUIRED', { field: 'pricing' });
    await expectConnectError(env.stack.admin.tenancy.setTenantPricing({ tenantId: 'ten_doesnotexist', pricing: { rateBps: 1, fixedMinorByCurrency: {} }, idempotencyKey: key() }), Code.NotFound, 'NOT_FOUND', { field: 'tenant_id' });
    expect((await a.owner.tenancy.getTenant({})).tenant?.pricing).toMatchObject({ rateBps: 290, fixedMinorByCurrency: {} });
  });

  it('CLI: tenant pricing set (platform admin key) sets it and prints it; a tenant key is refused', async () => {
    const a = await env.stack.newTenant();
    const cli = (key: string, ...args: string[]) => runCli(['--api-url', env.stack.url, '--api-key', key, ...args]);
    const set = await cli(env.stack.adminKey, 'tenant', 'pricing', 'set', '--tenant', a.tenantId, '--rate-bps', '150', '--fixed', 'EUR:25', '--fixed', 'USD:30', '--json');
    expect(set.code, set.stderr).toBe(0);
    expect(parseJson(set)).toEqual({ tenantId: a.tenantId, rateBps: 150, fixedMinorByCurrency: { EUR: '25', USD: '30' } });
    expect((await a.owner.tenancy.getTenant({})).tenant?.pricing).toMatchObject({ rateBps: 150, fixedMinorByCurrency: { EUR: 25n, USD: 30n } });
    const refused = await cli(a.ownerKey, 'tenant', 'pricing', 'set', '--tenant', a.tenantId, '--rate-bps', '0');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('platform admin only');
  });
});
