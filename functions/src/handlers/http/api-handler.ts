/**
 * The API's HTTP entry: ConnectRPC's universal handlers behind a thin guard. The guard turns the
 * transport-level mistakes Connect would answer with bare HTTP statuses or detail-less errors (415
 * for a wrong content type, RESOURCE_EXHAUSTED for a large body, decode errors) into Tally's one
 * error contract: INVALID_ARGUMENT with an ErrorInfo naming the offending field or header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createRegistry } from '@bufbuild/protobuf';
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import { createAsyncIterable, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { TallyError } from '../../domain/errors.js';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { codeByReason, errorInfoDetail, fieldFromDecodeMessage } from '../../platform/errors/connect-errors.js';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

const rpcContentType = /^application\/(connect\+)?(json|proto)(;|$)|^application\/grpc(-web)?(\+(proto|json))?(;|$)/i;
const errorRegistry = createRegistry(ErrorInfoSchema);

export function writeConnectError(res: ServerResponse, error: TallyError): void {
  const code = codeByReason[error.reason];
  const body = errorToJsonBytes(
    new ConnectError(error.message, code, undefined, [errorInfoDetail(error.reason, error.metadata)]),
    { registry: errorRegistry },
  );
  res.writeHead(codeToHttpStatus(code), { 'content-type': 'application/json', 'content-length': body.byteLength });
  res.end(body);
}

export interface ApiHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  requestBodyBytesMax: number;
}

export function createApiHandler(options: ApiHandlerOptions): NodeHandler {
  const router = createConnectRouter({
    interceptors: options.interceptors,
    // Backstop for bodies without Content-Length; the guard handles declared lengths.
    readMaxBytes: options.requestBodyBytesMax,
    jsonOptions: { ignoreUnknownFields: false },
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const uHandler = handlers.get((req.url ?? '').split('?', 2)[0]!);
    if (!uHandler) {
      res.writeHead(404).end();
      return;
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
    void uHandler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then(async (uRes) => universalResponseToNodeResponse(await withErrorInfo(uRes, options.requestBodyBytesMax), res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) res.destroy();
      });
  };
}

/**
 * Connect answers malformed bodies itself (decode errors, oversized streamed bodies) before any
 * interceptor runs, with no detail. Those rare error responses are rewritten here to carry the
 * ErrorInfo contract; successful responses pass untouched, so the happy path decodes once.
 */
async function withErrorInfo(uRes: UniversalServerResponse, bytesMax: number): Promise<UniversalServerResponse> {
  if (uRes.status < 400 || uRes.body === undefined || !/^application\/json/.test(uRes.header?.get('content-type') ?? '')) return uRes;
  // Unary Connect error bodies are small JSON documents; read it once (bounded by bytesMax).
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of uRes.body) {
    total += chunk.byteLength;
    if (total > bytesMax) throw new Error('assertion failed: error body larger than the request bound');
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  const original = { ...uRes, body: createAsyncIterable([bytes]) };
  const error = errorFromJsonBytes(bytes, undefined, new ConnectError('unparseable error body', Code.Internal));
  if (error.findDetails(ErrorInfoSchema).length > 0) return original;
  const tallyError = error.code === Code.ResourceExhausted && /message size|exceeds|larger than/i.test(error.rawMessage)
    ? tooLarge(bytesMax + 1, bytesMax)
    : error.code === Code.InvalidArgument
      ? new TallyError('FIELD_INVALID', `invalid request body: ${error.rawMessage}`, fieldFromDecodeMessage(error.rawMessage))
      : undefined;
  if (!tallyError) return original;
  const code = codeByReason[tallyError.reason];
  const body = errorToJsonBytes(new ConnectError(tallyError.message, code, undefined, [errorInfoDetail(tallyError.reason, tallyError.metadata)]), { registry: errorRegistry });
  const header = new Headers(uRes.header);
  header.set('content-length', String(body.byteLength));
  return { ...uRes, status: codeToHttpStatus(code), header, body: createAsyncIterable([body]) };
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
