/**
 * The API's HTTP entry: a thin guard in front of ConnectRPC's node adapter. The guard turns the
 * two transport-level mistakes Connect would answer with bare HTTP statuses (415 for a wrong
 * content type, 413/RESOURCE_EXHAUSTED for a large body) into Tally's one error contract:
 * INVALID_ARGUMENT with an ErrorInfo naming the offending header, before a byte is processed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createRegistry, fromBinary, fromJsonString, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { codeToHttpStatus, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
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
  /** The services `routes` registers: their request schemas let the guard decode bodies first. */
  services: readonly DescService[];
  interceptors: Interceptor[];
  requestBodyBytesMax: number;
}

export function createApiHandler(options: ApiHandlerOptions): NodeHandler {
  const connect = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    // Backstop only: the guard has already bounded the body.
    readMaxBytes: options.requestBodyBytesMax,
    jsonOptions: { ignoreUnknownFields: false },
  });
  const inputByPath = new Map<string, DescMessage>();
  for (const service of options.services) {
    for (const method of service.methods) inputByPath.set(`/${service.typeName}/${method.name}`, method.input);
  }
  return (req, res) => {
    const input = req.method === 'POST' ? inputByPath.get((req.url ?? '').split('?')[0]!) : undefined;
    if (!input) return connect(req, res);
    const contentType = req.headers['content-type'] ?? '';
    const unary = /^application\/(json|proto)(;|$)/i.exec(contentType);
    if (!unary && !rpcContentType.test(contentType)) {
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
    // gRPC and streaming Connect bodies are enveloped, and compressed bodies must be inflated
    // first: Connect itself decodes and bounds those (its errors still get ErrorInfo details
    // where interceptors see them).
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (!unary || encoding !== 'identity') return connect(req, res);
    void readBounded(req, options.requestBodyBytesMax).then((body) => {
      if (body === undefined) return writeConnectError(res, tooLarge(options.requestBodyBytesMax + 1, options.requestBodyBytesMax));
      // Decode once here so that malformed bodies get the ErrorInfo contract (Connect's own decode
      // errors carry no detail); the cost is one extra decode of a body of bounded size.
      try {
        if (unary[1]!.toLowerCase() === 'json') fromJsonString(input, body.toString('utf8'), { ignoreUnknownFields: false });
        else fromBinary(input, body);
      } catch (error) {
        const message = `invalid request body: ${(error as Error).message}`;
        return writeConnectError(res, new TallyError('FIELD_INVALID', message, fieldFromDecodeMessage((error as Error).message)));
      }
      connect(replayBody(req, body), res);
    }, () => res.destroy());
  };
}

function tooLarge(bytes: number, bytesMax: number): TallyError {
  return new TallyError('BODY_TOO_LARGE', `request body of ${bytes} bytes exceeds the limit of ${bytesMax}`,
    { field: 'content-length', limitBytes: String(bytesMax) });
}

/** Reads the body, or undefined as soon as it exceeds `bytesMax` (chunked bodies have no length). */
async function readBounded(req: IncomingMessage, bytesMax: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > bytesMax) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
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
