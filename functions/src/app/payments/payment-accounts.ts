/** The tenant's payment ledger accounts (one set per currency), created on first use. */
import { createAccount as createAccountDomain } from '../../domain/ledger/index.js';
import { paymentAccounts, type PaymentAccountCode } from '../../domain/payments/index.js';
import { paymentAccountIdOf } from '../../domain/payments/ledger-postings.js';
import type { PaymentsDeps } from './payments-deps.js';

/** Deterministic ledger account id of a payment account code in a currency. */
export function paymentAccountId(code: PaymentAccountCode, currency: string): string {
  // One definition, shared with the ledger's reserved namespace (paymentsLedgerNamespace).
  return paymentAccountIdOf(code, currency);
}

/**
 * Creates the tenant's payment ledger accounts for a currency (idempotent: fixed ids and codes);
 * an instance remembers the pairs it has ensured (bounded cache), so this is once per instance.
 */
export async function ensurePaymentAccounts(deps: PaymentsDeps, tenantId: string, currency: string): Promise<void> {
  const ensure = () => createPaymentAccounts(deps, tenantId, currency).then(() => true as const);
  await (deps.caches ? deps.caches.accountsEnsured.get(`${tenantId}:${currency}`, ensure) : ensure());
}

async function createPaymentAccounts(deps: PaymentsDeps, tenantId: string, currency: string): Promise<void> {
  for (const { code, type } of paymentAccounts) {
    const account = createAccountDomain(
      // The merchant payable is credited by every capture: a hot account, so sharded.
      { code: `${code}:${currency}`, name: `${code} ${currency}`, currency, type, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, shardCount: code === 'merchant_payable' ? 16 : 4 },
      { id: paymentAccountId(code, currency), tenantId, createdAtMs: deps.clock.nowMs() },
    );
    await deps.ledger.store.createAccount(account);
  }
}
