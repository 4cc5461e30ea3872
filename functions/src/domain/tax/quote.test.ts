import { describe, expect, it } from 'vitest';
import { money } from '../money/index.js';
import { type TaxQuoteInput, quoteTax } from './quote.js';

const input = (over: Partial<TaxQuoteInput> = {}): TaxQuoteInput => ({
  country: 'FR', postcode: null, date: '2025-06-01', category: 'standard', ratePpm: null, amount: money(10_000n, 'EUR'), taxBehavior: 'exclusive', ...over,
});

describe('quoteTax', () => {
  it('is a domestic consumer sale by default: FR 20 %', () => {
    expect(quoteTax(input())).toMatchObject({ net: money(10_000n, 'EUR'), tax: money(2000n, 'EUR'), gross: money(12_000n, 'EUR'), ratePpm: 200_000, treatment: 'standard' });
  });

  it('a B2B quote from another member state with the customer\'s VAT id is reverse-charged', () => {
    expect(quoteTax(input({ sellerCountry: 'DE', vatId: 'FR12345678901' }))).toMatchObject({ tax: money(0n, 'EUR'), treatment: 'reverse_charge' });
    expect(quoteTax(input({ sellerCountry: 'FR', vatId: 'FR12345678901' })).treatment).toBe('standard');
  });

  it('an override rate names itself as the source', () => {
    expect(quoteTax(input({ ratePpm: 55_000 }))).toMatchObject({ tax: money(550n, 'EUR'), treatment: 'override', source: 'override' });
  });
});
