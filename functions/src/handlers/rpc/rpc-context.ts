/**
 * Cross-cutting RPC concerns as ConnectRPC interceptors: a span per call continuing the caller's
 * W3C trace, one access log line, the single error mapping, and authentication.
 */
import { createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import { SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Authenticator } from '../../app/auth/authenticate.js';
import type { Principal } from '../../app/auth/principal.js';
import { toConnectError } from '../../platform/errors/connect-errors.js';
import type { Logger } from '../../platform/telemetry/logger.js';
import { extractContext } from '../../platform/telemetry/tracing.js';

export const principalKey = createContextKey<Principal | undefined>(undefined, { description: 'authenticated caller' });

/** The authenticated caller; the auth interceptor guarantees it is set for every RPC. */
export function principalOf(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new Error('assertion failed: RPC ran without the auth interceptor');
  return principal;
}

export function createTelemetryInterceptor(logger: Logger): Interceptor {
  const tracer = trace.getTracer('tally');
  return (next) => async (req) => {
    const parent = extractContext((name) => req.header.get(name));
    const method = `${req.service.typeName}/${req.method.name}`;
    return tracer.startActiveSpan(method, { attributes: { 'rpc.system': 'connect_rpc', 'rpc.method': method } }, parent, async (span) => {
      const startedMs = performance.now();
      try {
        const res = await next(req);
        res.header.set('x-tally-trace-id', span.spanContext().traceId);
        logger.info('rpc', { method, code: 'ok', latencyMs: Math.round(performance.now() - startedMs) });
        return res;
      } catch (error) {
        const connectError = toConnectError(error, (cause) => logger.error('unexpected failure', { method, error: cause }));
        span.setStatus({ code: SpanStatusCode.ERROR, message: connectError.rawMessage });
        connectError.metadata.set('x-tally-trace-id', span.spanContext().traceId);
        logger.info('rpc', { method, code: connectError.code, latencyMs: Math.round(performance.now() - startedMs) });
        throw connectError;
      } finally {
        span.end();
      }
    });
  };
}

/**
 * Authenticates every RPC, except those of `anonymousServices` (full names): services whose every
 * request carries its own credential in a field (HostedCheckoutService: the session's client
 * secret). Their handlers must not call `principalOf`; an Authorization header sent to them is ignored.
 */
export function createAuthInterceptor(authenticator: Authenticator, anonymousServices: ReadonlySet<string> = new Set()): Interceptor {
  return (next) => async (req) => {
    if (anonymousServices.has(req.service.typeName)) return next(req);
    const principal = await authenticator.authenticate(req.header.get('authorization'));
    req.contextValues.set(principalKey, principal);
    const span = trace.getSpan(otelContext.active());
    if (principal.kind === 'tenant') span?.setAttribute('tally.tenant_id', principal.tenantId);
    return next(req);
  };
}
