/**
 * One port that speaks HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge): Connect and gRPC-Web
 * work on either, gRPC needs HTTP/2. Node's cleartext `http2.createServer` has no `allowHTTP1`, so
 * each connection's first bytes decide: the HTTP/2 preface goes to an HTTP/2 server, anything else
 * to an HTTP/1.1 server. Used by `npm start`, the tests, and the Cloud Run `api` service (whose
 * port is declared `h2c` in Terraform, so Google's front end speaks HTTP/2 to it end to end).
 *
 * HTTP/1.1 requests the parser refuses before any handler runs (431 headers too large, 400 bad
 * request) are answered here in the Connect error shape with the ErrorInfo contract.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { createRegistry } from '@bufbuild/protobuf';
import { TallyError } from '../../domain/errors.js';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { connectErrorOf } from '../../platform/errors/connect-errors.js';
import type { NodeHandler } from './api-handler.js';

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const errorRegistry = createRegistry(ErrorInfoSchema);

export interface DualProtocolServer {
  /** The listening socket server: `listen`, `close`, `address` as usual. */
  server: net.Server;
  /** Stops accepting and closes every open connection (HTTP/1.1 and HTTP/2 sessions). */
  closeAll(): Promise<void>;
}

/** Options bounding the two servers; every field has the documented default. */
export interface DualProtocolOptions {
  /**
   * Idle keep-alive of HTTP/1.1 connections. 65 s by default, longer than clients' own idle timeout
   * (Node's agent: 5 s), so the client always closes first and never reuses a socket the server is
   * closing (ECONNRESET). Node's default, 5 s, equals the agent's and races it.
   */
  keepAliveTimeoutMs?: number;
  /** Largest request header block of either protocol, in bytes (Node's default is 16 KiB). */
  headerBytesMax?: number;
}

/** A raw HTTP/1.1 refusal in the Connect error shape (the request never reached a handler). */
function refusal(status: number, statusText: string, error: TallyError): string {
  const body = Buffer.from(errorToJsonBytes(connectErrorOf(error), { registry: errorRegistry }));
  return `HTTP/1.1 ${status} ${statusText}\r\ncontent-type: application/json\r\ncontent-length: ${body.byteLength}\r\nconnection: close\r\n\r\n${body.toString('utf8')}`;
}

export function createDualProtocolServer(handler: NodeHandler, options: DualProtocolOptions = {}): DualProtocolServer {
  const headerBytesMax = options.headerBytesMax ?? 16 * 1024;
  const h1 = http.createServer({ maxHeaderSize: headerBytesMax }, handler as http.RequestListener);
  h1.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
  h1.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const answer = error.code === 'HPE_HEADER_OVERFLOW'
      ? refusal(431, 'Request Header Fields Too Large', new TallyError('HEADERS_TOO_LARGE', `request headers exceed ${headerBytesMax} bytes`, { field: 'headers', limitBytes: String(headerBytesMax) }))
      : refusal(400, 'Bad Request', new TallyError('MALFORMED_REQUEST', `not a valid HTTP/1.1 request (${error.code ?? 'parse error'})`, { field: 'http' }));
    socket.end(answer);
  });
  const h2 = http2.createServer({ maxSendHeaderBlockLength: headerBytesMax, settings: { maxHeaderListSize: headerBytesMax } }, handler as never);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      // Undecided while what arrived could still be the start of the preface.
      if (head.byteLength < http2Preface.byteLength && http2Preface.subarray(0, head.byteLength).equals(head)) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.subarray(0, http2Preface.byteLength).equals(http2Preface)) {
        socket.unshift(head);
        h1.emit('connection', socket);
        socket.resume();
        return;
      }
      // The HTTP/2 session reads its socket natively and would miss unshifted bytes: feed it a
      // duplex that replays the preface, then relays the socket both ways (with back-pressure).
      const relay = new Duplex({
        read() { socket.resume(); },
        write(data: Buffer, _encoding, done) { socket.write(data, done); },
        final(done) { socket.end(); done(); },
        destroy(error, done) { socket.destroy(error ?? undefined); done(error); },
      });
      relay.push(head);
      socket.on('data', (data: Buffer) => { if (!relay.push(data)) socket.pause(); });
      socket.once('end', () => relay.push(null));
      socket.once('error', (error) => relay.destroy(error));
      socket.once('close', () => relay.destroy());
      h2.emit('connection', relay);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  return {
    server,
    closeAll: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      h1.closeAllConnections();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    }),
  };
}
