/**
 * An invoice as PDF, rendered with pdfkit (issue 14 item 4). Amounts are formatted from exact minor
 * units (`formatDecimal`); the document's creation date is the finalization time, so rendering the
 * same invoice twice gives the same text.
 */
import PDFDocument from 'pdfkit';
import { formatDecimal } from '../../domain/money/index.js';
import { money } from '../../domain/money/index.js';
import type { BillingSettings, Invoice } from '../../ports/billing-store.js';

const day = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().slice(0, 10));

export function renderInvoicePdf(invoice: Invoice, seller: { name: string; settings: BillingSettings }): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Invoice ${invoice.number ?? invoice.id}`, CreationDate: new Date(invoice.finalizedAtMs ?? invoice.createdAtMs) } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const c = invoice.currency;
  const fmt = (minor: bigint) => `${formatDecimal(money(minor, c))} ${c}`;
  doc.fontSize(20).text(`Invoice ${invoice.number ?? '(draft)'}`);
  doc.fontSize(10).moveDown()
    .text(`Seller: ${seller.name}${seller.settings.vatId ? ` (VAT ${seller.settings.vatId})` : ''}, ${seller.settings.originCountry}`)
    .text(`Customer: ${invoice.customerId}${invoice.taxCalculation.customer.vatId ? ` (VAT ${invoice.taxCalculation.customer.vatId})` : ''}, ${invoice.taxCalculation.customer.country}`)
    .text(`Status: ${invoice.status}`)
    .text(`Issued: ${day(invoice.finalizedAtMs)}   Period: ${day(invoice.periodStartMs)} - ${day(invoice.periodEndMs)}`)
    .moveDown();
  for (const line of invoice.lines) {
    doc.text(`${line.description}  x${line.quantity}`, { continued: true })
      .text(`   net ${fmt(line.net.amountMinor)}   VAT ${line.ratePpm / 10_000}% ${fmt(line.tax.amountMinor)}   total ${fmt(line.total.amountMinor)}`, { align: 'right' });
    if (line.discountAmount.amountMinor > 0n) doc.text(`   discount ${fmt(line.discountAmount.amountMinor)}`, { align: 'right' });
  }
  doc.moveDown()
    .text(`Subtotal: ${fmt(invoice.totals.subtotal.amountMinor)}`, { align: 'right' })
    .text(`Discounts: ${fmt(invoice.totals.discountTotal.amountMinor)}`, { align: 'right' })
    .text(`Total excluding tax: ${fmt(invoice.totals.totalExcludingTax.amountMinor)}`, { align: 'right' })
    .text(`Tax: ${fmt(invoice.totals.taxTotal.amountMinor)}`, { align: 'right' })
    .fontSize(12).text(`Total: ${fmt(invoice.totals.total.amountMinor)}`, { align: 'right' })
    .fontSize(10).text(`Paid: ${fmt(invoice.amountPaidMinor)}   Credited: ${fmt(invoice.amountCreditedMinor)}`, { align: 'right' });
  if (invoice.taxCalculation.note !== '') doc.moveDown().text(invoice.taxCalculation.note);
  doc.end();
  return done;
}
