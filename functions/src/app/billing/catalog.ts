/**
 * The catalog and the rest of billing's configuration (issue 14 items 1, 7, 8): products, prices,
 * coupons, customers' billing profiles, the tenant's billing settings, usage records, test clocks
 * and the upcoming-invoice preview. Each `check*` refuses bad input before anything is written.
 */
import { TallyError, invalidField } from '../../domain/errors.js';
import { derivedId } from '../../domain/ids.js';
import { validatePrice, type Price, type Product } from '../../domain/billing/catalog.js';
import { validateCoupon } from '../../domain/billing/coupon.js';
import { formatInvoiceNumber } from '../../domain/billing/invoice.js';
import { isCountryCode } from '../../domain/payments/payment-fields.js';
import { normalisePostcode, parseEuVatId, vatCountries } from '../../domain/tax/index.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import type { BillingCustomer, BillingSettings, Coupon, Invoice, TestClock, UsageRecord } from '../../ports/billing-store.js';
import { requirePaymentMethod, requireSameCustomer } from '../payments/payment-methods.js';
import type { BillingDeps } from './billing-deps.js';
import { emptyReport, runBilling, type BillingRunReport } from './billing-run.js';
import { draftInvoice, loadDraftContext, periodOf, renewalLines, settingsOf } from './invoicing.js';
import { getSubscription } from './subscriptions.js';

export async function createProduct(deps: BillingDeps, tenantId: string, product: Product): Promise<{ product: Product; createdAtMs: number }> {
  const createdAtMs = deps.clock.nowMs();
  await deps.store.createProduct(tenantId, product, createdAtMs);
  return { product, createdAtMs };
}

/** Checks a new price against the domain's rules and its product; returns it validated. */
export async function checkNewPrice(deps: BillingDeps, tenantId: string, price: Price): Promise<Price> {
  const valid = validatePrice(price);
  if (!(await deps.store.getProduct(tenantId, price.productId))) throw new TallyError('NOT_FOUND', `product ${price.productId} not found`, { field: 'price.product_id' });
  return valid;
}

export async function createPrice(deps: BillingDeps, tenantId: string, price: Price): Promise<{ price: Price; createdAtMs: number }> {
  const createdAtMs = deps.clock.nowMs();
  await deps.store.createPrice(tenantId, price, createdAtMs);
  return { price, createdAtMs };
}

export function checkNewCoupon(coupon: Coupon): Coupon {
  validateCoupon(coupon);
  return coupon;
}

export async function createCoupon(deps: BillingDeps, tenantId: string, coupon: Coupon): Promise<Coupon> {
  await deps.store.createCoupon(tenantId, coupon);
  return coupon;
}

// ---- customers --------------------------------------------------------------------------------

/** Countries the tax engine of `settings` can tax: the built-in table's, or any ISO country with an external hook. */
function checkTaxCountry(settings: BillingSettings, country: string, field: string): void {
  if (country === '') throw invalidField(field, 'required', 'FIELD_REQUIRED');
  if (!isCountryCode(country)) throw invalidField(field, 'not an ISO 3166-1 alpha-2 country code (as FR)');
  if (settings.externalTaxUrl === '' && !vatCountries().includes(country)) {
    throw invalidField(field, `the built-in VAT engine knows ${vatCountries().join(', ')}; set an external tax service for other countries`);
  }
}

/** The customer's default payment method, checked to exist and to be theirs. */
export async function requirePaymentMethodOf(deps: BillingDeps, tenantId: string, customer: BillingCustomer): Promise<void> {
  if (customer.defaultPaymentMethodId === '') throw invalidField('default_payment_method_id', 'required', 'FIELD_REQUIRED');
  const method = await requirePaymentMethod(deps.payments, tenantId, customer.defaultPaymentMethodId);
  requireSameCustomer(method, customer.customerId);
}

/** Refuses a bad billing profile (unknown country, customer, payment method or clock; a clock on a live tenant). */
export async function checkBillingCustomer(deps: BillingDeps, tenantId: string, customer: BillingCustomer): Promise<BillingCustomer> {
  const settings = await settingsOf(deps, tenantId);
  checkTaxCountry(settings, customer.country, 'customer.country');
  const postcode = normalisePostcode(customer.postcode === '' ? null : customer.postcode) ?? '';
  if (customer.vatId !== '' && parseEuVatId(customer.vatId) === null) throw invalidField('customer.vat_id', 'not a VAT id of an EU member state (as FR12345678901)');
  if (!(await deps.payments.store.getCustomer(tenantId, customer.customerId))) throw new TallyError('NOT_FOUND', `customer ${customer.customerId} not found`, { field: 'customer.customer_id' });
  await requirePaymentMethodOf(deps, tenantId, customer);
  if (customer.testClockId !== '') {
    await requireTestTenant(deps, tenantId);
    if (!(await deps.store.getTestClock(tenantId, customer.testClockId))) throw new TallyError('NOT_FOUND', `test clock ${customer.testClockId} not found`, { field: 'customer.test_clock_id' });
    const before = await deps.store.getBillingCustomer(tenantId, customer.customerId);
    if (before && before.testClockId !== customer.testClockId) throw invalidField('customer.test_clock_id', 'a customer stays on the clock it was first attached to');
  }
  return { ...customer, postcode, updatedAtMs: deps.clock.nowMs() };
}

export async function updateBillingCustomer(deps: BillingDeps, tenantId: string, customer: BillingCustomer): Promise<BillingCustomer> {
  await deps.store.setBillingCustomer(tenantId, customer);
  return customer;
}

// ---- settings ---------------------------------------------------------------------------------

export const EXTERNAL_TAX_TIMEOUT_MS_MIN = 100;
export const EXTERNAL_TAX_TIMEOUT_MS_MAX = 10_000;

export function checkSettings(s: BillingSettings): BillingSettings {
  checkTaxCountry({ ...s, externalTaxUrl: '' }, s.originCountry, 'settings.origin_country');
  formatInvoiceNumber(s.invoicePrefix, 1); // FIELD_INVALID invoicePrefix
  if (s.vatId !== '' && parseEuVatId(s.vatId) === null) throw invalidField('settings.vat_id', 'not a VAT id of an EU member state');
  const days = s.dunning.retryDelaysDays;
  if (days.length < 1 || days.length > 10 || days.some((d, i) => !Number.isSafeInteger(d) || d < 1 || d > 60 || (i > 0 && d <= days[i - 1]!))) {
    throw invalidField('settings.dunning_retry_days', '1 to 10 strictly ascending whole days from 1 to 60');
  }
  if (s.externalTaxUrl !== '') {
    let url: URL;
    try {
      url = new URL(s.externalTaxUrl);
    } catch {
      throw invalidField('settings.external_tax_url', 'not a URL');
    }
    if (url.protocol !== 'https:' && url.hostname !== '127.0.0.1') throw invalidField('settings.external_tax_url', 'must be https');
  }
  if (!Number.isSafeInteger(s.externalTaxTimeoutMs) || s.externalTaxTimeoutMs < EXTERNAL_TAX_TIMEOUT_MS_MIN || s.externalTaxTimeoutMs > EXTERNAL_TAX_TIMEOUT_MS_MAX) {
    throw invalidField('settings.external_tax_timeout_ms', `${EXTERNAL_TAX_TIMEOUT_MS_MIN}..${EXTERNAL_TAX_TIMEOUT_MS_MAX}`);
  }
  return s;
}

export async function updateSettings(deps: BillingDeps, tenantId: string, settings: BillingSettings): Promise<BillingSettings> {
  await deps.store.setSettings(tenantId, settings);
  return settings;
}

// ---- usage ------------------------------------------------------------------------------------

/** Refuses usage for an unknown subscription or a price that is not one of its metered items; returns the record. */
export async function checkUsage(deps: BillingDeps, tenantId: string, input: { subscriptionId: string; priceId: string; quantity: bigint; atMs: number | null }, idempotencyKey: string): Promise<UsageRecord> {
  const sub = await getSubscription(deps, tenantId, input.subscriptionId);
  if (!sub.items.some((i) => i.priceId === input.priceId)) throw invalidField('price_id', `not an item of subscription ${sub.id}`);
  const price = (await deps.store.getPrice(tenantId, input.priceId))!.price;
  if (price.recurring?.usage.type !== 'metered') throw invalidField('price_id', 'not a metered price');
  if (input.quantity < 0n || input.quantity > 1_000_000_000_000n) throw invalidField('quantity', '0..10^12');
  if (sub.status === 'canceled') throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} is canceled`, { field: 'subscription_id', from: 'canceled' });
  const nowMs = sub.testClockId === '' ? deps.clock.nowMs() : (await deps.store.getTestClock(tenantId, sub.testClockId))!.frozenTimeMs;
  const atMs = input.atMs ?? nowMs;
  if (atMs < sub.currentPeriodStartMs || atMs >= Math.max(sub.currentPeriodEndMs, sub.currentPeriodStartMs + 1)) throw invalidField('time', 'outside the subscription\'s current period');
  return {
    // The key names the record: a retried report (same key) lands on the same document once.
    id: derivedId('ur', [tenantId, sub.id, idempotencyKey]), subscriptionId: sub.id, priceId: price.id, quantity: input.quantity, atMs, createdAtMs: deps.clock.nowMs(),
    periodStartMs: sub.currentPeriodStartMs,
  };
}

export async function recordUsage(deps: BillingDeps, tenantId: string, record: UsageRecord): Promise<UsageRecord> {
  await deps.store.createUsageRecord(tenantId, record);
  return record;
}

// ---- preview ----------------------------------------------------------------------------------

/** The invoice the subscription's next renewal would make now, computed by the same code; nothing is written. */
export async function previewUpcomingInvoice(deps: BillingDeps, tenantId: string, subscriptionId: string): Promise<Invoice> {
  const sub = await getSubscription(deps, tenantId, subscriptionId);
  // Canceled at period end: the next renewal cancels instead of invoicing, so there is nothing to preview.
  if (sub.status === 'canceled' || sub.nextActionAtMs === null || sub.cancelAtPeriodEnd) {
    throw new TallyError('INVALID_STATE_TRANSITION', `subscription ${sub.id} has no upcoming invoice${sub.cancelAtPeriodEnd ? ' (it cancels at the end of its period)' : ''}`, { field: 'subscription_id', from: sub.status });
  }
  const period = periodOf(sub, sub.periodIndex + 1);
  const ctx = await loadDraftContext(deps, tenantId, sub);
  const usagePeriod = sub.periodIndex < 0 ? null : { startMs: sub.currentPeriodStartMs, endMs: sub.currentPeriodEndMs };
  const lines = await renewalLines(deps, tenantId, sub, ctx, period, usagePeriod);
  return draftInvoice(deps, tenantId, sub, ctx, lines, period, '', sub.nextActionAtMs);
}

// ---- test clocks ------------------------------------------------------------------------------

/** Test clocks are for test tenants only: a live tenant is refused (PERMISSION_DENIED). */
export async function requireTestTenant(deps: BillingDeps, tenantId: string): Promise<void> {
  const tenant = await deps.tenant(tenantId);
  if (tenant.testMode !== true) throw new TallyError('PERMISSION_DENIED', 'test clocks are for test tenants only; this tenant is live', { field: 'test_clock_id' });
}

export async function createTestClock(deps: BillingDeps, tenantId: string, clock: TestClock): Promise<TestClock> {
  await deps.store.createTestClock(tenantId, clock);
  return clock;
}

/** Longest single advance (two years, as Stripe's). */
export const TEST_CLOCK_ADVANCE_MS_MAX = 731 * 86_400_000;

export async function checkAdvance(deps: BillingDeps, tenantId: string, clockId: string, toMs: number): Promise<TestClock> {
  await requireTestTenant(deps, tenantId);
  const clock = await deps.store.getTestClock(tenantId, clockId);
  if (!clock) throw new TallyError('NOT_FOUND', `test clock ${clockId} not found`, { field: 'test_clock_id' });
  if (toMs < clock.frozenTimeMs) throw invalidField('frozen_time', 'a test clock only moves forward');
  if (toMs - clock.frozenTimeMs > TEST_CLOCK_ADVANCE_MS_MAX) throw invalidField('frozen_time', 'at most two years per advance');
  return clock;
}

/**
 * Moves the clock to `toMs`, stopping at every instant something is due on the way (a renewal, a
 * dunning retry) so each happens at its own time: a year of monthly renewals and retries is a few
 * dozen steps. Bounded by `clockStepsMax`: hitting it fails loudly with the clock where it stopped.
 */
export async function advanceTestClock(deps: BillingDeps, tenantId: string, clock: TestClock, toMs: number, trace: TraceIds): Promise<{ clock: TestClock; report: BillingRunReport }> {
  const total = emptyReport();
  const scopeClock = { tenantId, testClockId: clock.id };
  let nowMs = clock.frozenTimeMs;
  for (let step = 0; ; step++) {
    const [subs, invoices] = await Promise.all([deps.store.dueSubscriptions(toMs, 1, scopeClock), deps.store.dueInvoices(toMs, 1, scopeClock)]);
    const next = Math.min(subs[0]?.dueAtMs ?? Infinity, invoices[0]?.dueAtMs ?? Infinity);
    if (next === Infinity) break;
    if (step >= deps.limits.clockStepsMax) {
      throw new TallyError('LIMIT_EXCEEDED', `test clock ${clock.id} stopped after ${step} steps at ${new Date(nowMs).toISOString()}; advance again`, { limit: String(deps.limits.clockStepsMax), field: 'frozen_time' });
    }
    nowMs = Math.max(nowMs, next);
    await deps.store.setTestClockTime(tenantId, clock.id, nowMs);
    const report = await runBilling(deps, { kind: 'clock', ...scopeClock, nowMs }, trace);
    for (const k of ['rounds', 'finalized', 'canceled', 'chargeAttempts', 'paid', 'failed', 'pending', 'errors', 'renewMs', 'chargeMs'] as const) total[k] += report[k];
    if (report.errors > 0 || report.more) {
      // The clock stays where billing stopped. A typed failure (a draft the tax hook refused, usage
      // over its bound) is answered as it is, so the caller sees why; anything else may pass on retry.
      if (report.firstError instanceof TallyError && report.firstError.reason !== 'CONTENTION') {
        const e = report.firstError;
        throw new TallyError(e.reason, `test clock ${clock.id} stopped at ${new Date(nowMs).toISOString()}: ${e.message}`, { ...e.metadata, testClockId: clock.id });
      }
      throw new TallyError('CONTENTION', `test clock ${clock.id}: billing at ${new Date(nowMs).toISOString()} did not finish; advance again`, { field: 'test_clock_id' });
    }
  }
  await deps.store.setTestClockTime(tenantId, clock.id, toMs);
  return { clock: { ...clock, frozenTimeMs: toMs }, report: total };
}
