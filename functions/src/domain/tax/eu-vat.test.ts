import { describe, expect, it } from 'vitest';
import { money } from '../money/index.js';
import { type VatRateQuery, calculateEuVat, euVatRate } from './eu-vat.js';
import type { TaxRequest } from './tax-types.js';

const q = (country: string, date: string, over: Partial<VatRateQuery> = {}): VatRateQuery => ({ country, date, postcode: null, category: 'standard', ...over });
const rate = (query: VatRateQuery) => euVatRate(query).ratePpm;

describe('euVatRate', () => {
  it.each([
    ['FI', '2024-08-31', 240_000],
    ['FI', '2024-09-01', 255_000],
    ['DE', '2020-06-30', 190_000],
    ['DE', '2020-07-01', 160_000],
    ['DE', '2020-12-31', 160_000],
    ['DE', '2021-01-01', 190_000],
    ['EE', '2025-07-01', 240_000],
    ['RO', '2025-08-01', 210_000],
    ['HU', '2025-01-01', 270_000],
  ])('%s on %s: the period in force that day (%i ppm)', (country, date, expected) => {
    expect(rate(q(country, date))).toBe(expected);
  });

  it.each([
    ['ES', '35001', 0, 'Canary Islands'],
    ['ES', '38 911', 0, 'Canary Islands'],
    ['DE', '27498', 0, 'Heligoland'],
    ['PT', '9000-123', 220_000, 'Madeira'],
    ['PT', '9500-001', 180_000, 'Azores'],
    ['FR', '97110', 85_000, 'Guadeloupe'],
    ['AT', '6691', 190_000, 'Jungholz'],
  ])('%s postcode %s is a territory: %i ppm (%s)', (country, postcode, expected, territory) => {
    const r = euVatRate(q(country, '2025-06-01', { postcode }));
    expect([r.ratePpm, r.territory, r.treatment]).toEqual([expected, territory, 'territory']);
  });

  it('matches a postcode pattern against the whole postcode only', () => {
    expect(rate(q('DE', '2025-06-01', { postcode: '127498' }))).toBe(190_000);
    expect(rate(q('DE', '2025-06-01', { postcode: '10115' }))).toBe(190_000);
  });

  it('reduced: the table\'s `reduced`, else its first reduced rate (reduced1)', () => {
    expect(rate(q('DE', '2025-06-01', { category: 'reduced' }))).toBe(70_000);
    expect(rate(q('FR', '2025-06-01', { category: 'reduced' }))).toBe(55_000);
    expect(euVatRate(q('FR', '2025-06-01', { category: 'reduced' })).reason).toContain('reduced1');
    // Outside the VAT area every category is 0.
    expect(rate(q('ES', '2025-06-01', { category: 'reduced', postcode: '35001' }))).toBe(0);
  });

  it('says why: country, rate, date and the period it comes from', () => {
    expect(euVatRate(q('FI', '2025-01-15')).reason).toBe('FI standard rate 25.5% on 2025-01-15 (table period from 2024-09-01)');
  });

  it.each([
    [q('US', '2025-06-01'), 'country'],
    [q('de', '2025-06-01'), 'country'],
    [q('DEU', '2025-06-01'), 'country'],
    [q('DE', '2025-02-30'), 'date'],
    [q('DE', '20250601'), 'date'],
    [q('GB', '2010-01-01'), 'date'],
    [q('DK', '2025-06-01', { category: 'reduced' }), 'category'],
    [q('PT', '2025-06-01', { category: 'reduced', postcode: '9000-123' }), 'category'],
    [q('DE', '2025-06-01', { postcode: '10115; DROP' }), 'postcode'],
  ])('refuses %j naming field %s', (query, field) => {
    expect(() => euVatRate(query)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field } }));
  });
});

describe('calculateEuVat: reverse charge and overrides', () => {
  const request = (over: Partial<TaxRequest> & { customerCountry?: string; vatId?: string | null; sellerCountry?: string } = {}): TaxRequest => ({
    currency: 'EUR',
    seller: { country: over.sellerCountry ?? 'DE', vatId: 'DE123456789' },
    customer: { country: over.customerCountry ?? 'FR', postcode: null, vatId: over.vatId ?? null },
    date: '2025-06-01',
    lines: [{ lineId: 'l1', amount: money(10_000n, 'EUR'), taxBehavior: 'exclusive', taxCategory: 'standard' }],
    rateOverridePpm: null,
    ...over,
  });

  it('B2B with a valid-looking VAT id of another member state: reverse charge at 0 %', () => {
    const c = calculateEuVat(request({ vatId: 'FR 12 345678901' }));
    expect([c.reverseCharge, c.taxTotal.amountMinor, c.lines[0]?.treatment, c.lines[0]?.ratePpm]).toEqual([true, 0n, 'reverse_charge', 0]);
    expect(c.lines[0]?.reason).toContain('FR12345678901');
  });

  it('a seller outside the EU (US, or GB since Brexit) selling to an EU business is reverse-charged too (Article 196)', () => {
    expect(calculateEuVat(request({ sellerCountry: 'US', vatId: 'FR12345678901' })).reverseCharge).toBe(true);
    expect(calculateEuVat(request({ sellerCountry: 'GB', vatId: 'DE123456789', customerCountry: 'DE' })).reverseCharge).toBe(true);
  });

  it('Greek VAT ids use the EL prefix', () => {
    expect(calculateEuVat(request({ customerCountry: 'GR', vatId: 'EL123456789' })).reverseCharge).toBe(true);
  });

  it.each([
    ['a VAT id of the seller\'s own country', { customerCountry: 'DE', vatId: 'DE987654321' }, 190_000],
    ['a VAT id that does not look valid', { vatId: 'FR123' }, 200_000],
    ['a non-EU (GB) VAT id', { customerCountry: 'GB', vatId: 'GB123456789' }, 200_000],
    ['no VAT id (a consumer)', {}, 200_000],
  ])('no reverse charge for %s: the customer country\'s rate', (_name, over, expected) => {
    const c = calculateEuVat(request(over));
    expect([c.reverseCharge, c.lines[0]?.ratePpm]).toEqual([false, expected]);
  });

  it('a customer outside the table (an ISO country such as US or CH) is not_collecting: 0 % and says why', () => {
    const c = calculateEuVat(request({ customerCountry: 'US' }));
    expect([c.lines[0]?.treatment, c.lines[0]?.ratePpm, c.taxTotal.amountMinor]).toEqual(['not_collecting', 0, 0n]);
    expect(c.lines[0]?.reason).toContain('US is outside the built-in VAT table');
    expect(calculateEuVat(request({ customerCountry: 'CH' })).lines[0]?.treatment).toBe('not_collecting');
  });

  it.each(['XX', 'ZZ', 'EU', 'de', 'EL', ''])('refuses customer country %j, which is no ISO 3166-1 code, with FIELD_INVALID country', (customerCountry) => {
    expect(() => calculateEuVat(request({ customerCountry }))).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'country' } }));
    expect(() => calculateEuVat(request({ customerCountry, rateOverridePpm: 10_000 }))).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'country' } }));
  });

  it('a rate override replaces the table for every line, for any ISO country', () => {
    const c = calculateEuVat(request({ customerCountry: 'US', rateOverridePpm: 88_750 }));
    expect([c.engine, c.lines[0]?.treatment, c.lines[0]?.tax.amountMinor]).toEqual(['override', 'override', 888n]);
  });

  it('refuses lines in another currency', () => {
    expect(() => calculateEuVat(request({ lines: [{ lineId: 'l', amount: money(1n, 'USD'), taxBehavior: 'exclusive', taxCategory: 'standard' }] })))
      .toThrow(expect.objectContaining({ reason: 'CURRENCY_MISMATCH' }));
  });
});
