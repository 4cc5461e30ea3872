/**
 * The `TaxCalculator` port: taxes the lines of one invoice (or quote). Implementations live in
 * `adapters/tax/`: the built-in EU VAT engine (pure, `domain/tax/eu-vat.ts`) and the merchant's
 * external tax hook (HTTP, with a timeout and a fallback: fail or the built-in engine).
 *
 * Contract: one result line per request line, same order and ids; for exclusive lines `net` is the
 * line's amount, for inclusive lines `net + tax` is; amounts in the request's currency. The
 * invoice refuses a calculation that breaks it (`priceInvoice`), so no implementation can make an
 * invoice lose or invent a cent.
 */
import type { TaxCalculation, TaxRequest } from '../domain/tax/tax-types.js';

export type { TaxCalculation, TaxRequest };

/** Options of one calculation. */
export interface TaxCalculateOptions {
  /** Aborts an external call (the finalizing request's deadline). */
  readonly signal?: AbortSignal;
}

/** Computes the tax of a request. Rejects with a `TallyError` (bad input, or the hook unavailable with fallback `fail`). */
export interface TaxCalculator {
  calculate(request: TaxRequest, options?: TaxCalculateOptions): Promise<TaxCalculation>;
}
