/**
 * The external tax hook against a real local HTTP server (node:http on an ephemeral port): the wire
 * format, the timeout, and both fallbacks on every kind of failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money } from '../../domain/money/index.js';
import type { TaxRequest } from '../../domain/tax/index.js';
import { createBuiltinTaxCalculator } from './builtin-tax-calculator.js';
import { type HttpTaxCalculatorOptions, createHttpTaxCalculator } from './http-tax-calculator.js';

type Handler = (body: unknown, req: IncomingMessage, res: ServerResponse) => void;
const handlers = new Map<string, Handler>();
const received: { path: string; body: unknown; authorization: string | undefined }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      received.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
      const handler = handlers.get(req.url ?? '');
      if (handler === undefined) {
        res.writeHead(404).end();
        return;
      }
      handler(body, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const json = (status: number, payload: unknown): Handler => (_b, _r, res) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
};
handlers.set('/ok', json(200, {
  lines: [{ lineId: 'il_1', taxMinor: '200', rate: '20', reason: 'FR standard (acme)' }, { lineId: 'il_2', taxMinor: '50', rate: '5.5', reason: 'books' }],
  reverseCharge: false, note: '', version: 'acme-tax 3.1',
}));
handlers.set('/slow', () => { /* never answers: the timeout must end the call */ });
handlers.set('/500', json(500, { error: 'boom' }));
handlers.set('/redirect', (_b, _r, res) => res.writeHead(302, { location: 'http://example.com/' }).end());
handlers.set('/not-json', (_b, _r, res) => res.writeHead(200).end('<html>proxy error</html>'));
handlers.set('/missing-line', json(200, { lines: [{ lineId: 'il_1', taxMinor: '200', rate: '20' }] }));
handlers.set('/tax-too-big', json(200, { lines: [{ lineId: 'il_1', taxMinor: '1001', rate: '20' }, { lineId: 'il_2', taxMinor: '50', rate: '5.5' }] }));
handlers.set('/bad-rate', json(200, { lines: [{ lineId: 'il_1', taxMinor: '200', rate: '120' }, { lineId: 'il_2', taxMinor: '50', rate: '5.5' }] }));
handlers.set('/float-tax', json(200, { lines: [{ lineId: 'il_1', taxMinor: 200.5, rate: '20' }, { lineId: 'il_2', taxMinor: '50', rate: '5.5' }] }));
handlers.set('/huge', (_b, _r, res) => res.writeHead(200).end('x'.repeat(20_000)));

const request: TaxRequest = {
  currency: 'EUR',
  seller: { country: 'DE', vatId: 'DE123456789' },
  customer: { country: 'FR', postcode: null, vatId: null },
  date: '2025-06-01',
  lines: [
    { lineId: 'il_1', amount: money(1000n, 'EUR'), taxBehavior: 'exclusive', taxCategory: 'standard' },
    { lineId: 'il_2', amount: money(1055n, 'EUR'), taxBehavior: 'inclusive', taxCategory: 'reduced' },
  ],
  rateOverridePpm: null,
};
const hook = (path: string, over: Partial<HttpTaxCalculatorOptions> = {}) => createHttpTaxCalculator({
  url: `${base}${path}`, timeoutMs: 2000, fallback: 'fail', builtin: createBuiltinTaxCalculator(), profile: 'local', responseBytesMax: 10_000, ...over,
});

describe('createHttpTaxCalculator', () => {
  it('posts the request (amounts as minor-unit strings, bearer secret) and builds the calculation from the taxes answered', async () => {
    const c = await hook('/ok', { secret: 'sek_1' }).calculate(request);
    expect(received.at(-1)).toEqual({
      path: '/ok', authorization: 'Bearer sek_1',
      body: {
        currency: 'EUR', date: '2025-06-01', seller: { country: 'DE', vatId: 'DE123456789' }, customer: { country: 'FR', postcode: null, vatId: null },
        lines: [
          { lineId: 'il_1', amountMinor: '1000', taxBehavior: 'exclusive', taxCategory: 'standard' },
          { lineId: 'il_2', amountMinor: '1055', taxBehavior: 'inclusive', taxCategory: 'reduced' },
        ],
      },
    });
    expect(c).toMatchObject({ engine: 'external', engineVersion: 'acme-tax 3.1', fallbackUsed: false, taxTotal: money(250n, 'EUR') });
    // Net follows from the line: exclusive 10.00 + 2.00; inclusive 10.55 = 10.05 + 0.50.
    expect(c.lines.map((l) => [l.net.amountMinor, l.tax.amountMinor, l.ratePpm, l.treatment])).toEqual([[1000n, 200n, 200_000, 'external'], [1005n, 50n, 55_000, 'external']]);
  });

  it.each([
    ['/slow', 'timed out after 300 ms'],
    ['/500', 'HTTP 500'],
    ['/redirect', 'HTTP 302 (redirects are not followed)'],
    ['/not-json', 'not JSON'],
    ['/missing-line', 'one line per request line'],
    ['/tax-too-big', 'does not fit'],
    ['/bad-rate', 'rate must be a percentage'],
    ['/float-tax', 'taxMinor must be an integer string'],
    ['/huge', 'larger than 10000 bytes'],
    ['/nowhere', 'HTTP 404'],
  ])('%s: fallback "fail" rejects with TAX_UNAVAILABLE (%s); fallback "builtin" answers with the EU VAT engine', async (path, why) => {
    await expect(hook(path, { timeoutMs: 300 }).calculate(request)).rejects.toMatchObject({ reason: 'TAX_UNAVAILABLE', message: expect.stringContaining(why) });
    const c = await hook(path, { timeoutMs: 300, fallback: 'builtin' }).calculate(request);
    expect(c).toMatchObject({ engine: 'builtin_eu_vat', fallbackUsed: true, fallbackReason: expect.stringContaining(why) });
    expect(c.lines.map((l) => l.tax.amountMinor)).toEqual([200n, 55n]); // FR 20 % and 5.5 % on 10.55 gross
  });

  it('refuses a loopback address under the deployed profile (SSRF policy) before sending anything', async () => {
    expect(() => hook('/ok', { profile: 'deployed' })).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'externalTaxUrl' } }));
    const before = received.length;
    const viaHttps = createHttpTaxCalculator({ url: 'https://127.0.0.1:1/ok', timeoutMs: 500, fallback: 'fail', builtin: createBuiltinTaxCalculator(), profile: 'deployed' });
    await expect(viaHttps.calculate(request)).rejects.toMatchObject({ reason: 'TAX_UNAVAILABLE', message: expect.stringContaining('refused address') });
    const viaName = createHttpTaxCalculator({ url: 'https://localhost:1/ok', timeoutMs: 500, fallback: 'fail', builtin: createBuiltinTaxCalculator(), profile: 'deployed' });
    await expect(viaName.calculate(request)).rejects.toMatchObject({ reason: 'TAX_UNAVAILABLE', message: expect.stringContaining('refused address') });
    expect(received.length).toBe(before);
  });

  it('refuses a bad configuration at creation: timeout out of range, credentials in the URL', () => {
    expect(() => hook('/ok', { timeoutMs: 0 })).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'externalTaxTimeoutMs' } }));
    expect(() => createHttpTaxCalculator({ url: 'http://u:p@127.0.0.1/', timeoutMs: 100, fallback: 'fail', builtin: createBuiltinTaxCalculator(), profile: 'local' }))
      .toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'externalTaxUrl' } }));
  });
});

describe('createTenantTaxCalculator', () => {
  it('is the built-in engine without an external URL, the hook with one', async () => {
    const { createTenantTaxCalculator } = await import('./index.js');
    const none = await createTenantTaxCalculator({ externalTaxUrl: '', externalTaxTimeoutMs: 0, externalTaxFallback: 'fail' }, 'deployed').calculate(request);
    expect(none.engine).toBe('builtin_eu_vat');
    const hooked = await createTenantTaxCalculator({ externalTaxUrl: `${base}/ok`, externalTaxTimeoutMs: 2000, externalTaxFallback: 'fail' }, 'local').calculate(request);
    expect(hooked.engine).toBe('external');
  });
});
