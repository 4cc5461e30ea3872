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
 * Creating a tenant's accounts for a currency, in flight in this instance, by ledger store (one per
 * composed instance) and `tenant:currency`. Entries leave when their creation settles, so the map
 * holds at most the pairs whose first payments are in flight right now.
 */
const ensuresInFlight = new WeakMap<object, Map<string, Promise<true>>>();

/**
 * Creates the tenant's payment ledger accounts for a currency (idempotent: fixed ids and codes);
 * an instance remembers the pairs it has ensured (bounded cache), so this is once per instance.
 * Single-flight: a burst of first payments of a cold tenant waits for one creation instead of each
 * creating the same accounts in its own transactions (200 at once answered "Transaction lock
 * timeout" for 199 of them, issue 11 item 11). A failed creation is not remembered: the next
 * payment tries again.
 */
export async function ensurePaymentAccounts(deps: PaymentsDeps, tenantId: string, currency: string): Promise<void> {
  const pairKey = `${tenantId}:${currency}`;
  const ensure = () => singleFlight(deps, pairKey, () => createPaymentAccounts(deps, tenantId, currency).then(() => true as const));
  await (deps.caches ? deps.caches.accountsEnsured.get(pairKey, ensure) : ensure());
}

function singleFlight(deps: PaymentsDeps, pairKey: string, create: () => Promise<true>): Promise<true> {
  let inFlight = ensuresInFlight.get(deps.ledger.store);
  if (!inFlight) ensuresInFlight.set(deps.ledger.store, (inFlight = new Map()));
  const running = inFlight.get(pairKey);
  if (running) return running;
  const started = create().finally(() => inFlight.delete(pairKey));
  inFlight.set(pairKey, started);
  return started;
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
