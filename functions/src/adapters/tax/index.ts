/**
 * Tax calculators (the `TaxCalculator` port): the built-in EU VAT engine, the merchant's external
 * hook, and `createTenantTaxCalculator`, which picks between them from a tenant's tax settings.
 */
import type { WebhookUrlProfile } from '../../platform/net/address-policy.js';
import type { TaxCalculator } from '../../ports/tax-calculator.js';
import { createBuiltinTaxCalculator } from './builtin-tax-calculator.js';
import { createHttpTaxCalculator } from './http-tax-calculator.js';

export { createBuiltinTaxCalculator } from './builtin-tax-calculator.js';
export { createHttpTaxCalculator, type HttpTaxCalculatorOptions } from './http-tax-calculator.js';

/** A tenant's tax settings as the calculator needs them. */
export interface TenantTaxSettings {
  /** The external tax service, or '' for the built-in engine. */
  readonly externalTaxUrl: string;
  readonly externalTaxTimeoutMs: number;
  readonly externalTaxFallback: 'fail' | 'builtin';
  /** Bearer secret for the service ('' none). */
  readonly externalTaxSecret?: string;
}

const builtin = createBuiltinTaxCalculator();

/**
 * The calculator a tenant's settings choose: the built-in engine without an external URL, else the
 * hook with its timeout and fallback (the built-in engine). Throws `FIELD_INVALID` (field
 * `externalTaxUrl` / `externalTaxTimeoutMs`) for settings the hook refuses: validate settings with
 * it when they are saved.
 */
export function createTenantTaxCalculator(settings: TenantTaxSettings, profile: WebhookUrlProfile): TaxCalculator {
  if (settings.externalTaxUrl === '') return builtin;
  return createHttpTaxCalculator({
    url: settings.externalTaxUrl,
    timeoutMs: settings.externalTaxTimeoutMs,
    fallback: settings.externalTaxFallback,
    builtin,
    ...(settings.externalTaxSecret === undefined || settings.externalTaxSecret === '' ? {} : { secret: settings.externalTaxSecret }),
    profile,
  });
}
