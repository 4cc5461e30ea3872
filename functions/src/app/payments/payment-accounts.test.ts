import { describe, expect, it } from 'vitest';
import { paymentAccounts } from '../../domain/payments/index.js';
import type { Account } from '../../domain/ledger/account.js';
import { ensurePaymentAccounts } from './payment-accounts.js';
import type { PaymentsDeps } from './payments-deps.js';

/** Deps with a ledger store that records each account creation and answers when released. */
function depsCountingCreations() {
  const created: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  let failNext = false;
  const store = {
    async createAccount(account: Account) {
      created.push(`${account.tenantId}/${account.id}`);
      await released;
      if (failNext) { failNext = false; throw new Error('Transaction lock timeout'); }
      return { created: true, account };
    },
  };
  const deps = { ledger: { store }, clock: { nowMs: () => 0 } } as unknown as PaymentsDeps;
  return { deps, created, release, failOnce: () => { failNext = true; } };
}

describe('ensurePaymentAccounts (issue 11 item 11)', () => {
  it('a burst of first payments of one tenant and currency creates its accounts once (single-flight), not once per payment', async () => {
    const { deps, created, release } = depsCountingCreations();
    const burst = Array.from({ length: 50 }, () => ensurePaymentAccounts(deps, 'ten_a', 'EUR'));
    release();
    await Promise.all(burst);
    expect(created).toHaveLength(paymentAccounts.length);
  });

  it('other tenants and currencies are not held up by it, and a failed creation is tried again by the next payment', async () => {
    const { deps, created, release, failOnce } = depsCountingCreations();
    failOnce();
    const first = [ensurePaymentAccounts(deps, 'ten_a', 'EUR'), ensurePaymentAccounts(deps, 'ten_a', 'EUR')];
    const others = [ensurePaymentAccounts(deps, 'ten_b', 'EUR'), ensurePaymentAccounts(deps, 'ten_a', 'GBP')];
    release();
    // Both waiters of the failed creation see its failure; nothing remembers it.
    await expect(Promise.all(first)).rejects.toThrow('Transaction lock timeout');
    await Promise.all(others);
    await ensurePaymentAccounts(deps, 'ten_a', 'EUR');
    // ten_a/EUR: the first account of the failed creation, then all of them.
    expect(created.filter((id) => id.startsWith('ten_a/') && id.endsWith('_EUR'))).toHaveLength(1 + paymentAccounts.length);
    expect(created.filter((id) => id.startsWith('ten_b/'))).toHaveLength(paymentAccounts.length);
  });
});
