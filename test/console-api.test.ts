/**
 * What the merchant console's business pages read (issue 17 item 4), over the real API on the
 * emulators with the sandbox PSP: one customer's subscriptions and invoices, page by page, and an
 * invoice's PDF; customers listed and read.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvoiceStatus, SubscriptionStatus } from '../functions/src/gen/tally/billing/v1/billing_pb.js';
import { Role } from '../functions/src/gen/tally/tenancy/v1/tenancy_pb.js';
import { createTallyClient, type TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { Code, rpcError } from './support/connect-error.js';
import { proPlanMonthlyEur } from './support/billing-fixtures.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();

/** A tenant selling a monthly EUR 10.00 price from DE, and a viewer key of it. */
async function shop(): Promise<{ tenantId: string; owner: TallyClient; viewer: TallyClient; priceId: string }> {
  const res = await env.stack.admin.tenancy.createTenant({ name: 'Console shop', idempotencyKey: key() });
  const owner = createTallyClient(env.stack.url, res.ownerApiKey!.secret);
  const viewerKey = (await owner.tenancy.createApiKey({ name: 'viewer', role: Role.VIEWER, idempotencyKey: key() })).apiKey!.secret;
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }] }], idempotencyKey: key() });
  const { price } = await proPlanMonthlyEur(owner);
  return { tenantId: res.tenant!.id, owner, viewer: createTallyClient(env.stack.url, viewerKey), priceId: price.id };
}

/** A FR customer with a card on file (billed off-session). */
async function billedCustomer(owner: TallyClient, email: string): Promise<string> {
  const customer = (await owner.payments.createCustomer({ email, name: email.split('@')[0]!, idempotencyKey: key() })).customer!;
  const pm = (await owner.payments.createPaymentMethod({ customerId: customer.id, pspTokens: { stripe: 'pm_card_visa' }, brand: 'visa', country: 'FR', last4: '4242', idempotencyKey: key() })).paymentMethod!;
  await owner.billing.updateBillingCustomer({ customer: { customerId: customer.id, defaultPaymentMethodId: pm.id, country: 'FR' }, idempotencyKey: key() });
  return customer.id;
}

describe('console reads: subscriptions and invoices per customer', () => {
  it("lists one customer's subscriptions and invoices newest first, page by page, never another customer's; the PDF renders", async () => {
    const { owner, viewer, priceId } = await shop();
    const [alice, bob] = [await billedCustomer(owner, 'alice@shop.example'), await billedCustomer(owner, 'bob@shop.example')];
    const subscribe = async (customerId: string, quantity: bigint) =>
      (await owner.billing.createSubscription({ customerId, items: [{ priceId, quantity }], idempotencyKey: key() })).subscription!;
    const alice1 = await subscribe(alice, 1n);
    const bobs = await subscribe(bob, 3n);
    const alice2 = await subscribe(alice, 2n);

    const pages: string[][] = [];
    let token = '';
    do {
      const page = await viewer.billing.listSubscriptions({ customerId: alice, pageSize: 1, pageToken: token });
      pages.push(page.subscriptions.map((s) => s.id));
      token = page.nextPageToken;
    } while (token !== '' && pages.length < 5);
    expect(pages).toEqual([[alice2.id], [alice1.id]]);
    expect((await viewer.billing.listSubscriptions({})).subscriptions.map((s) => s.id)).toEqual([alice2.id, bobs.id, alice1.id]);
    expect((await viewer.billing.listSubscriptions({ customerId: bob })).subscriptions).toMatchObject([{ id: bobs.id, status: SubscriptionStatus.ACTIVE, customerId: bob }]);

    const first = await viewer.billing.listInvoices({ customerId: alice, pageSize: 1 });
    const second = await viewer.billing.listInvoices({ customerId: alice, pageSize: 1, pageToken: first.nextPageToken });
    expect([...first.invoices, ...second.invoices].map((i) => [i.subscriptionId, i.totalMinor, i.status])).toEqual([
      [alice2.id, 2_400n, InvoiceStatus.PAID], // 2 x 10.00 + 20 % FR VAT
      [alice1.id, 1_200n, InvoiceStatus.PAID],
    ]);
    expect(second.nextPageToken).toBe('');
    expect((await viewer.billing.listInvoices({ customerId: bob })).invoices.map((i) => i.customerId)).toEqual([bob]);

    const pdf = (await viewer.billing.getInvoicePdf({ invoiceId: first.invoices[0]!.id })).pdf;
    expect(Buffer.from(pdf).subarray(0, 5).toString('latin1')).toBe('%PDF-');
  }, 60_000);

  it('refuses both filters at once, a malformed customer id and another tenant\'s customer finds nothing', async () => {
    const { owner, viewer } = await shop();
    const other = await shop();
    const alice = await billedCustomer(owner, 'alice@shop.example');
    expect(await rpcError(viewer.billing.listInvoices({ customerId: alice, subscriptionId: 'sub_x' })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', metadata: { field: 'customer_id' } });
    expect(await rpcError(viewer.billing.listSubscriptions({ customerId: '../x' })))
      .toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', metadata: { field: 'customer_id' } });
    expect((await other.viewer.billing.listSubscriptions({ customerId: alice })).subscriptions).toEqual([]);
    expect((await other.viewer.billing.listInvoices({ customerId: alice })).invoices).toEqual([]);
  }, 60_000);
});

describe('console reads: customers', () => {
  it('lists customers newest first page by page, filters by exact email, reads one; viewers and other tenants are refused or find nothing', async () => {
    const { owner, viewer } = await shop();
    const other = await shop();
    const make = async (email: string, name: string) => (await owner.payments.createCustomer({ email, name, idempotencyKey: key() })).customer!;
    const ann = await make('ann@shop.example', 'Ann');
    const ben = await make('ben@shop.example', 'Ben');
    const ann2 = await make('ann@shop.example', 'Ann (second account)');
    expect(ann.createTime).toBeDefined();

    const pages: string[][] = [];
    let token = '';
    do {
      const page = await owner.payments.listCustomers({ pageSize: 2, pageToken: token });
      pages.push(page.customers.map((c) => c.name));
      token = page.nextPageToken;
    } while (token !== '' && pages.length < 5);
    expect(pages).toEqual([['Ann (second account)', 'Ben'], ['Ann']]);
    expect((await owner.payments.listCustomers({ email: 'ann@shop.example' })).customers.map((c) => c.id)).toEqual([ann2.id, ann.id]);
    expect((await owner.payments.listCustomers({ email: 'nobody@shop.example' })).customers).toEqual([]);
    expect((await owner.payments.getCustomer({ customerId: ben.id })).customer).toMatchObject({ id: ben.id, email: 'ben@shop.example', name: 'Ben' });

    // Names and emails are for developers and owners (as firestore.rules has it); another tenant sees none of them.
    expect(await rpcError(viewer.payments.listCustomers({}))).toMatchObject({ code: Code.PermissionDenied, reason: 'PERMISSION_DENIED' });
    expect(await rpcError(viewer.payments.getCustomer({ customerId: ben.id }))).toMatchObject({ code: Code.PermissionDenied, reason: 'PERMISSION_DENIED' });
    expect(await rpcError(other.owner.payments.getCustomer({ customerId: ben.id }))).toMatchObject({ code: Code.NotFound, reason: 'NOT_FOUND', metadata: { field: 'customer_id' } });
    expect((await other.owner.payments.listCustomers({})).customers).toEqual([]);
    expect(await rpcError(owner.payments.listCustomers({ email: 'not an email' }))).toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', metadata: { field: 'email' } });
    expect(await rpcError(owner.payments.getCustomer({ customerId: 'cus_../x' }))).toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', metadata: { field: 'customer_id' } });
  }, 60_000);
});
