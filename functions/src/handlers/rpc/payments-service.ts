/** PaymentsService: decode, authorize, call the payments use cases, encode. Mutations are idempotent. */
import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import * as payments from '../../app/payments/payments-use-cases.js';
import { captureMethodFromProto, paymentToProto } from '../../adapters/proto/payments-mapping.js';
import { TallyError, errorReasons, invalidField, type ErrorReason } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import {
  CancelPaymentRequestSchema, CancelPaymentResponseSchema, CapturePaymentRequestSchema, CapturePaymentResponseSchema,
  ConfirmPaymentRequestSchema, ConfirmPaymentResponseSchema, CreateCustomerRequestSchema, CreateCustomerResponseSchema,
  CreatePaymentMethodRequestSchema, CreatePaymentMethodResponseSchema, CreatePaymentRequestSchema, CreatePaymentResponseSchema,
  PaymentsService, RefundPaymentRequestSchema, RefundPaymentResponseSchema, SetRoutingRulesRequestSchema, SetRoutingRulesResponseSchema,
  UpdatePaymentRequestSchema, UpdatePaymentResponseSchema,
} from '../../gen/tally/payments/v1/payments_pb.js';
import type { IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { pspNames, type PspName } from '../../ports/psp-gateway.js';
import { principalOf } from './rpc-context.js';
import { idempotentRpc, keyOfRpc } from './idempotent-rpc.js';
import type { PaymentIntent } from '../../domain/payments/index.js';

export interface PaymentsServiceDeps extends payments.PaymentsDeps {
  idempotency: IdempotencyOptions;
}

/** 13..19 digits passing the Luhn check: a card number (PAN). Tally never accepts one. */
export function looksLikePan(value: string): boolean {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{13,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
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
      return keyedCommand(deps, ctx, tenantId, { schema: CreatePaymentRequestSchema, message: req }, CreatePaymentResponseSchema, paymentIn(CreatePaymentResponseSchema),
        (key) => payments.createPayment(deps, tenantId, {
          amountMinor: req.amountMinor, currency: req.currency, captureMethod: captureMethodFromProto(req.captureMethod),
          customerId: req.customerId, paymentMethodId: req.paymentMethodId, metadata: req.metadata,
          confirm: req.confirm, returnUrl: req.returnUrl,
        }, currentTraceIds(), key));
    },
    async confirmPayment(req, ctx) {
      const tenantId = writer(ctx);
      return keyedCommand(deps, ctx, tenantId, { schema: ConfirmPaymentRequestSchema, message: req }, ConfirmPaymentResponseSchema, paymentIn(ConfirmPaymentResponseSchema),
        (key) => payments.confirm(deps, tenantId, req.paymentId, req.paymentMethodId, currentTraceIds(), key, req.returnUrl));
    },
    async capturePayment(req, ctx) {
      const tenantId = writer(ctx);
      return keyedCommand(deps, ctx, tenantId, { schema: CapturePaymentRequestSchema, message: req }, CapturePaymentResponseSchema, paymentIn(CapturePaymentResponseSchema),
        (key) => payments.capture(deps, tenantId, req.paymentId, req.amountMinor === 0n ? null : req.amountMinor, currentTraceIds(), key));
    },
    async cancelPayment(req, ctx) {
      const tenantId = writer(ctx);
      return keyedCommand(deps, ctx, tenantId, { schema: CancelPaymentRequestSchema, message: req }, CancelPaymentResponseSchema, paymentIn(CancelPaymentResponseSchema),
        (key) => payments.cancel(deps, tenantId, req.paymentId, currentTraceIds(), key));
    },
    async refundPayment(req, ctx) {
      const tenantId = writer(ctx);
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
      return keyedCommand(deps, ctx, tenantId, { schema: UpdatePaymentRequestSchema, message: req }, UpdatePaymentResponseSchema, paymentIn(UpdatePaymentResponseSchema),
        (key) => payments.updateMetadata(deps, tenantId, req.paymentId, req.metadata, currentTraceIds(), key));
    },
    async getPayment(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      return { payment: paymentToProto(await payments.getPayment(deps, tenantId, req.paymentId)) };
    },
    async listPayments(req, ctx) {
      const { tenantId } = requireTenantRole(principalOf(ctx), 'viewer');
      const page = await deps.store.listPayments(tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { payments: page.items.map((p) => paymentToProto(p)), nextPageToken: page.nextCursor ?? '' };
    },
    async createCustomer(req, ctx) {
      const tenantId = writer(ctx);
      if (req.email.length > 320 || req.name.length > 200) throw invalidField(req.email.length > 320 ? 'email' : 'name', 'too long');
      return idempotentRpc(deps, ctx, tenantId, { schema: CreateCustomerRequestSchema, message: req }, { schema: CreateCustomerResponseSchema, redact: same },
        async () => {
          const customer = { id: newId('cus'), tenantId, email: req.email, name: req.name, createdAtMs: deps.clock.nowMs() };
          await deps.store.createCustomer(customer);
          return create(CreateCustomerResponseSchema, { customer: { id: customer.id, email: customer.email, name: customer.name } });
        });
    },
    async createPaymentMethod(req, ctx) {
      const tenantId = writer(ctx);
      const tokens = Object.entries(req.pspTokens);
      if (tokens.length === 0) throw invalidField('psp_tokens', 'at least one PSP token', 'FIELD_REQUIRED');
      for (const [psp, token] of tokens) {
        if (!(pspNames as readonly string[]).includes(psp)) throw invalidField(`psp_tokens.${psp}`, `unknown PSP (one of ${pspNames.join(', ')})`);
        // PCI scope: raw card numbers never enter Tally; only PSP tokens do.
        if (looksLikePan(token)) throw invalidField(`psp_tokens.${psp}`, 'looks like a card number: send a PSP token, never raw card data');
        if (token.length === 0 || token.length > 200) throw invalidField(`psp_tokens.${psp}`, '1..200 characters');
      }
      if (looksLikePan(req.last4)) throw invalidField('last4', 'looks like a card number');
      if (req.last4 !== '' && !/^\d{4}$/.test(req.last4)) throw invalidField('last4', 'four digits');
      if (req.customerId !== '' && !(await deps.store.getCustomer(tenantId, req.customerId))) {
        throw new TallyError('NOT_FOUND', `customer ${req.customerId} not found`, { field: 'customer_id' });
      }
      return idempotentRpc(deps, ctx, tenantId, { schema: CreatePaymentMethodRequestSchema, message: req }, { schema: CreatePaymentMethodResponseSchema, redact: same },
        async () => {
          const method = {
            id: newId('pm'), tenantId, customerId: req.customerId, pspTokens: Object.fromEntries(tokens) as Partial<Record<PspName, string>>,
            brand: req.brand, country: req.country, last4: req.last4, createdAtMs: deps.clock.nowMs(),
          };
          await deps.store.createPaymentMethod(method);
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
