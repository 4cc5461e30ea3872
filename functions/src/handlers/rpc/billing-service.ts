/**
 * BillingService: decode, authorize, check (bad input writes nothing), call the billing use cases
 * (app/billing), encode. Every mutation runs under its idempotency key (`idempotentRpc`); what it
 * creates takes an id derived from the key and request, so a rerun after a crash finds it.
 */
import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import * as catalog from '../../app/billing/catalog.js';
import * as subscriptions from '../../app/billing/subscriptions.js';
import * as changes from '../../app/billing/subscription-changes.js';
import * as pause from '../../app/billing/subscription-pause.js';
import * as pay from '../../app/billing/pay-invoice.js';
import * as items from '../../app/billing/invoice-items.js';
import { createCreditNote, settingsOf, voidInvoice } from '../../app/billing/invoicing.js';
import type { BillingDeps } from '../../app/billing/billing-deps.js';
import {
  billingCustomerFromProto, billingCustomerToProto, couponFromProto, couponToProto, creditNoteToProto, invoiceToProto, msOf, priceFromProto, priceToProto,
  productFromProto, productToProto, settingsFromProto, settingsToProto, subscriptionToProto, testClockToProto,
} from '../../adapters/proto/billing-mapping.js';
import { renderInvoicePdf } from '../../adapters/pdf/invoice-pdf.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { derivedId, parseId, parseOptionalId } from '../../domain/ids.js';
import {
  AdvanceTestClockRequestSchema, AdvanceTestClockResponseSchema, BillingService, CancelSubscriptionRequestSchema, CancelSubscriptionResponseSchema,
  CreateCouponRequestSchema, CreateCouponResponseSchema, CreateCreditNoteRequestSchema, CreateCreditNoteResponseSchema, CreatePriceRequestSchema,
  CreatePriceResponseSchema, CreateProductRequestSchema, CreateProductResponseSchema, CreateSubscriptionRequestSchema, CreateSubscriptionResponseSchema,
  CreateTestClockRequestSchema, CreateTestClockResponseSchema, RecordUsageRequestSchema, RecordUsageResponseSchema, UpdateBillingCustomerRequestSchema,
  UpdateBillingCustomerResponseSchema, UpdateBillingSettingsRequestSchema, UpdateBillingSettingsResponseSchema, UpdateSubscriptionRequestSchema, UpdateSubscriptionResponseSchema, VoidInvoiceRequestSchema,
  type SubscriptionChange, VoidInvoiceResponseSchema, PauseSubscriptionRequestSchema, PauseSubscriptionResponseSchema, ResumeSubscriptionRequestSchema,
  ResumeSubscriptionResponseSchema, PayInvoiceRequestSchema, PayInvoiceResponseSchema, CreateInvoiceItemRequestSchema,
  CreateInvoiceItemResponseSchema,
} from '../../gen/tally/billing/v1/billing_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { principalOf } from './rpc-context.js';
import { idempotentRpc, keyOfRpc } from './idempotent-rpc.js';

export interface BillingServiceDeps extends BillingDeps {
  idempotency: IdempotencyOptions;
  /** The tenant's display name (printed on invoices). */
  tenantName: (tenantId: string) => Promise<string>;
}

const NAME_LENGTH_MAX = 200;
const REASON_LENGTH_MAX = 500;

function checkName(value: string, field: string, required: boolean): string {
  if (required && value.trim() === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (value.length > NAME_LENGTH_MAX) throw invalidField(field, `at most ${NAME_LENGTH_MAX} characters`);
  return value;
}

/** A proposed item change as the use cases take it (ids checked here, the rest by planItemChange). */
function changeFromProto(change: SubscriptionChange): changes.ItemChange {
  if (change.itemId !== '' && !/^si_\d{1,3}$/.test(change.itemId)) throw invalidField('change.item_id', 'an item id (si_0...)');
  parseOptionalId('price', change.priceId, 'change.price_id');
  return { itemId: change.itemId, priceId: change.priceId, quantity: change.quantity, prorationBehavior: change.prorationBehavior, prorationDateMs: msOf(change.prorationDate, 'change.proration_date') };
}

export function createBillingServiceImpl(deps: BillingServiceDeps): ServiceImpl<typeof BillingService> {
  const same = <T>(r: T) => r;
  const writer = (ctx: HandlerContext) => requireTenantRole(principalOf(ctx), 'developer').tenantId;
  const reader = (ctx: HandlerContext) => requireTenantRole(principalOf(ctx), 'viewer').tenantId;
  /** An id derived from the request's idempotency key and content (same request, same id). */
  const idFor = <Req extends DescMessage, Res extends DescMessage>(
    ctx: HandlerContext, tenantId: string, request: { schema: Req; message: MessageShape<Req> & { idempotencyKey: string } }, responseSchema: Res, prefix: string,
  ) => {
    const key = keyOfRpc(deps, ctx, tenantId, request, responseSchema);
    return derivedId(prefix, [key.ref.scope, key.ref.method, key.ref.key, key.requestHash]);
  };
  const keyed = <Req extends DescMessage, Res extends DescMessage>(
    ctx: HandlerContext, tenantId: string, request: { schema: Req; message: MessageShape<Req> & { idempotencyKey: string } }, responseSchema: Res,
    execute: () => Promise<MessageShape<Res>>,
  ) => idempotentRpc(deps, ctx, tenantId, request, { schema: responseSchema, redact: same }, execute);

  return {
    async createProduct(req, ctx) {
      const tenantId = writer(ctx);
      checkName(req.name, 'name', true);
      const request = { schema: CreateProductRequestSchema, message: req };
      const product = productFromProto({ name: req.name, taxCategory: '' } as never, idFor(ctx, tenantId, request, CreateProductResponseSchema, 'prod'));
      return keyed(ctx, tenantId, request, CreateProductResponseSchema, async () => {
        const created = await catalog.createProduct(deps, tenantId, product);
        return create(CreateProductResponseSchema, { product: productToProto(created.product, created.createdAtMs) });
      });
    },
    async createPrice(req, ctx) {
      const tenantId = writer(ctx);
      parseId('product', req.price?.productId ?? '', 'price.product_id');
      const request = { schema: CreatePriceRequestSchema, message: req };
      const price = await catalog.checkNewPrice(deps, tenantId, priceFromProto(req.price, idFor(ctx, tenantId, request, CreatePriceResponseSchema, 'price')));
      return keyed(ctx, tenantId, request, CreatePriceResponseSchema, async () => {
        const created = await catalog.createPrice(deps, tenantId, price);
        return create(CreatePriceResponseSchema, { price: priceToProto(created.price, created.createdAtMs) });
      });
    },
    async createCoupon(req, ctx) {
      const tenantId = writer(ctx);
      const request = { schema: CreateCouponRequestSchema, message: req };
      const coupon = catalog.checkNewCoupon(couponFromProto(req.coupon, idFor(ctx, tenantId, request, CreateCouponResponseSchema, 'coupon'), deps.clock.nowMs()));
      return keyed(ctx, tenantId, request, CreateCouponResponseSchema, async () =>
        create(CreateCouponResponseSchema, { coupon: couponToProto(await catalog.createCoupon(deps, tenantId, coupon)) }));
    },
    async updateBillingCustomer(req, ctx) {
      const tenantId = writer(ctx);
      const input = billingCustomerFromProto(req.customer);
      parseId('customer', input.customerId, 'customer.customer_id');
      parseId('paymentMethod', input.defaultPaymentMethodId, 'customer.default_payment_method_id');
      parseOptionalId('testClock', input.testClockId, 'customer.test_clock_id');
      const customer = await catalog.checkBillingCustomer(deps, tenantId, input);
      return keyed(ctx, tenantId, { schema: UpdateBillingCustomerRequestSchema, message: req }, UpdateBillingCustomerResponseSchema, async () =>
        create(UpdateBillingCustomerResponseSchema, { customer: billingCustomerToProto(await catalog.updateBillingCustomer(deps, tenantId, customer)) }));
    },
    async createSubscription(req, ctx) {
      const tenantId = writer(ctx);
      parseId('customer', req.customerId, 'customer_id');
      req.items.forEach((item, i) => parseId('price', item.priceId, `items[${i}].price_id`));
      parseOptionalId('coupon', req.couponId, 'coupon_id');
      if (req.trialDays < 0 || req.trialDays > 730) throw invalidField('trial_days', '0..730');
      const settings = await settingsOf(deps, tenantId);
      if (settings.originCountry === '') throw invalidField('settings.origin_country', 'set the billing settings (UpdateBillingSettings) before the first subscription', 'FIELD_REQUIRED');
      const input = { customerId: req.customerId, items: req.items.map((i) => ({ priceId: i.priceId, quantity: i.quantity })), trialDays: req.trialDays, couponId: req.couponId, currency: req.currency };
      await subscriptions.checkNewSubscription(deps, tenantId, input);
      const request = { schema: CreateSubscriptionRequestSchema, message: req };
      const id = idFor(ctx, tenantId, request, CreateSubscriptionResponseSchema, 'sub');
      return keyed(ctx, tenantId, request, CreateSubscriptionResponseSchema, async () => {
        const { subscription, invoice } = await subscriptions.createSubscription(deps, tenantId, id, input, currentTraceIds());
        return create(CreateSubscriptionResponseSchema, { subscription: subscriptionToProto(subscription), ...(invoice && { invoice: invoiceToProto(invoice) }) });
      });
    },
    async cancelSubscription(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      await subscriptions.getSubscription(deps, tenantId, req.subscriptionId);
      return keyed(ctx, tenantId, { schema: CancelSubscriptionRequestSchema, message: req }, CancelSubscriptionResponseSchema, async () =>
        create(CancelSubscriptionResponseSchema, { subscription: subscriptionToProto(await subscriptions.cancelSubscription(deps, tenantId, req.subscriptionId, req.atPeriodEnd, currentTraceIds())) }));
    },
    async getSubscription(req, ctx) {
      const tenantId = reader(ctx);
      return { subscription: subscriptionToProto(await subscriptions.getSubscription(deps, tenantId, parseId('subscription', req.subscriptionId, 'subscription_id'))) };
    },
    async listSubscriptions(req, ctx) {
      const tenantId = reader(ctx);
      parseOptionalId('customer', req.customerId, 'customer_id');
      const page = await deps.store.listSubscriptions(tenantId, req.customerId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { subscriptions: page.items.map(subscriptionToProto), nextPageToken: page.nextCursor ?? '' };
    },
    async recordUsage(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      parseId('price', req.priceId, 'price_id');
      const request = { schema: RecordUsageRequestSchema, message: req };
      const key = keyOfRpc(deps, ctx, tenantId, request, RecordUsageResponseSchema);
      const atMs = msOf(req.time, 'time');
      // Checked under the key: a retry after the period renewed replays its answer instead of
      // failing the period check (a failed check stores nothing under the key).
      return keyed(ctx, tenantId, request, RecordUsageResponseSchema, async () => {
        const record = await catalog.checkUsage(deps, tenantId, { subscriptionId: req.subscriptionId, priceId: req.priceId, quantity: req.quantity, atMs }, key.ref.key);
        return create(RecordUsageResponseSchema, { usageRecordId: (await catalog.recordUsage(deps, tenantId, record)).id });
      });
    },
    async previewUpcomingInvoice(req, ctx) {
      const tenantId = reader(ctx);
      if (req.change) return { invoice: invoiceToProto(await changes.previewChange(deps, tenantId, parseId('subscription', req.subscriptionId, 'subscription_id'), changeFromProto(req.change))) };
      return { invoice: invoiceToProto(await catalog.previewUpcomingInvoice(deps, tenantId, parseId('subscription', req.subscriptionId, 'subscription_id'))) };
    },
    async updateSubscription(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      if (!req.change) throw invalidField('change', 'required', 'FIELD_REQUIRED');
      const change = changeFromProto(req.change);
      const request = { schema: UpdateSubscriptionRequestSchema, message: req };
      const changeId = idFor(ctx, tenantId, request, UpdateSubscriptionResponseSchema, 'chg');
      // Checked under the key (a failed check stores nothing under it): a retry of a change that
      // went through replays its answer even after the period moved on.
      return keyed(ctx, tenantId, request, UpdateSubscriptionResponseSchema, async () => {
        const plan = await changes.planItemChange(deps, tenantId, req.subscriptionId, change, changeId);
        const { subscription, invoice } = await changes.applyItemChange(deps, tenantId, plan, derivedId('inv', [tenantId, changeId]), currentTraceIds());
        return create(UpdateSubscriptionResponseSchema, { subscription: subscriptionToProto(subscription), ...(invoice && { invoice: invoiceToProto(invoice) }) });
      });
    },
    async getInvoice(req, ctx) {
      const tenantId = reader(ctx);
      const invoice = await deps.store.getInvoice(tenantId, parseId('invoice', req.invoiceId, 'invoice_id'));
      if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${req.invoiceId} not found`, { field: 'invoice_id' });
      return { invoice: invoiceToProto(invoice) };
    },
    async listInvoices(req, ctx) {
      const tenantId = reader(ctx);
      parseOptionalId('subscription', req.subscriptionId, 'subscription_id');
      parseOptionalId('customer', req.customerId, 'customer_id');
      // One filter at a time: a subscription has one customer, and each filter has its own index.
      if (req.subscriptionId !== '' && req.customerId !== '') throw invalidField('customer_id', 'set subscription_id or customer_id, not both');
      const page = await deps.store.listInvoices(tenantId, { subscriptionId: req.subscriptionId, customerId: req.customerId }, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { invoices: page.items.map(invoiceToProto), nextPageToken: page.nextCursor ?? '' };
    },
    async getInvoicePdf(req, ctx) {
      const tenantId = reader(ctx);
      const invoice = await deps.store.getInvoice(tenantId, parseId('invoice', req.invoiceId, 'invoice_id'));
      if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${req.invoiceId} not found`, { field: 'invoice_id' });
      if (invoice.status === 'draft') throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoice.id} is a draft: only finalized invoices render`, { field: 'invoice_id', from: 'draft' });
      const [name, settings] = await Promise.all([deps.tenantName(tenantId), settingsOf(deps, tenantId)]);
      return { pdf: await renderInvoicePdf(invoice, { name, settings }) };
    },
    async voidInvoice(req, ctx) {
      const tenantId = writer(ctx);
      parseId('invoice', req.invoiceId, 'invoice_id');
      const invoice = await deps.store.getInvoice(tenantId, req.invoiceId);
      if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${req.invoiceId} not found`, { field: 'invoice_id' });
      // The state is checked under the key: a retry of a void that went through replays its answer.
      return keyed(ctx, tenantId, { schema: VoidInvoiceRequestSchema, message: req }, VoidInvoiceResponseSchema, async () => {
        const current = (await deps.store.getInvoice(tenantId, req.invoiceId))!;
        if (current.status !== 'open' && current.status !== 'uncollectible') throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${current.id} is ${current.status}: only open invoices are voided`, { field: 'invoice_id', from: current.status, to: 'void' });
        return create(VoidInvoiceResponseSchema, { invoice: invoiceToProto(await voidInvoice(deps, tenantId, req.invoiceId, currentTraceIds())) });
      });
    },
    async createCreditNote(req, ctx) {
      const tenantId = writer(ctx);
      parseId('invoice', req.invoiceId, 'invoice_id');
      if (req.reason.length > REASON_LENGTH_MAX) throw invalidField('reason', `at most ${REASON_LENGTH_MAX} characters`);
      const invoice = await deps.store.getInvoice(tenantId, req.invoiceId);
      if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${req.invoiceId} not found`, { field: 'invoice_id' });
      // The amount and the invoice's state are checked by createCreditNote under the key (in its
      // transaction): a retry of a note that went through replays it instead of "nothing left to credit".
      const request = { schema: CreateCreditNoteRequestSchema, message: req };
      const creditNoteId = idFor(ctx, tenantId, request, CreateCreditNoteResponseSchema, 'cn');
      return keyed(ctx, tenantId, request, CreateCreditNoteResponseSchema, async () => {
        const { note, invoice: after } = await createCreditNote(deps, tenantId, { invoiceId: req.invoiceId, amountMinor: req.amountMinor, reason: req.reason, creditNoteId }, currentTraceIds());
        return create(CreateCreditNoteResponseSchema, { creditNote: creditNoteToProto(note), invoice: invoiceToProto(after) });
      });
    },
    async updateBillingSettings(req, ctx) {
      const tenantId = writer(ctx);
      const settings = catalog.checkSettings(settingsFromProto(req.settings));
      deps.tax(settings); // the tax hook's own checks (URL policy, timeout): FIELD_INVALID before anything is saved
      return keyed(ctx, tenantId, { schema: UpdateBillingSettingsRequestSchema, message: req }, UpdateBillingSettingsResponseSchema, async () =>
        create(UpdateBillingSettingsResponseSchema, { settings: settingsToProto(await catalog.updateSettings(deps, tenantId, settings)) }));
    },
    async getBillingSettings(_req, ctx) {
      const tenantId = reader(ctx);
      return { settings: settingsToProto(await settingsOf(deps, tenantId)) };
    },
    async createTestClock(req, ctx) {
      const tenantId = writer(ctx);
      checkName(req.name, 'name', false);
      const frozenTimeMs = msOf(req.frozenTime, 'frozen_time') ?? deps.clock.nowMs();
      await catalog.requireTestTenant(deps, tenantId);
      const request = { schema: CreateTestClockRequestSchema, message: req };
      const id = idFor(ctx, tenantId, request, CreateTestClockResponseSchema, 'clock');
      return keyed(ctx, tenantId, request, CreateTestClockResponseSchema, async () =>
        create(CreateTestClockResponseSchema, { testClock: testClockToProto(await catalog.createTestClock(deps, tenantId, { id, name: req.name, frozenTimeMs, createdAtMs: deps.clock.nowMs() })) }));
    },
    async advanceTestClock(req, ctx) {
      const tenantId = writer(ctx);
      parseId('testClock', req.testClockId, 'test_clock_id');
      const toMs = msOf(req.frozenTime, 'frozen_time');
      if (toMs === null) throw invalidField('frozen_time', 'required', 'FIELD_REQUIRED');
      await catalog.requireTestTenant(deps, tenantId);
      // Checked under the key: a retry of an advance that went through replays it even after the clock moved on.
      return keyed(ctx, tenantId, { schema: AdvanceTestClockRequestSchema, message: req }, AdvanceTestClockResponseSchema, async () => {
        const clock = await catalog.checkAdvance(deps, tenantId, req.testClockId, toMs);
        const { clock: after, report } = await catalog.advanceTestClock(deps, tenantId, clock, toMs, currentTraceIds());
        return create(AdvanceTestClockResponseSchema, { testClock: testClockToProto(after), invoicesFinalized: report.finalized, chargeAttempts: report.chargeAttempts });
      });
    },
    async pauseSubscription(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      await subscriptions.getSubscription(deps, tenantId, req.subscriptionId);
      // The state is checked under the key: a retry of a pause replays its answer whatever happened since.
      return keyed(ctx, tenantId, { schema: PauseSubscriptionRequestSchema, message: req }, PauseSubscriptionResponseSchema, async () =>
        create(PauseSubscriptionResponseSchema, { subscription: subscriptionToProto(await pause.pauseSubscription(deps, tenantId, req.subscriptionId, currentTraceIds())) }));
    },
    async resumeSubscription(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      const anchor = (req.billingCycleAnchor === '' ? 'now' : req.billingCycleAnchor) as pause.ResumeAnchor;
      if (!pause.resumeAnchors.includes(anchor)) throw invalidField('billing_cycle_anchor', `one of ${pause.resumeAnchors.join(', ')} (empty: now)`);
      await subscriptions.getSubscription(deps, tenantId, req.subscriptionId);
      return keyed(ctx, tenantId, { schema: ResumeSubscriptionRequestSchema, message: req }, ResumeSubscriptionResponseSchema, async () => {
        const { subscription, invoice } = await pause.resumeSubscription(deps, tenantId, req.subscriptionId, anchor, currentTraceIds());
        return create(ResumeSubscriptionResponseSchema, { subscription: subscriptionToProto(subscription), ...(invoice && { invoice: invoiceToProto(invoice) }) });
      });
    },
    async payInvoice(req, ctx) {
      const tenantId = writer(ctx);
      parseId('invoice', req.invoiceId, 'invoice_id');
      parseOptionalId('paymentMethod', req.paymentMethodId, 'payment_method_id');
      if (!(await deps.store.getInvoice(tenantId, req.invoiceId))) throw new TallyError('NOT_FOUND', `invoice ${req.invoiceId} not found`, { field: 'invoice_id' });
      // The invoice's state and the method are checked under the key: a retry of a payment that went through replays it.
      return keyed(ctx, tenantId, { schema: PayInvoiceRequestSchema, message: req }, PayInvoiceResponseSchema, async () => {
        const { invoice, declineReason } = await pay.payInvoice(deps, tenantId, req.invoiceId, req.paymentMethodId, currentTraceIds());
        return create(PayInvoiceResponseSchema, { invoice: invoiceToProto(invoice), declineReason });
      });
    },
    async getCustomerCreditBalance(req, ctx) {
      const tenantId = reader(ctx);
      const balances = await pay.customerCreditBalances(deps, tenantId, parseId('customer', req.customerId, 'customer_id'));
      return { balances: balances.map((b) => ({ currency: b.currency, amountMinor: b.amountMinor })) };
    },
    async createInvoiceItem(req, ctx) {
      const tenantId = writer(ctx);
      parseId('subscription', req.subscriptionId, 'subscription_id');
      parseId('price', req.priceId, 'price_id');
      if (req.description.length > REASON_LENGTH_MAX) throw invalidField('description', `at most ${REASON_LENGTH_MAX} characters`);
      const request = { schema: CreateInvoiceItemRequestSchema, message: req };
      const itemId = idFor(ctx, tenantId, request, CreateInvoiceItemResponseSchema, 'ii');
      const input = { subscriptionId: req.subscriptionId, priceId: req.priceId, quantity: req.quantity, description: req.description, invoiceNow: req.invoiceNow };
      // Checked under the key (a failed check stores nothing under it): a retry replays even after the renewal billed the item.
      return keyed(ctx, tenantId, request, CreateInvoiceItemResponseSchema, async () => {
        const plan = await items.planInvoiceItem(deps, tenantId, input, itemId);
        const { subscription, invoice } = await items.addInvoiceItem(deps, tenantId, plan, itemId, derivedId('inv', [tenantId, itemId]), currentTraceIds());
        return create(CreateInvoiceItemResponseSchema, { subscription: subscriptionToProto(subscription), ...(invoice && { invoice: invoiceToProto(invoice) }) });
      });
    },
    // ---- catalog reads (ADR 0035): viewer+, cursor pages newest first as ListInvoices ----
    async getProduct(req, ctx) {
      const tenantId = reader(ctx);
      const found = await deps.store.getProduct(tenantId, parseId('product', req.productId, 'product_id'));
      if (!found) throw new TallyError('NOT_FOUND', `product ${req.productId} not found`, { field: 'product_id' });
      return { product: productToProto(found.product, found.createdAtMs) };
    },
    async listProducts(req, ctx) {
      const tenantId = reader(ctx);
      const page = await deps.store.listProducts(tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { products: page.items.map((p) => productToProto(p.product, p.createdAtMs)), nextPageToken: page.nextCursor ?? '' };
    },
    async getPrice(req, ctx) {
      const tenantId = reader(ctx);
      const found = await deps.store.getPrice(tenantId, parseId('price', req.priceId, 'price_id'));
      if (!found) throw new TallyError('NOT_FOUND', `price ${req.priceId} not found`, { field: 'price_id' });
      return { price: priceToProto(found.price, found.createdAtMs) };
    },
    async listPrices(req, ctx) {
      const tenantId = reader(ctx);
      parseOptionalId('product', req.productId, 'product_id');
      const page = await deps.store.listPrices(tenantId, req.productId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { prices: page.items.map((p) => priceToProto(p.price, p.createdAtMs)), nextPageToken: page.nextCursor ?? '' };
    },
    async getCoupon(req, ctx) {
      const tenantId = reader(ctx);
      const found = await deps.store.getCoupon(tenantId, parseId('coupon', req.couponId, 'coupon_id'));
      if (!found) throw new TallyError('NOT_FOUND', `coupon ${req.couponId} not found`, { field: 'coupon_id' });
      return { coupon: couponToProto(found) };
    },
    async listCoupons(req, ctx) {
      const tenantId = reader(ctx);
      const page = await deps.store.listCoupons(tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { coupons: page.items.map(couponToProto), nextPageToken: page.nextCursor ?? '' };
    },
  };
}
