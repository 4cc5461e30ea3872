/** Customers: created by the tenant, named by payments and payment methods. */
import { TallyError, invalidField } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { Customer } from '../../ports/payments-store.js';
import type { PaymentsDeps } from './payments-deps.js';

/** What the caller says about a new customer. */
export interface NewCustomer { email: string; name: string }

/** Refuses a new customer's bad fields; called before its idempotency key is read, so bad input writes nothing. */
export function checkNewCustomer(input: NewCustomer): void {
  if (input.email.length > 320 || input.name.length > 200) throw invalidField(input.email.length > 320 ? 'email' : 'name', 'too long');
}

/** Creates a customer (the RPC layer runs this once per idempotency key). */
export async function createCustomer(deps: PaymentsDeps, tenantId: string, input: NewCustomer): Promise<Customer> {
  checkNewCustomer(input);
  const customer = { id: newId('cus'), tenantId, email: input.email, name: input.name, createdAtMs: deps.clock.nowMs() };
  await deps.store.createCustomer(customer);
  return customer;
}

/** One customer of the tenant; NOT_FOUND (naming `customer_id`) when the tenant has none by that id. */
export async function getCustomer(deps: PaymentsDeps, tenantId: string, customerId: string): Promise<Customer> {
  const customer = await deps.store.getCustomer(tenantId, customerId);
  if (!customer) throw new TallyError('NOT_FOUND', `customer ${customerId} not found`, { field: 'customer_id' });
  return customer;
}

export async function requireCustomer(deps: PaymentsDeps, tenantId: string, customerId: string): Promise<void> {
  if (!(await deps.store.getCustomer(tenantId, customerId))) throw new TallyError('NOT_FOUND', `customer ${customerId} not found`, { field: 'customer_id' });
}
