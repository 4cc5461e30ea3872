/**
 * The API's HTTP entry: ConnectRPC's universal handlers behind a thin guard. The guard turns the
 * transport-level mistakes Connect would answer with bare HTTP statuses or detail-less errors (404,
 * 405, 415 for a wrong content type, RESOURCE_EXHAUSTED for a large body, decode errors) into
 * Tally's one error contract: a typed code with an ErrorInfo naming the offending field or header,
 * in each protocol's own error shape (Connect's JSON body, gRPC trailers, gRPC-Web's trailer frame).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { createRegistry, type DescMessage } from '@bufbuild/protobuf';
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import { createAsyncIterable, encodeEnvelope, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { findTrailerError, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { trailerFlag, trailerParse, trailerSerialize } from '@connectrpc/connect/protocol-grpc-web';
import { looseInt64Field, mayHoldLooseInt64 } from '../../adapters/proto/json-int64.js';
import { TallyError } from '../../domain/errors.js';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { connectErrorOf, toConnectError } from '../../platform/errors/connect-errors.js';

/** A Node request handler for HTTP/1.1 and HTTP/2 (the compatibility API) alike. */
export type NodeHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;
type AnyResponse = ServerResponse | Http2ServerResponse;

const rpcContentType = /^application\/(connect\+)?(json|proto)(;|$)|^application\/grpc(-web)?(\+(proto|json))?(;|$)/i;
const errorRegistry = createRegistry(ErrorInfoSchema);
const gunzipAsync = promisify(gunzip);
const brotliAsync = promisify(brotliDecompress);

/**
 * Writes a Connect-protocol error (JSON body with the ErrorInfo detail). `status` overrides the
 * HTTP status derived from the code, for refusals HTTP names itself (405, 431).
 */
export function writeConnectError(res: AnyResponse, error: TallyError, status?: number, headers: Record<string, string> = {}): void {
  const connectError = connectErrorOf(error);
  const body = errorToJsonBytes(connectError, { registry: errorRegistry });
  (res as ServerResponse).writeHead(status ?? codeToHttpStatus(connectError.code), { ...headers, 'content-type': 'application/json', 'content-length': body.byteLength });
  res.end(body);
}

export interface ApiHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  requestBodyBytesMax: number;
  /** Receives the cause of an error rewritten as INTERNAL (for the log). Default: dropped. */
  onInternal?: (cause: unknown) => void;
}

/**
 * The API handler, carrying the routes and interceptors it serves: the HTTPS callables bridge runs
 * the same RPCs in process over them (handlers/callable, ADR 0037).
 */
export type ApiHandler = NodeHandler & { readonly rpc: Pick<ApiHandlerOptions, 'routes' | 'interceptors'> };

export function createApiHandler(options: ApiHandlerOptions): ApiHandler {
  return Object.assign(createNodeHandler(options), { rpc: { routes: options.routes, interceptors: options.interceptors } });
}

function createNodeHandler(options: ApiHandlerOptions): NodeHandler {
  const router = createConnectRouter({
    interceptors: options.interceptors,
    // Backstop for bodies without Content-Length; the guard handles declared lengths.
    readMaxBytes: options.requestBodyBytesMax,
    jsonOptions: { ignoreUnknownFields: false },
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  options.routes(router);
  const onInternal = options.onInternal ?? (() => undefined);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const uHandler = handlers.get((req.url ?? '').split('?', 2)[0]!);
    if (!uHandler) {
      req.resume();
      return writeConnectError(res, new TallyError('UNSUPPORTED_PROTOCOL', 'no such RPC: the path must be /<package.Service>/<Method>', { field: 'path' }), 404);
    }
    if (req.method !== 'POST' && req.method !== 'GET') {
      req.resume();
      return writeConnectError(res, new TallyError('UNSUPPORTED_PROTOCOL', `HTTP method ${req.method ?? ''} is not allowed: RPCs are POST (or GET for side-effect-free Connect calls)`,
        { field: 'method' }), 405, { allow: 'POST' });
    }
    if (req.method === 'POST') {
      const contentType = req.headers['content-type'] ?? '';
      if (!rpcContentType.test(contentType)) {
        req.resume();
        return writeConnectError(res, new TallyError('UNSUPPORTED_CONTENT_TYPE',
          `content-type "${contentType}" is not a ConnectRPC/gRPC type (use application/json or application/proto)`,
          { field: 'content-type' }));
      }
      const declaredBytes = Number(req.headers['content-length'] ?? '0');
      if (declaredBytes > options.requestBodyBytesMax) {
        req.resume();
        return writeConnectError(res, tooLarge(declaredBytes, options.requestBodyBytesMax));
      }
    }
    const nodeRes = res as ServerResponse;
    const serve = (nodeReq: IncomingMessage) => void uHandler(universalRequestFromNodeRequest(nodeReq, nodeRes, undefined, undefined))
      .then(async (uRes) => universalResponseToNodeResponse(await withErrorInfo(uRes, nodeReq, options.requestBodyBytesMax, onInternal), nodeRes))
      .catch((reason: unknown) => {
        const error = ConnectError.from(reason);
        if (error.code === Code.Aborted) return; // the client went away
        // Nothing sent yet: answer with the contract rather than dropping the connection.
        if (!res.headersSent) {
          onInternal(reason);
          return writeConnectError(res, new TallyError('INTERNAL', 'internal error'));
        }
        res.destroy();
      });
    // Unary Connect JSON: 64-bit integers must be plain decimal text (ADR 0017), which protobuf-es
    // alone does not check ("0x10", " 12", "+5" decode as numbers). Binary bodies carry integers.
    if (req.method === 'POST' && /^application\/json(;|$)/i.test(req.headers['content-type'] ?? '')) {
      void readBodyBounded(req as IncomingMessage, options.requestBodyBytesMax).then(async (body) => {
        // Over the bound (a chunked body without Content-Length): the rest drains unread.
        if (body === undefined) return writeConnectError(res, tooLarge(options.requestBodyBytesMax + 1, options.requestBodyBytesMax));
        const error = await looseInt64Error(body, req.headers['content-encoding'], uHandler.method.input, options.requestBodyBytesMax);
        if (error) return writeConnectError(res, error);
        serve(replayBody(req as IncomingMessage, body));
      }, () => res.destroy());
      return;
    }
    serve(req as IncomingMessage);
  };
}

/**
 * The request body, or undefined as soon as it passes `bytesMax`. The rest is then drained and
 * dropped, not destroyed: destroying the request would close the socket before the error is sent.
 */
function readBodyBounded(req: IncomingMessage, bytesMax: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total <= bytesMax) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      resolve(undefined);
    };
    req.on('data', onData);
    req.once('end', () => resolve(total > bytesMax ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** FIELD_INVALID naming the first loosely written 64-bit integer of a JSON body, if any. */
async function looseInt64Error(body: Buffer, encoding: string | undefined, input: DescMessage, bytesMax: number): Promise<TallyError | undefined> {
  let text: string;
  try {
    const plain = encoding === 'gzip' ? await gunzipAsync(body, { maxOutputLength: bytesMax })
      : encoding === 'br' ? await brotliAsync(body, { maxOutputLength: bytesMax })
        : encoding === undefined || encoding === '' || encoding === 'identity' ? body : undefined;
    if (plain === undefined) return undefined; // Connect refuses the encoding itself
    text = plain.toString('utf8');
  } catch {
    return undefined; // Connect reports a body that does not inflate
  }
  if (!mayHoldLooseInt64(text)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined; // Connect reports malformed JSON
  }
  const field = looseInt64Field(input, json);
  return field === undefined ? undefined
    : new TallyError('FIELD_INVALID', `${field}: a 64-bit integer must be plain decimal digits (no sign "+", base prefix or spaces)`, { field });
}

/**
 * Connect answers malformed requests itself (decode errors, oversized streamed bodies, a method
 * or content type its protocol refuses) before any interceptor runs, with no detail. Those error
 * responses are rewritten here to carry the ErrorInfo contract, each in its protocol's shape;
 * successful responses pass untouched, so the happy path decodes once.
 */
async function withErrorInfo(uRes: UniversalServerResponse, req: IncomingMessage, bytesMax: number, onInternal: (cause: unknown) => void): Promise<UniversalServerResponse> {
  const contentType = uRes.header?.get('content-type') ?? '';
  if (/^application\/grpc-web/i.test(contentType)) return withGrpcWebTrailerInfo(uRes, onInternal);
  if (/^application\/grpc/i.test(contentType)) return withGrpcTrailerInfo(uRes, onInternal);
  if (uRes.status < 400) return uRes;
  if (uRes.body === undefined) return refusalWithInfo(uRes, req);
  if (!/^application\/json/.test(contentType)) return uRes;
  // Unary Connect error bodies are small JSON documents; read it once (bounded by bytesMax).
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of uRes.body) {
    total += chunk.byteLength;
    if (total > bytesMax) throw new Error('assertion failed: error body larger than the request bound');
    chunks.push(chunk);
  }
  const wire = Buffer.concat(chunks);
  // Connect compresses error bodies of 1 KiB or more when the client accepts gzip: inflate to read.
  const encoding = uRes.header?.get('content-encoding') ?? '';
  const bytes = encoding === 'gzip' ? await gunzipAsync(wire) : encoding === 'br' ? await brotliAsync(wire) : wire;
  const original = { ...uRes, body: createAsyncIterable([new Uint8Array(wire)]) };
  let error: ConnectError;
  try {
    error = errorFromJsonBytes(bytes, undefined, new ConnectError('unparseable error body', Code.Internal));
  } catch (fallback) {
    error = ConnectError.from(fallback);
  }
  if (error.findDetails(ErrorInfoSchema).length > 0) return original;
  const typed = toConnectError(error, onInternal);
  const body = errorToJsonBytes(typed, { registry: errorRegistry });
  const header = new Headers(uRes.header);
  header.delete('content-encoding');
  header.set('content-length', String(body.byteLength));
  return { ...uRes, status: codeToHttpStatus(typed.code), header, body: createAsyncIterable([body]) };
}

/** Connect's body-less refusals (405, 415, 505) become Connect errors carrying ErrorInfo. */
function refusalWithInfo(uRes: UniversalServerResponse, req: IncomingMessage): UniversalServerResponse {
  const error = uRes.status === 415
    ? new TallyError('UNSUPPORTED_CONTENT_TYPE', `content-type "${req.headers['content-type'] ?? ''}" is not supported by this RPC`, { field: 'content-type' })
    : uRes.status === 405
      ? new TallyError('UNSUPPORTED_PROTOCOL', `HTTP method ${req.method ?? ''} is not allowed for this RPC (GET only for side-effect-free Connect calls)`, { field: 'method' })
      : new TallyError('UNSUPPORTED_PROTOCOL', `refused with HTTP ${uRes.status}`, { field: 'http-version' });
  const body = errorToJsonBytes(connectErrorOf(error), { registry: errorRegistry });
  const header = new Headers(uRes.header);
  header.set('content-type', 'application/json');
  header.set('content-length', String(body.byteLength));
  if (uRes.status === 405) header.set('allow', 'POST');
  return { ...uRes, header, body: createAsyncIterable([body]) };
}

/** The contract's version of a trailer status without ErrorInfo, or `undefined` to keep it. */
function typedTrailerError(trailer: Headers, onInternal: (cause: unknown) => void): ConnectError | undefined {
  const error = findTrailerError(trailer);
  if (!error || error.findDetails(ErrorInfoSchema).length > 0) return undefined;
  return toConnectError(error, onInternal);
}

/** gRPC sends its status in HTTP trailers, written after the body: fix them once it has ended. */
function withGrpcTrailerInfo(uRes: UniversalServerResponse, onInternal: (cause: unknown) => void): UniversalServerResponse {
  const trailer = uRes.trailer;
  if (!trailer || !uRes.body) return uRes;
  const body = uRes.body;
  async function* fixed() {
    yield* body;
    const typed = typedTrailerError(trailer!, onInternal);
    if (!typed) return;
    for (const key of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) trailer!.delete(key);
    setTrailerStatus(trailer!, typed);
  }
  return { ...uRes, body: fixed() };
}

/** gRPC-Web sends its status as the last envelope of the body (flag 0x80): rewrite that frame. */
function withGrpcWebTrailerInfo(uRes: UniversalServerResponse, onInternal: (cause: unknown) => void): UniversalServerResponse {
  if (!uRes.body) return uRes;
  const body = uRes.body;
  async function* fixed() {
    for await (const chunk of body) {
      // Connect writes each envelope as one chunk; an uncompressed trailer frame is read back here.
      const isTrailer = chunk.byteLength >= 5 && chunk[0] === trailerFlag
        && Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).readUInt32BE(1) === chunk.byteLength - 5;
      const typed = isTrailer ? typedTrailerError(trailerParse(chunk.subarray(5)), onInternal) : undefined;
      if (!typed) {
        yield chunk;
        continue;
      }
      const trailer = trailerParse(chunk.subarray(5));
      for (const key of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) trailer.delete(key);
      setTrailerStatus(trailer, typed);
      yield encodeEnvelope(trailerFlag, trailerSerialize(trailer));
    }
  }
  return { ...uRes, body: fixed() };
}

function tooLarge(bytes: number, bytesMax: number): TallyError {
  return new TallyError('BODY_TOO_LARGE', `request body of ${bytes} bytes exceeds the limit of ${bytesMax}`,
    { field: 'content-length', limitBytes: String(bytesMax) });
}

/** An IncomingMessage look-alike that replays `body`: what Connect's node adapter reads. */
function replayBody(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from([body]) as Readable & Partial<IncomingMessage>;
  Object.assign(replay, {
    headers: req.headers,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
  });
  return replay as IncomingMessage;
}

/**
 * For the Functions Framework entry: the framework has already read the body (keeping
 * `req.rawBody`), so Connect gets a stream replaying those bytes with the original headers.
 */
export function replayRawBody(handler: NodeHandler): NodeHandler {
  return (req, res) => {
    const rawBody = (req as IncomingMessage & { rawBody?: Buffer }).rawBody;
    if (!rawBody || !req.readableEnded) return handler(req, res);
    // The framework's parser has inflated gzip bodies already: describe the bytes we replay.
    const headers = { ...req.headers, 'content-length': String(rawBody.byteLength) };
    delete headers['content-encoding'];
    handler(replayBody(Object.assign(Object.create(req) as IncomingMessage, { headers }), rawBody), res);
  };
}
