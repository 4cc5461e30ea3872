/**
 * Firebase HTTPS callables as a thin bridge over Tally's ConnectRPC services (ADR 0037). One
 * `firebase-functions/v2/https` `onCall` function serves every allowed RPC, routed by the last two
 * path segments: `POST .../<proto service full name>/<Method>` with `{"data": <request in proto
 * JSON>}`; the result is the response in proto JSON. The RPC runs in process on the SAME service
 * implementations and interceptors the API serves (a router transport), with the callable's
 * Authorization header passed through: Tally's authenticator decides, as for any API call (console:
 * a Firebase ID token with tenantId/role claims; hosted checkout: none, the client secret in the
 * request). Errors keep the one contract (callable-errors.ts).
 */
import { fromJson, toJson, type DescMethodUnary, type DescService, type JsonValue } from '@bufbuild/protobuf';
import { createRouterTransport, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import type { Request, Response } from '@google-cloud/functions-framework';
import { onCall, type CallableRequest, type Request as FirebaseRequest } from 'firebase-functions/v2/https';
import { looseInt64Field } from '../../adapters/proto/json-int64.js';
import { TallyError } from '../../domain/errors.js';
import { fieldFromDecodeMessage } from '../../platform/errors/connect-errors.js';
import { toHttpsError } from './callable-errors.js';

/** A service the callable exposes: all of its unary methods, or only those named. */
export interface CallableService {
  service: DescService;
  methods?: readonly string[];
}

export interface CallableBridgeOptions {
  /** The API's routes and interceptors (compose.ts): the callable runs exactly what the API runs. */
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  /** What this callable function exposes; anything else answers `unimplemented`. */
  allow: readonly CallableService[];
  /** Deadline of one RPC inside the callable. */
  callTimeoutMs: number;
  /** Receives the cause of an error answered as `internal` (for the log). */
  onInternal: (cause: unknown) => void;
}

/** The deployed/served shape: a Functions Framework HTTP function. */
export type CallableHttpHandler = (req: Request, res: Response) => Promise<void>;

/** Headers passed from the callable request to the RPC: credentials and trace context, nothing else. */
const forwardedHeaders = ['authorization', 'traceparent', 'tracestate', 'x-cloud-trace-context'] as const;
/** Deepest nesting of `data` searched for a reserved "@type" key (requests are a few levels deep). */
const dataDepthMax = 64;

/** The unary methods `allow` exposes, by `<service full name>/<Method>`. */
export function callableMethods(allow: readonly CallableService[]): ReadonlyMap<string, DescMethodUnary> {
  const methods = new Map<string, DescMethodUnary>();
  for (const { service, methods: names } of allow) {
    for (const method of service.methods) {
      if (method.methodKind !== 'unary' || (names !== undefined && !names.includes(method.name))) continue;
      methods.set(`${service.typeName}/${method.name}`, method as DescMethodUnary);
    }
    for (const name of names ?? []) {
      if (!service.methods.some((m) => m.name === name)) throw new Error(`assertion failed: ${service.typeName} has no method ${name}`);
    }
  }
  return methods;
}

/**
 * The callable function. Requests firebase-functions itself would answer without the contract (a
 * non-POST, a body that is not `{"data": ...}`, a reserved "@type" key its decoder chokes on as
 * `internal`) are refused first, as `invalid-argument` with an ErrorInfo reason.
 */
export function createCallableBridge(options: CallableBridgeOptions): CallableHttpHandler {
  const methods = callableMethods(options.allow);
  const transport = createRouterTransport(options.routes, { router: { interceptors: options.interceptors, jsonOptions: { ignoreUnknownFields: false } } });
  // cors: off. Deployed, Hosting rewrites /callables/** to the function (same origin as the app);
  // locally the API server serves apps and callables on one origin. Nothing cross-origin is needed.
  const callable = onCall({ cors: false, enforceAppCheck: false }, async (request: CallableRequest<unknown>) => {
    try {
      const method = methodOf(methods, request.rawRequest.path);
      const input = decodeInput(method, request.data);
      const header = new Headers();
      for (const name of forwardedHeaders) {
        const value = request.rawRequest.header(name);
        if (value !== undefined && value !== '') header.set(name, value);
      }
      const response = await transport.unary(method, undefined, options.callTimeoutMs, header, input);
      return toJson(method.output, response.message);
    } catch (error) {
      throw toHttpsError(error, options.onInternal);
    }
  });
  return async (req, res) => {
    const refusal = refusalOf(req);
    if (refusal !== undefined) {
      const error = toHttpsError(refusal, options.onInternal);
      res.status(error.httpErrorCode.status).json({ error: error.toJSON() });
      return;
    }
    // The Functions Framework's request is firebase-functions' (an Express request whose rawBody the
    // framework always sets); only the optional rawBody typing differs.
    await callable(req as FirebaseRequest, res);
  };
}

function methodOf(methods: ReadonlyMap<string, DescMethodUnary>, path: string): DescMethodUnary {
  const key = path.split('/').filter((s) => s !== '').slice(-2).join('/');
  const method = methods.get(key);
  if (!method) {
    throw new TallyError('UNSUPPORTED_PROTOCOL', `no such callable: "${key}" (the path must end in /<package.Service>/<Method> of an RPC this function exposes)`, { field: 'path' });
  }
  return method;
}

/** The request message from the callable's `data` (proto JSON), checked as strictly as the API's JSON. */
function decodeInput(method: DescMethodUnary, data: unknown) {
  const json = data ?? {};
  if (typeof json !== 'object' || Array.isArray(json)) {
    throw new TallyError('MALFORMED_REQUEST', `data must be the ${method.input.typeName} request as a JSON object`, { field: 'data' });
  }
  const loose = looseInt64Field(method.input, json);
  if (loose !== undefined) throw new TallyError('FIELD_INVALID', `${loose}: a 64-bit integer must be plain decimal digits (no sign "+", base prefix or spaces)`, { field: loose });
  try {
    return fromJson(method.input, json as JsonValue, { ignoreUnknownFields: false });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TallyError('FIELD_INVALID', message, fieldFromDecodeMessage(message));
  }
}

/** A request the bridge refuses before firebase-functions reads it, or undefined. */
function refusalOf(req: Request): TallyError | undefined {
  if (req.method !== 'POST') return new TallyError('UNSUPPORTED_PROTOCOL', `HTTP method ${req.method} is not allowed: callables are POST`, { field: 'method' });
  if (!/^application\/json\s*(;|$)/i.test(req.header('content-type') ?? '')) {
    return new TallyError('UNSUPPORTED_CONTENT_TYPE', 'a callable request is application/json', { field: 'content-type' });
  }
  const body: unknown = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !Object.hasOwn(body, 'data') || Object.keys(body).length !== 1) {
    return new TallyError('MALFORMED_REQUEST', 'a callable request body is {"data": <request>}', { field: 'body' });
  }
  return reservedKeyError((body as { data: unknown }).data, 'data', 0);
}

/**
 * FIELD_INVALID for the first object key "@type" inside `value` (firebase-functions decodes those
 * itself and answers `internal` for any it does not know; no Tally request has one), or
 * MALFORMED_REQUEST when `value` nests deeper than any request does.
 */
function reservedKeyError(value: unknown, path: string, depth: number): TallyError | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > dataDepthMax) return new TallyError('MALFORMED_REQUEST', `${path}: data nests deeper than ${dataDepthMax} levels`, { field: path });
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, i) => [`${path}[${i}]`, item]) : Object.entries(value).map(([key, item]) => [`${path}.${key}`, item]);
  if (!Array.isArray(value) && Object.hasOwn(value, '@type')) {
    return new TallyError('FIELD_INVALID', `${path}.@type: "@type" is reserved by the callable protocol (no Tally request has it)`, { field: `${path}.@type` });
  }
  for (const [itemPath, item] of entries) {
    const found = reservedKeyError(item, itemPath, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
