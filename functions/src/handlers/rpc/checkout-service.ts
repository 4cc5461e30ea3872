/**
 * CheckoutService (merchant: API key or console ID token) and HostedCheckoutService (buyer: the
 * session's client secret, no Authorization): decode, authorize, call app/checkout, encode.
 * Mutations are idempotent; bad input is refused before the idempotency key is read (nothing written).
 */
import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { requireTenantRole } from '../../app/auth/authenticate.js';
import type { CheckoutDeps } from '../../app/checkout/checkout-deps.js';
import { checkCard, confirmHosted, sessionBySecret, syncHosted, type AttemptOutcome, type HostedCardInput } from '../../app/checkout/hosted.js';
import { createSession, expireCheckoutSession, getSession, listSessions, prepareSession } from '../../app/checkout/sessions.js';
import { checkoutModeFromProto, checkoutSessionToProto, hostedSessionToProto } from '../../adapters/proto/checkout-mapping.js';
import { requirePayable, type CheckoutSession } from '../../domain/checkout/session.js';
import { TallyError, invalidField } from '../../domain/errors.js';
import { parseId } from '../../domain/ids.js';
import { validateCardBrand, validateCountry, validateCustomerEmail, validateReturnUrl } from '../../domain/payments/payment-fields.js';
import {
  CheckoutService, ConfirmHostedSessionRequestSchema, ConfirmHostedSessionResponseSchema, CreateCheckoutSessionRequestSchema,
  CreateCheckoutSessionResponseSchema, ExpireCheckoutSessionRequestSchema, ExpireCheckoutSessionResponseSchema, HostedCheckoutService,
  type HostedCard,
} from '../../gen/tally/checkout/v1/checkout_pb.js';
import { resolveIdempotencyKey } from '../../platform/idempotency/idempotency.js';
import { pageSizeOf } from '../../platform/pagination/page-size.js';
import { currentTraceIds } from '../../platform/telemetry/tracing.js';
import { idempotentRpc } from './idempotent-rpc.js';
import { principalOf } from './rpc-context.js';

const same = <T>(r: T) => r;

export function createCheckoutServiceImpl(deps: CheckoutDeps): ServiceImpl<typeof CheckoutService> {
  const writer = (ctx: HandlerContext) => requireTenantRole(principalOf(ctx), 'developer').tenantId;
  const reader = (ctx: HandlerContext) => requireTenantRole(principalOf(ctx), 'viewer').tenantId;
  return {
    async createCheckoutSession(req, ctx) {
      const tenantId = writer(ctx);
      const prepared = await prepareSession(deps, tenantId, {
        mode: checkoutModeFromProto(req.mode), currency: req.currency,
        lineItems: req.lineItems.map((l) => ({ priceId: l.priceId, name: l.name, unitAmountMinor: l.unitAmountMinor, quantity: l.quantity, taxInclusive: l.taxInclusive, taxCategory: l.taxCategory })),
        customerEmail: req.customerEmail, customerId: req.customerId === '' ? '' : parseId('customer', req.customerId, 'customer_id'),
        customerCountry: req.customerCountry, customerPostcode: req.customerPostcode, automaticTax: req.automaticTax,
        successUrl: req.successUrl, cancelUrl: req.cancelUrl, expiresInSeconds: req.expiresInSeconds, metadata: req.metadata,
      });
      // The stored response keeps the URL and secret: a retry under the key must give the merchant the
      // same session's URL (the record is the tenant's own, kept 24 h, never readable by clients).
      return idempotentRpc(deps, ctx, tenantId, { schema: CreateCheckoutSessionRequestSchema, message: req }, { schema: CreateCheckoutSessionResponseSchema, redact: same },
        async () => {
          const created = await createSession(deps, prepared, currentTraceIds());
          return create(CreateCheckoutSessionResponseSchema, { session: checkoutSessionToProto(created.session, { url: created.url, clientSecret: created.clientSecret }) });
        });
    },
    async getCheckoutSession(req, ctx) {
      const tenantId = reader(ctx);
      const session = await getSession(deps, tenantId, parseId('checkoutSession', req.sessionId, 'session_id'));
      // A buyer who paid after a challenge and never came back: the session completes when anyone looks.
      const current = session.status !== 'complete' && session.paymentId !== '' ? (await syncHosted(deps, session, currentTraceIds())).session : session;
      return { session: checkoutSessionToProto(current) };
    },
    async listCheckoutSessions(req, ctx) {
      const tenantId = reader(ctx);
      const page = await listSessions(deps, tenantId, pageSizeOf(req.pageSize), req.pageToken === '' ? undefined : req.pageToken);
      return { sessions: page.items.map((s) => checkoutSessionToProto(s)), nextPageToken: page.nextCursor ?? '' };
    },
    async expireCheckoutSession(req, ctx) {
      const tenantId = writer(ctx);
      const sessionId = parseId('checkoutSession', req.sessionId, 'session_id');
      await getSession(deps, tenantId, sessionId); // NOT_FOUND before the key is read
      return idempotentRpc(deps, ctx, tenantId, { schema: ExpireCheckoutSessionRequestSchema, message: req }, { schema: ExpireCheckoutSessionResponseSchema, redact: same },
        async () => create(ExpireCheckoutSessionResponseSchema, { session: checkoutSessionToProto(await expireCheckoutSession(deps, tenantId, sessionId, currentTraceIds())) }));
    },
  };
}

/** A card's display fields checked at the edge, each named under `card.`. */
function cardOf(card: HostedCard | undefined): HostedCardInput {
  if (!card) throw invalidField('card', 'required: the card the hosted card fields tokenized', 'FIELD_REQUIRED');
  const named = <T>(field: string, check: () => T): T => {
    try {
      return check();
    } catch (error) {
      if (error instanceof TallyError) throw invalidField(`card.${field}`, error.message.replace(/^\w+: /, ''));
      throw error;
    }
  };
  return {
    pspTokens: card.pspTokens, brand: named('brand', () => validateCardBrand(card.brand)), country: named('country', () => validateCountry(card.country)), last4: card.last4,
  };
}

export function createHostedCheckoutServiceImpl(deps: CheckoutDeps): ServiceImpl<typeof HostedCheckoutService> {
  // A challenge is offered only while the session is open (not for one the merchant expired meanwhile).
  const view = async (session: CheckoutSession, nextActionUrl: string) => hostedSessionToProto(session, {
    merchantDisplayName: await deps.tenantName(session.tenantId), cardFieldsUrl: deps.settings.cardFieldsUrl,
    nextActionUrl: session.status === 'open' ? nextActionUrl : '',
  });
  const respond = async (outcome: AttemptOutcome) => ({
    session: await view(outcome.session, outcome.kind === 'action' ? outcome.nextActionUrl : ''),
    nextActionUrl: outcome.kind === 'action' ? outcome.nextActionUrl : '',
    declineMessage: outcome.kind === 'declined' ? outcome.message : '',
    declineCode: outcome.kind === 'declined' ? outcome.code : '',
  });
  return {
    async getHostedSession(req) {
      const session = await sessionBySecret(deps, req.clientSecret);
      // A reload after the challenge shows the session as its payment now stands (completing it once paid).
      // An expired session whose payment succeeded anyway (a challenge finished late) is complete: the buyer paid.
      const outcome = session.status !== 'complete' && session.paymentId !== '' ? await syncHosted(deps, session, currentTraceIds()) : { kind: 'pending' as const, session };
      return { session: await view(outcome.session, outcome.kind === 'action' ? outcome.nextActionUrl : '') };
    },
    async confirmHostedSession(req, ctx) {
      const session = await sessionBySecret(deps, req.clientSecret);
      const card = cardOf(req.card);
      const returnUrl = validateReturnUrl(req.returnUrl) ?? '';
      let buyerEmail: string;
      try {
        buyerEmail = validateCustomerEmail(req.customerEmail);
      } catch {
        throw invalidField('customer_email', 'not an email address (local@domain.tld, ASCII)');
      }
      if (session.status !== 'complete') {
        requirePayable(session, deps.clock.nowMs());
        await checkCard(deps, session.tenantId, card);
      }
      const key = resolveIdempotencyKey(req.idempotencyKey, ctx.requestHeader.get('idempotency-key'));
      return idempotentRpc(deps, ctx, session.tenantId, { schema: ConfirmHostedSessionRequestSchema, message: req }, { schema: ConfirmHostedSessionResponseSchema, redact: same },
        async () => create(ConfirmHostedSessionResponseSchema, await respond(await confirmHosted(deps, session, card, returnUrl, key, currentTraceIds(), buyerEmail))));
    },
    async syncHostedSession(req) {
      const session = await sessionBySecret(deps, req.clientSecret);
      return respond(await syncHosted(deps, session, currentTraceIds()));
    },
  };
}
