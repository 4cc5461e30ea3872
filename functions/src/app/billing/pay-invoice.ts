/**
 * Paying an invoice now (PayInvoice) and reading a customer's credit balance (issue 14, ADR 0035).
 *
 * PayInvoice charges what is due on an open or uncollectible invoice right away, with the
 * customer's default payment method or one of the customer's others, through the same path as
 * billingRun (PaymentsService's use cases, a payment keyed by invoice and attempt number, recorded
 * in one transaction). A success pays the invoice (an uncollectible one has its write-off reversed
 * first) and makes its subscription active again; a failure is counted and announced but moves
 * neither the dunning schedule nor the subscription.
 */
import { TallyError } from '../../domain/errors.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { Invoice } from '../../ports/billing-store.js';
import { invalidField } from '../../domain/errors.js';
import { requirePaymentMethod } from '../payments/payment-methods.js';
import type { BillingDeps } from './billing-deps.js';
import { chargeInvoiceNow } from './billing-run.js';
import { amountDueMinor, recordChargeOutcomes, settingsOf } from './invoicing.js';
import { customerNowMs } from './subscriptions.js';

/** Checks that `invoiceId` can be paid now with `paymentMethodId` ('' : the default); returns the invoice. Writes nothing. */
export async function checkPayable(deps: BillingDeps, tenantId: string, invoiceId: string, paymentMethodId: string): Promise<Invoice> {
  const invoice = await deps.store.getInvoice(tenantId, invoiceId);
  if (!invoice) throw new TallyError('NOT_FOUND', `invoice ${invoiceId} not found`, { field: 'invoice_id' });
  if (invoice.status !== 'open' && invoice.status !== 'uncollectible') {
    throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoiceId} is ${invoice.status}: only open or uncollectible invoices are paid`, { field: 'invoice_id', from: invoice.status, to: 'paid' });
  }
  if (paymentMethodId !== '') {
    // Only one of the invoice's customer's own methods (an unattached one included would charge a stranger's card).
    const method = await requirePaymentMethod(deps.payments, tenantId, paymentMethodId);
    if (method.customerId !== invoice.customerId) throw invalidField('payment_method_id', `is not a payment method of customer ${invoice.customerId}`);
  } else {
    const customer = await deps.store.getBillingCustomer(tenantId, invoice.customerId);
    if (!customer || customer.defaultPaymentMethodId === '') throw new TallyError('FIELD_REQUIRED', 'the customer has no default payment method: name one', { field: 'payment_method_id' });
  }
  return invoice;
}

/** What a PayInvoice did: the invoice after it, and why the charge failed ('' when it did not). */
export interface PayInvoiceResult { invoice: Invoice; declineReason: string }

/** Charges the invoice now (module comment). Checked first by `checkPayable`; a concurrent change is answered CONTENTION (retry). */
export async function payInvoice(deps: BillingDeps, tenantId: string, invoiceId: string, paymentMethodId: string, trace: TraceIds): Promise<PayInvoiceResult> {
  const invoice = await checkPayable(deps, tenantId, invoiceId, paymentMethodId);
  if (amountDueMinor(invoice) <= 0n) throw new TallyError('INVALID_STATE_TRANSITION', `invoice ${invoiceId} has nothing due`, { field: 'invoice_id', from: invoice.status });
  const nowMs = await customerNowMs(deps, tenantId, invoice.testClockId);
  const attempt = await chargeInvoiceNow(deps, tenantId, invoice, paymentMethodId, nowMs, trace);
  const recorded = await recordChargeOutcomes(deps, tenantId, [attempt], await settingsOf(deps, tenantId), nowMs, trace);
  const after = recorded.get(invoiceId);
  if (!after) throw new TallyError('CONTENTION', `invoice ${invoiceId} changed while it was being paid; retry`, { field: 'invoice_id' });
  return { invoice: after, declineReason: attempt.outcome.kind === 'failed' ? attempt.outcome.reason : '' };
}

/** A customer's credit balances (currency -> minor units, > 0 only). NOT_FOUND without a billing profile. */
export async function customerCreditBalances(deps: BillingDeps, tenantId: string, customerId: string): Promise<{ currency: string; amountMinor: bigint }[]> {
  const balances = await deps.store.getCustomerCreditBalances(tenantId, customerId);
  if (balances === undefined) throw new TallyError('NOT_FOUND', `customer ${customerId} has no billing profile`, { field: 'customer_id' });
  return Object.entries(balances).filter(([, v]) => v > 0n).map(([currency, amountMinor]) => ({ currency, amountMinor })).sort((a, b) => a.currency.localeCompare(b.currency));
}
