/**
 * Webhook POSTs over node:http/https with the SSRF rule enforced at the socket (ADR 0034): the URL's
 * name is resolved, every address it resolves to is checked (`checkResolvedAddresses`), and the
 * socket connects only to those checked addresses (the request's `lookup` answers them and nothing
 * else; Node tries them in turn, Happy Eyeballs, so an address that refuses the connection, such as
 * ::1 for a receiver listening on 127.0.0.1, falls through to the next), the Host header and TLS SNI
 * (and certificate check) keeping the name, so a DNS answer that changes between check and connect
 * (rebinding) cannot move the request. Redirects are never followed (3xx is a failure), the whole exchange is
 * bounded by `timeoutMs`, and at most `responseBytesMax` of the body is read before the socket is
 * dropped.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type TcpNetConnectOpts } from 'node:net';
import { checkAddress, checkResolvedAddresses, type WebhookUrlProfile } from '../../platform/net/address-policy.js';
import type { WebhookPost, WebhookPostResult, WebhookSender } from '../../ports/webhook-sender.js';

export interface WebhookSenderOptions {
  profile: WebhookUrlProfile;
  /** The whole exchange (DNS, connect, TLS, request, response) in ms. Issue 16: 10 s. */
  timeoutMs: number;
  /** Most response body bytes read (kept for the attempt's error: the first 500 characters). */
  responseBytesMax: number;
  /** Sockets per receiver (name and port, as the URL says) in use and kept open for reuse. */
  socketsPerHostMax: number;
  /** Name resolution (tests substitute it to play DNS answers); default `dns.lookup` with all addresses. */
  resolve?: (hostname: string) => Promise<string[]>;
  /**
   * PEM certificates of the only CAs https receivers may chain to, instead of Node's bundled roots
   * (the default, and the only choice deployed: config never sets it). Tests pass a test CA; the
   * name check is never relaxed.
   */
  trustedCasPem?: readonly string[];
}

const errorTextMax = 500;
/** Happy Eyeballs (RFC 8305) wait before the next checked address is tried beside a silent one. */
const nextAddressAfterMs = 250;

/** Passed to node:net through http(s).request (whose option type does not list them). */
const happyEyeballs: Pick<TcpNetConnectOpts, 'autoSelectFamily' | 'autoSelectFamilyAttemptTimeout'> = {
  autoSelectFamily: true, autoSelectFamilyAttemptTimeout: nextAddressAfterMs,
};

/** A `lookup` for node:net that answers the checked addresses, in order, and never asks DNS again. */
function checkedLookup(addresses: readonly string[]) {
  const answers: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_hostname: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    if (options.all) callback(null, answers);
    else callback(null, answers[0]!.address, answers[0]!.family);
  };
}

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const resolve = options.resolve ?? (async (hostname: string) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address));
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: options.socketsPerHostMax, maxFreeSockets: options.socketsPerHostMax }),
    'https:': new https.Agent({
      keepAlive: true, maxSockets: options.socketsPerHostMax, maxFreeSockets: options.socketsPerHostMax,
      ...(options.trustedCasPem === undefined ? {} : { ca: [...options.trustedCasPem] }),
    }),
  };

  /** The addresses the socket may connect to (all checked), or why none may be. */
  const pinnedAddresses = async (url: URL): Promise<{ addresses: string[] } | { refused: string }> => {
    if (url.protocol !== 'https:' && !(options.profile === 'local' && url.protocol === 'http:')) return { refused: `${url.protocol} URLs are not allowed` };
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(host) !== 0) {
      const verdict = checkAddress(host, options.profile);
      return verdict.allowed ? { addresses: [host] } : { refused: verdict.reason };
    }
    let addresses: string[];
    try {
      addresses = await resolve(host);
    } catch (error) {
      return { refused: `cannot resolve ${host}: ${(error as { code?: string }).code ?? String(error)}` };
    }
    const verdict = checkResolvedAddresses(addresses, options.profile);
    return verdict.allowed ? { addresses } : { refused: `${host} resolves to a refused address: ${verdict.reason}` };
  };

  return {
    async send(post: WebhookPost): Promise<WebhookPostResult> {
      const started = performance.now();
      const latency = () => Math.round(performance.now() - started);
      let url: URL;
      try {
        url = new URL(post.url);
      } catch {
        return { ok: false, statusCode: 0, latencyMs: 0, error: 'invalid URL', refused: true };
      }
      const deadline = AbortSignal.timeout(options.timeoutMs);
      const pinned = await Promise.race([pinnedAddresses(url), new Promise<{ refused: string }>((resolveRace) => {
        deadline.addEventListener('abort', () => resolveRace({ refused: `timed out after ${options.timeoutMs} ms resolving ${url.hostname}` }), { once: true });
      })]);
      if ('refused' in pinned) return { ok: false, statusCode: 0, latencyMs: latency(), error: `refused: ${pinned.refused}`, refused: true };
      const isHttps = url.protocol === 'https:';
      const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      return new Promise<WebhookPostResult>((done) => {
        let settled = false;
        const finish = (result: Omit<WebhookPostResult, 'latencyMs' | 'refused'>) => {
          if (settled) return;
          settled = true;
          done({ ...result, latencyMs: latency(), refused: false });
        };
        const body = Buffer.from(post.body, 'utf8');
        const request = (isHttps ? https : http).request({
          host: hostname,
          // The only answers the socket gets for the name: the addresses checked above.
          lookup: checkedLookup(pinned.addresses),
          ...happyEyeballs,
          port: url.port === '' ? (isHttps ? 443 : 80) : Number(url.port),
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          agent: agents[isHttps ? 'https:' : 'http:'],
          // SNI and the certificate check use the name, never the address.
          ...(isHttps && isIP(hostname) === 0 ? { servername: hostname } : {}),
          headers: { ...post.headers, host: url.host, 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': 'Tally-Webhooks/1' },
          signal: deadline,
        }, (response) => {
          const status = response.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let bytes = 0;
          const conclude = () => {
            const text = Buffer.concat(chunks).toString('utf8').slice(0, errorTextMax);
            if (status >= 200 && status < 300) finish({ ok: true, statusCode: status, error: '' });
            else if (status >= 300 && status < 400) finish({ ok: false, statusCode: status, error: `HTTP ${status}: redirects are not followed${response.headers.location ? ` (to ${String(response.headers.location).slice(0, 200)})` : ''}` });
            else finish({ ok: false, statusCode: status, error: `HTTP ${status}${text === '' ? '' : `: ${text}`}` });
          };
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes <= options.responseBytesMax) chunks.push(chunk);
            else {
              // Enough read: the verdict is the status; drop the rest (and the socket) unread.
              response.destroy();
              conclude();
            }
          });
          response.on('end', conclude);
          response.on('error', (error) => {
            if (status >= 200 && status < 300 && !deadline.aborted) conclude();
            else finish({ ok: false, statusCode: status, error: deadline.aborted ? `timed out after ${options.timeoutMs} ms reading the response` : `response failed: ${describe(error)}` });
          });
        });
        request.on('error', (error) => finish({
          ok: false, statusCode: 0, error: deadline.aborted ? `timed out after ${options.timeoutMs} ms` : `connection failed: ${describe(error)}`,
        }));
        request.end(body);
      });
    },
  };
}

/**
 * The error's code and, when it says more (a TLS failure names the certificate's names or issuer:
 * what the merchant must fix), its message: "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not
 * match certificate's altnames: ...".
 */
function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  const message = e.message ?? String(error);
  const text = e.code === undefined ? message : message === '' || message.includes(e.code) ? e.code : `${e.code}: ${message}`;
  return text.slice(0, errorTextMax);
}
