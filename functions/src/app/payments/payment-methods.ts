/** Payment methods: PSP tokens of one card (never the card number), created by the tenant, cached once read. */
import { TallyError, invalidField } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { PaymentMethod } from '../../ports/payments-store.js';
import { pspNames, type PspName } from '../../ports/psp-gateway.js';
import { requireCustomer } from './customers.js';
import type { PaymentsDeps } from './payments-deps.js';

/** What the caller says about a new payment method. */
export interface NewPaymentMethod {
  customerId: string; pspTokens: Readonly<Record<string, string>>; brand: string; country: string; last4: string;
}

/** 13..19 digits passing the Luhn check: a card number (PAN). Tally never accepts one. */
export function looksLikePan(value: string): boolean {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{13,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Refuses a new payment method's bad fields or unknown customer; called before its idempotency
 * key is read, so bad input writes nothing.
 */
export async function checkNewPaymentMethod(deps: PaymentsDeps, tenantId: string, input: NewPaymentMethod): Promise<void> {
  const tokens = Object.entries(input.pspTokens);
  if (tokens.length === 0) throw invalidField('psp_tokens', 'at least one PSP token', 'FIELD_REQUIRED');
  for (const [psp, token] of tokens) {
    if (!(pspNames as readonly string[]).includes(psp)) throw invalidField(`psp_tokens.${psp}`, `unknown PSP (one of ${pspNames.join(', ')})`);
    // PCI scope: raw card numbers never enter Tally; only PSP tokens do.
    if (looksLikePan(token)) throw invalidField(`psp_tokens.${psp}`, 'looks like a card number: send a PSP token, never raw card data');
    if (token.length === 0 || token.length > 200) throw invalidField(`psp_tokens.${psp}`, '1..200 characters');
  }
  if (looksLikePan(input.last4)) throw invalidField('last4', 'looks like a card number');
  if (input.last4 !== '' && !/^\d{4}$/.test(input.last4)) throw invalidField('last4', 'four digits');
  if (input.customerId !== '') await requireCustomer(deps, tenantId, input.customerId);
}

/** Creates a payment method from input `checkNewPaymentMethod` accepted (the RPC layer runs this once per idempotency key). */
export async function createPaymentMethod(deps: PaymentsDeps, tenantId: string, input: NewPaymentMethod): Promise<PaymentMethod> {
  const method: PaymentMethod = {
    id: newId('pm'), tenantId, customerId: input.customerId, pspTokens: { ...input.pspTokens } as Partial<Record<PspName, string>>,
    brand: input.brand, country: input.country, last4: input.last4, createdAtMs: deps.clock.nowMs(),
  };
  await deps.store.createPaymentMethod(method);
  return method;
}

/** A payment method, through the instance cache (immutable once created; misses are not cached). */
export async function paymentMethodOf(deps: PaymentsDeps, tenantId: string, paymentMethodId: string): Promise<PaymentMethod | undefined> {
  const cache = deps.caches?.paymentMethods;
  if (!cache) return deps.store.getPaymentMethod(tenantId, paymentMethodId);
  const key = `${tenantId}/${paymentMethodId}`;
  const method = await cache.get(key, () => deps.store.getPaymentMethod(tenantId, paymentMethodId));
  if (!method) cache.delete(key); // it may be created a moment later
  return method;
}

/** As at Stripe: a payment method saved for one customer is never charged for another. */
export function requireSameCustomer(method: PaymentMethod, customerId: string | null): void {
  if (method.customerId && customerId !== null && method.customerId !== customerId) {
    throw invalidField('payment_method_id', `belongs to customer ${method.customerId}, not ${customerId}`);
  }
}

export async function requirePaymentMethod(deps: PaymentsDeps, tenantId: string, paymentMethodId: string): Promise<PaymentMethod> {
  const method = await paymentMethodOf(deps, tenantId, paymentMethodId);
  if (!method) throw new TallyError('NOT_FOUND', `payment method ${paymentMethodId} not found`, { field: 'payment_method_id' });
  return method;
}
