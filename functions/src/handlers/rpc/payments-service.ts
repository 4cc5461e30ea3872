/** PaymentsService: decode, authorize, call the payments use cases (app/payments), encode. Mutations are idempotent. */
import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import * as payments from '../../app/payments/index.js';
import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { captureMethodFromProto, paymentStatusFromProto, paymentToProto } from '../../adapters/proto/payments-mapping.js';
import { domainEventToProto } from '../../adapters/proto/events-mapping.js';
import { TallyError, errorReasons, invalidField, type ErrorReason } from '../../domain/errors.js';
import { newId, parseId, parseOptionalId } from '../../domain/ids.js';
import { validateCardBrand, validateCountry, validateCustomerEmail, validateCustomerName, validateReturnUrl } from '../../domain/payments/payment-fields.js';
import {
  CancelPaymentRequestSchema, CancelPaymentResponseSchema, CapturePaymentRequestSchema, CapturePaymentResponseSchema,
  ConfirmPaymentRequestSchema, ConfirmPaymentResponseSchema, CreateCustomerRequestSchema, CreateCustomerResponseSchema,
  CreatePaymentMethodRequestSchema, CreatePaymentMethodResponseSchema, CreatePaymentRequestSchema, CreatePaymentResponseSchema, type ListPaymentsRequest,
  PaymentsService, RefundPaymentRequestSchema, RefundPaymentResponseSchema, SetRoutingRulesRequestSchema, SetRoutingRulesResponseSchema,
  UpdatePaymentRequestSchema, UpdatePaymentResponseSchema,
} from '../../gen/tally/payments/v1/payments_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { pspNames, type PspName } from '../../ports/psp-gateway.js';
import type { OutboxStore } from '../../ports/outbox-store.js';
import type { PaymentsFilter } from '../../ports/payments-store.js';
import { principalOf } from './rpc-context.js';
import { idempotentRpc, keyOfRpc } from './idempotent-rpc.js';
import { customerToProto } from '../../adapters/proto/customer-mapping.js';
import type { PaymentIntent } from '../../domain/payments/index.js';

export interface PaymentsServiceDeps extends payments.PaymentsDeps {
  idempotency: IdempotencyOptions;
  /** Where a payment's timeline is read (ListPaymentEvents). */
  outboxEvents: Pick<OutboxStore, 'listEventsOfAggregate'>;
}

/** Earliest and latest instants a filter time may name (RFC 3339's years 0001..9999, as Timestamp allows). */
const filterTimeSecondsMin = -62_135_596_800n;
const filterTimeSecondsMax = 253_402_300_799n;

/** A filter time to milliseconds, refused (FIELD_INVALID) outside what a Timestamp may hold. */
function filterTimeMs(time: Timestamp | undefined, field: string): number | undefined {
  if (time === undefined) return undefined;
  if (time.seconds < filterTimeSecondsMin || time.seconds > filterTimeSecondsMax || time.nanos < 0 || time.nanos > 999_999_999) {
    throw invalidField(field, 'not a valid time (years 0001..9999)');
  }
  return timestampMs(time);
}

/** ListPayments' filters, decoded at the edge: every status known, the range non-empty, the customer id well formed. */
function paymentsFilterOf(req: ListPaymentsRequest): PaymentsFilter {
  const statuses = [...new Set(req.statuses)].map((s) => paymentStatusFromProto(s) ?? (() => { throw invalidField('statuses', `unknown or unspecified status ${String(s)}`); })());
  const createdFromMs = filterTimeMs(req.createdAfter, 'created_after');
  const createdBeforeMs = filterTimeMs(req.createdBefore, 'created_before');
  if (createdFromMs !== undefined && createdBeforeMs !== undefined && createdBeforeMs <= createdFromMs) throw invalidField('created_before', 'must be after created_after');
  const customerId = req.customerId === '' ? undefined : parseId('customer', req.customerId, 'customer_id');
  return {
    ...(statuses.length > 0 ? { statuses } : {}),
    ...(createdFromMs === undefined ? {} : { createdFromMs }),
    ...(createdBeforeMs === undefined ? {} : { createdBeforeMs }),
    ...(customerId === undefined ? {} : { customerId }),
  };
}

/**
 * A payment command under the request's idempotency key (ADR 0011): the use case stores the
 * response `respond` makes of its final intent; a replay answers that stored response.
 */
async function keyedCommand<Req extends DescMessage, Res extends DescMessage>(
  deps: { idempotency: IdempotencyOptions }, ctx: HandlerContext, tenantId: string,
  request: { schema: Req; message: MessageShape<Req> & { idempotencyKey: string } },
  responseSchema: Res,
  respond: (intent: PaymentIntent) => MessageShape<Res>,
  run: (key: payments.CommandKey) => Promise<payments.KeyedResult>,
): Promise<MessageShape<Res>> {
  const key = keyOfRpc(deps, ctx, tenantId, request, responseSchema);
  const result = await run({ ref: key.ref, requestHash: key.requestHash, options: key.options, encode: (intent) => key.encode(respond(intent)) });
  if (result.kind === 'fresh') return respond(result.intent);
  // The first run's error again (a failed one-call checkout), through the one error contract.
  const replayed = result.error;
  if (replayed && (errorReasons as readonly string[]).includes(replayed.reason)) {
    throw new TallyError(replayed.reason as ErrorReason, replayed.message, replayed.metadata);
  }
  return key.decode(result.response);
}

/** A response that is just the payment. */
const paymentIn = <Res extends DescMessage>(schema: Res) => (intent: PaymentIntent): MessageShape<Res> =>
  create(schema, { payment: paymentToProto(intent) } as never);

export function createPaymentsServiceImpl(deps: PaymentsServiceDeps): ServiceImpl<typeof PaymentsService> {
  const same = <T>(r: T) => r;
  const writer = (ctx: Parameters<typeof principalOf>[0]) => requireTenantRole(principalOf(ctx), 'developer').tenantId;
  return {
    async createPayment(req, ctx) {
      const tenantId = writer(ctx);
      // Decoded at the edge (ADR 0019): ids before they name a document, the return URL whether or not `confirm` is set.
      parseOptionalId('customer', req.customerId, 'customer_id');
      parseOptionalId('paymentMethod', req.paymentMethodId, 'payment_method_id');
      validateReturnUrl(req.returnUrl);
      return keyedCommand(deps, ctx, tenantId, { schema: CreatePaymentRequestSchema, message: req }, CreatePaymentResponseSchema, paymentIn(CreatePaymentResponseSchema),
        (key) => payments.createPayment(deps, tenantId, {
          amountMinor: req.amountMinor, currency: req.currency, captureMethod: captureMethodFromProto(req.captureMethod),
          customerId: req.customerId, paymentMethodId: req.paymentMethodId, metadata: req.metadata,
          confirm: req.confirm, returnUrl: req.returnUrl,
        }, currentTraceIds(), key));
    },
    async confirmPayment(req, ctx) {
      const tenantId = writer(ctx);
      parseId('payment', req.paymentId, 'payment_id');
      parseOptionalId('paymentMethod', req.paymentMethodId, 'payment_method_id');
      validateReturnUrl(req.returnUrl);
      return keyedCommand(deps, ctx, tenantId, { schema: ConfirmPaymentRequestSchema, message: req }, ConfirmPaymentResponseSchema, paymentIn(ConfirmPaymentResponseSchema),
        (key) => payments.confirm(deps, tenantId, req.paymentId, req.paymentMethodId, currentTraceIds(), key, req.returnUrl));
    },
    async capturePayment(req, ctx) {
      const tenantId = writer(ctx);
      parseId('payment', req.paymentId, 'payment_id');
      return keyedCommand(deps, ctx, tenantId, { schema: CapturePaymentRequestSchema, message: req }, CapturePaymentResponseSchema, paymentIn(CapturePaymentResponseSchema),
        (key) => payments.capture(deps, tenantId, req.paymentId, req.amountMinor === 0n ? null : req.amountMinor, currentTraceIds(), key));
    },
    async cancelPayment(req, ctx) {
      const tenantId = writer(ctx);
      parseId('payment', req.paymentId, 'payment_id');
      return keyedCommand(deps, ctx, tenantId, { schema: CancelPaymentRequestSchema, message: req }, CancelPaymentResponseSchema, paymentIn(CancelPaymentResponseSchema),
        (key) => payments.cancel(deps, tenantId, req.paymentId, currentTraceIds(), key));
    },
    async refundPayment(req, ctx) {
      const tenantId = writer(ctx);
      parseId('payment', req.paymentId, 'payment_id');
      const refundId = newId('re');
      const respond = (intent: PaymentIntent) => {
        const refund = intent.refunds.find((r) => r.id === refundId);
        return create(RefundPaymentResponseSchema, { payment: paymentToProto(intent), ...(refund ? { refund: { id: refund.id, amountMinor: refund.amountMinor, status: refund.status } } : {}) });
      };
      return keyedCommand(deps, ctx, tenantId, { schema: RefundPaymentRequestSchema, message: req }, RefundPaymentResponseSchema, respond,
        (key) => payments.refund(deps, tenantId, req.paymentId, refundId, req.amountMinor === 0n ? null : req.amountMinor, currentTraceIds(), key));
    },
    async updatePayment(req, ctx) {
      const tenantId = writer(ctx);
      parseId('payment', req.paymentId, 'payment_id');
      return keyedCommand(deps, ctx, tenantId, { schema: UpdatePaymentRequestSchema, message: req }, UpdatePaymentResponseSchema, paymentIn(UpdatePaymentResponseSchema),
        (key) => payments.updateMetadata(deps, tenantId, req.paymentId, req.metadata, currentTraceIds(), key));
    },
    async getPayment(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      return { payment: paymentToProto(await payments.getPayment(deps, tenantId, parseId('payment', req.paymentId, 'payment_id'))) };
    },
    async listPayments(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const pageSize = pageSizeOf(req.pageSize);
      const page = await deps.store.listPayments(tenantId, pageSize, req.pageToken === '' ? undefined : req.pageToken, paymentsFilterOf(req));
      return { payments: page.items.map((p) => paymentToProto(p)), nextPageToken: page.nextCursor ?? '' };
    },
    async listPaymentEvents(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const paymentId = parseId('payment', req.paymentId, 'payment_id');
      const page = await payments.listPaymentEvents(deps, deps.outboxEvents, tenantId, paymentId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { events: page.events.map(domainEventToProto), nextPageToken: page.nextCursor ?? '' };
    },
    async createCustomer(req, ctx) {
      const tenantId = writer(ctx);
      const input = { email: validateCustomerEmail(req.email), name: validateCustomerName(req.name) };
      payments.checkNewCustomer(input);
      return idempotentRpc(deps, ctx, tenantId, { schema: CreateCustomerRequestSchema, message: req }, { schema: CreateCustomerResponseSchema, redact: same },
        async () => {
          const customer = await payments.createCustomer(deps, tenantId, input);
          return create(CreateCustomerResponseSchema, { customer: customerToProto(customer) });
        });
    },
    // Reads of customers are for developers and owners, as firestore.rules has it: names and emails are personal data.
    async getCustomer(req, ctx) {
      const tenantId = writer(ctx);
      return { customer: customerToProto(await payments.getCustomer(deps, tenantId, parseId('customer', req.customerId, 'customer_id'))) };
    },
    async listCustomers(req, ctx) {
      const tenantId = writer(ctx);
      const email = validateCustomerEmail(req.email);
      const page = await deps.store.listCustomers(tenantId, email, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { customers: page.items.map(customerToProto), nextPageToken: page.nextCursor ?? '' };
    },
    async createPaymentMethod(req, ctx) {
      const tenantId = writer(ctx);
      parseOptionalId('customer', req.customerId, 'customer_id');
      const input = { customerId: req.customerId, pspTokens: req.pspTokens, brand: validateCardBrand(req.brand), country: validateCountry(req.country), last4: req.last4 };
      await payments.checkNewPaymentMethod(deps, tenantId, input);
      return idempotentRpc(deps, ctx, tenantId, { schema: CreatePaymentMethodRequestSchema, message: req }, { schema: CreatePaymentMethodResponseSchema, redact: same },
        async () => {
          const method = await payments.createPaymentMethod(deps, tenantId, input);
          return create(CreatePaymentMethodResponseSchema, { paymentMethod: { id: method.id, customerId: method.customerId, pspTokens: req.pspTokens, brand: method.brand, country: method.country, last4: method.last4 } });
        });
    },
    async setRoutingRules(req, ctx) {
      const tenantId = writer(ctx);
      return idempotentRpc(deps, ctx, tenantId, { schema: SetRoutingRulesRequestSchema, message: req }, { schema: SetRoutingRulesResponseSchema, redact: same },
        async () => {
          await payments.setRoutingRules(deps, tenantId, req.rules.map((r, i) => ({
            name: `rule-${i}`, currencies: r.currencies, cardBrands: r.brands, countries: r.countries,
            amountMinorMin: r.amountMinMinor === 0n ? null : r.amountMinMinor, amountMinorMax: r.amountMaxMinor === 0n ? null : r.amountMaxMinor,
            choices: r.choices.map((c) => ({ psp: c.psp as PspName, weight: c.weight })),
            // As documented in the proto: the PSPs a rule does not choose follow as failover.
            fallbacks: pspNames.filter((psp) => !r.choices.some((c) => c.psp === psp)),
          })));
          return create(SetRoutingRulesResponseSchema, { rules: req.rules });
        });
    },
  };
}
