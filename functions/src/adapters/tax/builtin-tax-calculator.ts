/** The built-in EU VAT engine behind the `TaxCalculator` port (pure and synchronous underneath). */
import { calculateEuVat } from '../../domain/tax/index.js';
import type { TaxCalculator } from '../../ports/tax-calculator.js';

/** A `TaxCalculator` over `calculateEuVat`: rejects with its `TallyError`s (unknown country, ...). */
export function createBuiltinTaxCalculator(): TaxCalculator {
  return {
    calculate: async (request) => calculateEuVat(request),
  };
}
