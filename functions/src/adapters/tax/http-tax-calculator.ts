/**
 * The merchant's external tax hook behind the `TaxCalculator` port: one JSON POST per calculation
 * to the tenant's tax service, bounded by `timeoutMs`, with a chosen fallback when it fails
 * (ADR 0031): `fail` rejects with `TAX_UNAVAILABLE` (finalization fails, nothing is written, retry
 * later), `builtin` answers with the built-in EU VAT engine and marks the calculation
 * `fallbackUsed` with the failure in `fallbackReason`.
 *
 * Wire format (README "Billing and tax"):
 *   POST <url>  content-type: application/json  [authorization: Bearer <secret>]
 *   { "currency": "EUR", "date": "2025-06-01", "seller": {"country", "vatId"},
 *     "customer": {"country", "postcode", "vatId"},
 *     "lines": [{"lineId", "amountMinor": "1000", "taxBehavior": "exclusive"|"inclusive", "taxCategory"}] }
 *   200 { "lines": [{"lineId", "taxMinor": "190", "rate": "19", "reason": "..."}],
 *         "reverseCharge": false, "note": "", "version": "acme-tax 3.1" }
 * The service answers only the tax of each line, in order; net and gross follow from the line's
 * amount, so its answer cannot make an invoice lose or invent a cent. An answer that is not
 * exactly that (missing or reordered lines, a tax larger than its line or of the other sign,
 * a rate outside 0..100 %) counts as a failure, as do a non-2xx status, a redirect, a timeout, a
 * body over `responseBytesMax`, and an address the SSRF policy refuses (ADR 0034's policy,
 * checked at connect time on every resolved address, so DNS rebinding cannot move the request).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { TallyError } from '../../domain/errors.js';
import { money } from '../../domain/money/index.js';
import { parsePercent, type TaxCalculation, type TaxLineResult, type TaxRequest } from '../../domain/tax/index.js';
import { checkAddress, checkResolvedAddresses, type WebhookUrlProfile } from '../../platform/net/address-policy.js';
import type { TaxCalculateOptions, TaxCalculator } from '../../ports/tax-calculator.js';

/** Options of the external hook. */
export interface HttpTaxCalculatorOptions {
  /** The merchant's tax service (https; http too with the `local` profile). */
  readonly url: string;
  /** The whole exchange (DNS, connect, request, response), ms; 1..30,000. */
  readonly timeoutMs: number;
  readonly fallback: 'fail' | 'builtin';
  /** The engine used for the `builtin` fallback. */
  readonly builtin: TaxCalculator;
  /** Sent as `authorization: Bearer <secret>` when set. */
  readonly secret?: string;
  /** Which addresses the URL may reach: `deployed` (public only) or `local` (also loopback). */
  readonly profile: WebhookUrlProfile;
  /** Most response bytes read; more is a failure. Default 1 MiB. */
  readonly responseBytesMax?: number;
}

const TIMEOUT_MS_MAX = 30_000;
const RESPONSE_BYTES_MAX_DEFAULT = 1 << 20;
const REASON_LENGTH_MAX = 500;
const VERSION_LENGTH_MAX = 100;

/** Why the hook failed (for `fallbackReason` and the `TAX_UNAVAILABLE` message). */
class HookFailure extends Error {}

export function createHttpTaxCalculator(options: HttpTaxCalculatorOptions): TaxCalculator {
  if (!Number.isSafeInteger(options.timeoutMs) || options.timeoutMs < 1 || options.timeoutMs > TIMEOUT_MS_MAX) {
    throw new TallyError('FIELD_INVALID', `externalTaxTimeoutMs: must be 1..${TIMEOUT_MS_MAX}`, { field: 'externalTaxTimeoutMs' });
  }
  const url = parseHookUrl(options.url, options.profile);
  const bytesMax = options.responseBytesMax ?? RESPONSE_BYTES_MAX_DEFAULT;

  return {
    async calculate(request: TaxRequest, callOptions: TaxCalculateOptions = {}): Promise<TaxCalculation> {
      let failure: string;
      try {
        const answer = await post(url, wireRequest(request), options, bytesMax, callOptions.signal);
        return fromWire(request, answer);
      } catch (error) {
        if (!(error instanceof HookFailure)) throw error;
        failure = error.message;
      }
      if (options.fallback === 'fail') {
        throw new TallyError('TAX_UNAVAILABLE', `the external tax service failed: ${failure}`, { url: `${url.origin}${url.pathname}` });
      }
      const calculation = await options.builtin.calculate(request, callOptions);
      return Object.freeze({ ...calculation, fallbackUsed: true, fallbackReason: failure });
    },
  };
}

function parseHookUrl(text: string, profile: WebhookUrlProfile): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TallyError('FIELD_INVALID', 'externalTaxUrl: not a URL', { field: 'externalTaxUrl' });
  }
  if (url.protocol !== 'https:' && !(profile === 'local' && url.protocol === 'http:')) {
    throw new TallyError('FIELD_INVALID', `externalTaxUrl: must be https${profile === 'local' ? ' or http' : ''}`, { field: 'externalTaxUrl' });
  }
  if (url.username !== '' || url.password !== '') {
    throw new TallyError('FIELD_INVALID', 'externalTaxUrl: credentials in the URL are not allowed (use the secret)', { field: 'externalTaxUrl' });
  }
  return url;
}

function wireRequest(request: TaxRequest): unknown {
  return {
    currency: request.currency,
    date: request.date,
    seller: request.seller,
    customer: request.customer,
    lines: request.lines.map((l) => ({ lineId: l.lineId, amountMinor: l.amount.amountMinor.toString(), taxBehavior: l.taxBehavior, taxCategory: l.taxCategory })),
  };
}

/** A DNS lookup that refuses (at connect time) any address the SSRF policy refuses. */
function guardedLookup(profile: WebhookUrlProfile) {
  return (hostname: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void): void => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const verdict = checkResolvedAddresses(addresses.map((a) => a.address), profile);
      if (!verdict.allowed) return callback(Object.assign(new Error(`refused address: ${verdict.reason}`), { code: 'EADDRREFUSED' }));
      const [first] = addresses;
      if (lookupOptions.all === true) return callback(null, addresses);
      return callback(null, first?.address, first?.family);
    });
  };
}

function post(url: URL, body: unknown, options: HttpTaxCalculatorOptions, bytesMax: number, callerSignal: AbortSignal | undefined): Promise<unknown> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) {
    const verdict = checkAddress(host, options.profile);
    if (!verdict.allowed) return Promise.reject(new HookFailure(`refused address: ${verdict.reason}`));
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = callerSignal === undefined ? timeout : AbortSignal.any([timeout, callerSignal]);
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string> = {
    'content-type': 'application/json', accept: 'application/json', 'content-length': String(payload.length), 'user-agent': 'Tally-Tax/1',
  };
  if (options.secret !== undefined && options.secret !== '') headers.authorization = `Bearer ${options.secret}`;
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      reject(new HookFailure(timeout.aborted ? `timed out after ${options.timeoutMs} ms` : why));
    };
    const req = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST', headers, signal, lookup: guardedLookup(options.profile) as never, agent: false,
    }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > bytesMax) {
          res.destroy();
          fail(`response larger than ${bytesMax} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (error) => fail(`response failed: ${error.message}`));
      res.on('end', () => {
        if (settled) return;
        const text = Buffer.concat(chunks).toString('utf8');
        if (status < 200 || status >= 300) return fail(`HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}: ${text.slice(0, 200)}`);
        try {
          settled = true;
          resolve(JSON.parse(text) as unknown);
        } catch {
          settled = false;
          fail('the answer is not JSON');
        }
      });
    });
    req.on('error', (error) => fail(`request failed: ${error.message}`));
    req.end(payload);
  });
}

/** The calculation from the service's answer, or a `HookFailure` saying what is wrong with it. */
function fromWire(request: TaxRequest, answer: unknown): TaxCalculation {
  const a = answer as { lines?: unknown; reverseCharge?: unknown; note?: unknown; version?: unknown } | null;
  if (typeof a !== 'object' || a === null || !Array.isArray(a.lines) || a.lines.length !== request.lines.length) {
    throw new HookFailure('the answer must have one line per request line');
  }
  const answered: readonly unknown[] = a.lines;
  const c = request.currency;
  const lines = request.lines.map((line, i): TaxLineResult => {
    const w = answered[i] as { lineId?: unknown; taxMinor?: unknown; rate?: unknown; reason?: unknown } | undefined;
    if (w === undefined || w.lineId !== line.lineId) throw new HookFailure(`answer line ${i} is not ${line.lineId}`);
    if (typeof w.taxMinor !== 'string' || !/^-?\d{1,19}$/.test(w.taxMinor)) throw new HookFailure(`line ${line.lineId}: taxMinor must be an integer string`);
    const taxMinor = BigInt(w.taxMinor);
    const amountMinor = line.amount.amountMinor;
    const sameSign = amountMinor >= 0n ? taxMinor >= 0n && taxMinor <= amountMinor : taxMinor <= 0n && taxMinor >= amountMinor;
    // Exclusive tax may not exceed the amount either: a rate is at most 100 %.
    if (!sameSign) throw new HookFailure(`line ${line.lineId}: a tax of ${taxMinor} does not fit an amount of ${amountMinor}`);
    let ratePpm: number;
    try {
      ratePpm = parsePercent(typeof w.rate === 'string' ? w.rate : '', 'rate');
    } catch {
      throw new HookFailure(`line ${line.lineId}: rate must be a percentage string such as "19"`);
    }
    const reason = typeof w.reason === 'string' && w.reason !== '' ? w.reason.slice(0, REASON_LENGTH_MAX) : 'the external tax service';
    const net = line.taxBehavior === 'exclusive' ? amountMinor : amountMinor - taxMinor;
    return Object.freeze({
      lineId: line.lineId, taxBehavior: line.taxBehavior, net: money(net, c), tax: money(taxMinor, c), ratePpm,
      treatment: 'external', country: request.customer.country, reason,
    });
  });
  return Object.freeze({
    engine: 'external',
    engineVersion: typeof a.version === 'string' && a.version !== '' ? a.version.slice(0, VERSION_LENGTH_MAX) : 'external',
    fallbackUsed: false,
    fallbackReason: '',
    currency: c,
    date: request.date,
    customer: request.customer,
    reverseCharge: a.reverseCharge === true,
    lines: Object.freeze(lines),
    taxTotal: money(lines.reduce((acc, l) => acc + l.tax.amountMinor, 0n), c),
    note: typeof a.note === 'string' ? a.note.slice(0, REASON_LENGTH_MAX) : '',
  });
}
