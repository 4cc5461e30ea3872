import { describe, expect, it } from 'vitest';
import { money } from '../../domain/money/index.js';
import { INVOICE_LINES_MAX } from '../../domain/billing/index.js';
import type { BillingSettings, Invoice } from '../../ports/billing-store.js';
import { renderInvoicePdf } from './invoice-pdf.js';

/** The console downloads GetInvoicePdf through an HTTPS callable as base64 in proto JSON: its size must stay bounded. */
const consolePdfBytesMax = 2 * 1024 * 1024;

describe('invoice PDF', () => {
  it(`an invoice of ${INVOICE_LINES_MAX} lines with long descriptions renders to a PDF under 2 MiB`, async () => {
    const eur = (minor: bigint) => money(minor, 'EUR');
    const line = (n: number) => ({
      id: `il_${n}`, description: `${'Seat licence with a long product name '.repeat(5).slice(0, 200)} #${n}`, quantity: 9_999n,
      net: eur(123_456_789n), tax: eur(23_456_789n), total: eur(146_913_578n), ratePpm: 190_000, discountAmount: eur(1_000n),
    });
    const invoice = {
      id: 'inv_big', number: 'INV-999999', status: 'open', customerId: 'cus_x', currency: 'EUR',
      lines: Array.from({ length: INVOICE_LINES_MAX }, (_, n) => line(n)),
      totals: { subtotal: eur(1n), discountTotal: eur(1n), totalExcludingTax: eur(1n), taxTotal: eur(1n), total: eur(1n) },
      taxCalculation: { customer: { country: 'FR', vatId: 'FR12345678901' }, note: 'Reverse charge' },
      periodStartMs: 0, periodEndMs: 1, createdAtMs: 0, finalizedAtMs: 1, amountPaidMinor: 0n, amountCreditedMinor: 0n,
    } as unknown as Invoice;
    const settings = { originCountry: 'DE', vatId: 'DE123456789' } as BillingSettings;
    const pdf = await renderInvoicePdf(invoice, { name: 'A shop with a long name '.repeat(8), settings });
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.byteLength).toBeLessThan(consolePdfBytesMax);
  }, 60_000);
});
