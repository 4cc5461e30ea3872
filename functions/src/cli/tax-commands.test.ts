/**
 * `tally tax quote`: the command's logic in-process (fast), and the real binary as users run it
 * (`node bin/tally.mjs`, no stack running) for output formats and exit codes.
 */
import { describe, expect, it } from 'vitest';
import { parseJson, runCli } from '../../../test/support/cli-runner.js';
import { type TaxQuoteOptions, taxQuote } from './tax-commands.js';

const now = Date.parse('2025-01-15T12:00:00Z');
const quote = (over: Partial<TaxQuoteOptions>) => taxQuote({ country: 'DE', category: 'standard', amount: '100.00', currency: 'EUR', ...over }, now);

describe('taxQuote', () => {
  it.each([
    [{ country: 'FI' }, { net: '100.00', tax: '25.50', gross: '125.50', rate: '25.5', treatment: 'standard' }],
    [{ country: 'FI', date: '2024-08-31' }, { net: '100.00', tax: '24.00', gross: '124.00', rate: '24' }],
    [{ country: 'DE', amount: '119.00', inclusive: true }, { net: '100.00', tax: '19.00', gross: '119.00', rate: '19' }],
    [{ country: 'DE', category: 'reduced' as const }, { tax: '7.00', rate: '7', treatment: 'reduced' }],
    [{ country: 'ES', postcode: '35001' }, { tax: '0.00', rate: '0', treatment: 'territory' }],
    [{ country: 'PT', postcode: '9500-100' }, { tax: '18.00', rate: '18' }],
    [{ country: 'US', rate: '8.875', currency: 'USD', amount: '10.00' }, { net: '10.00', tax: '0.89', gross: '10.89', rate: '8.875', treatment: 'override' }],
    [{ country: 'HU', currency: 'HUF', amount: '1000' }, { tax: '270.00', rate: '27' }],
    [{ country: 'DE', currency: 'JPY', amount: '1000' }, { net: '1000', tax: '190', gross: '1190' }],
    [{ country: 'IE', amount: '0.05', rate: '10' }, { tax: '0.01' }], // 0.005 rounds half-up
    [{ country: 'US', currency: 'USD' }, { net: '100.00', tax: '0.00', gross: '100.00', rate: '0', treatment: 'not_collecting' }],
  ])('%j -> %j', (over, expected) => {
    expect(quote(over)).toMatchObject(expected);
  });

  it('says why the rate applies and defaults the date to today (UTC)', () => {
    expect(quote({ country: 'FI' })).toMatchObject({ date: '2025-01-15', reason: 'FI standard rate 25.5% on 2025-01-15 (table period from 2024-09-01)' });
    expect(quote({ rate: '5' }).reason).toBe('rate 5% given explicitly (overrides the table)');
  });

  it.each([
    [{ country: 'XX' }, 'FIELD_INVALID', 'country'],
    [{ country: 'XX', rate: '5' }, 'FIELD_INVALID', 'country'],
    [{ country: 'de' }, 'FIELD_INVALID', 'country'],
    [{ amount: '1.234' }, 'AMOUNT_PRECISION_EXCEEDED', 'amount'],
    [{ amount: '1,00' }, 'FIELD_INVALID', 'amount'],
    [{ currency: 'EURO' }, 'FIELD_INVALID', 'currency'],
    [{ currency: 'ZZZ' }, 'UNKNOWN_CURRENCY', 'currency'],
    [{ date: '2025-13-01' }, 'FIELD_INVALID', 'date'],
    [{ rate: '150' }, 'FIELD_INVALID', 'rate'],
    [{ country: 'DK', category: 'reduced' as const }, 'FIELD_INVALID', 'category'],
  ])('refuses %j with %s (field %s)', (over, reason, field) => {
    expect(() => quote(over)).toThrow(expect.objectContaining({ reason, metadata: expect.objectContaining({ field }) }));
  });
});

describe('npx tally tax quote (the binary, no stack)', () => {
  it('prints net, tax, gross, rate and why, for humans and as JSON', async () => {
    const [human, json] = await Promise.all([
      runCli(['tax', 'quote', '--country', 'FI', '--date', '2025-01-15', '--amount', '100.00', '--currency', 'EUR']),
      runCli(['tax', 'quote', '--country', 'DE', '--postcode', '27498', '--date', '2025-01-15', '--amount', '50', '--currency', 'EUR', '--inclusive', '--json']),
    ]);
    expect(human).toMatchObject({ code: 0 });
    expect(human.stdout).toBe([
      'net    100.00 EUR', 'tax     25.50 EUR', 'gross  125.50 EUR', 'rate   25.5%',
      'why    FI standard rate 25.5% on 2025-01-15 (table period from 2024-09-01)', '',
    ].join('\n'));
    expect(parseJson(json)).toMatchObject({ net: '50.00', tax: '0.00', gross: '50.00', rate: '0', treatment: 'territory', postcode: '27498' });
  });

  it('bad input: a clear error and exit 1 (exit 2 for usage errors)', async () => {
    const [country, category] = await Promise.all([
      runCli(['tax', 'quote', '--country', 'XX', '--amount', '1', '--currency', 'EUR']),
      runCli(['tax', 'quote', '--country', 'DE', '--amount', '1', '--currency', 'EUR', '--category', 'luxury']),
    ]);
    expect(country).toMatchObject({ code: 1, stdout: '' });
    expect(country.stderr).toBe('error: cli FIELD_INVALID: country: XX is not an ISO 3166-1 alpha-2 country code such as DE (uppercase)\n');
    expect(category.code).toBe(2);
    expect(category.stderr).toContain("argument 'luxury' is invalid");
  });
});
