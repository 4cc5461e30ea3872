/**
 * The API's HTTP entry: a thin guard in front of ConnectRPC's node adapter. The guard turns the
 * two transport-level mistakes Connect would answer with bare HTTP statuses (415 for a wrong
 * content type, 413/RESOURCE_EXHAUSTED for a large body) into Tally's one error contract:
 * INVALID_ARGUMENT with an ErrorInfo naming the offending header, before a byte is processed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createRegistry } from '@bufbuild/protobuf';
import { ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { codeToHttpStatus, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { TallyError } from '../../domain/errors.js';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { codeByReason, errorInfoDetail } from '../../platform/errors/connect-errors.js';

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
  const connect = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    // Backstop for bodies without Content-Length (streamed); the guard handles the usual case.
    readMaxBytes: options.requestBodyBytesMax,
    jsonOptions: { ignoreUnknownFields: false },
  });
  return (req, res) => {
    if (req.method === 'POST') {
      const contentType = req.headers['content-type'] ?? '';
      if (!rpcContentType.test(contentType)) {
        writeConnectError(res, new TallyError('UNSUPPORTED_CONTENT_TYPE',
          `content-type "${contentType}" is not a ConnectRPC/gRPC type (use application/json or application/proto)`,
          { field: 'content-type' }));
        req.resume();
        return;
      }
      const length = Number(req.headers['content-length'] ?? '0');
      if (length > options.requestBodyBytesMax) {
        writeConnectError(res, new TallyError('BODY_TOO_LARGE',
          `request body of ${length} bytes exceeds the limit of ${options.requestBodyBytesMax}`,
          { field: 'content-length', limitBytes: String(options.requestBodyBytesMax) }));
        req.resume();
        return;
      }
    }
    connect(req, res);
  };
}

/**
 * For the Functions Framework entry: the framework has already read the body (keeping
 * `req.rawBody`), so Connect gets a stream replaying those bytes with the original headers.
 */
export function replayRawBody(handler: NodeHandler): NodeHandler {
  return (req, res) => {
    const rawBody = (req as IncomingMessage & { rawBody?: Buffer }).rawBody;
    if (!rawBody || !req.readableEnded) return handler(req, res);
    const replay = Readable.from([rawBody]) as Readable & Partial<IncomingMessage>;
    Object.assign(replay, {
      headers: req.headers,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      httpVersionMajor: req.httpVersionMajor,
      httpVersionMinor: req.httpVersionMinor,
      socket: req.socket,
    });
    handler(replay as IncomingMessage, res);
  };
}
