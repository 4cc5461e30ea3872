/** Shorthands for ledger tests against the real API. */
import { randomUUID } from 'node:crypto';
import { AccountType, Direction } from '../../functions/src/gen/tally/ledger/v1/ledger_pb.js';
import type { TallyClient } from '../../functions/src/cli/client.js';

export { AccountType, Direction };

export async function openAccount(client: TallyClient, options: {
  code?: string; currency?: string; type?: AccountType; shardCount?: number; debitsLimited?: boolean; creditsLimited?: boolean;
} = {}): Promise<string> {
  const res = await client.ledger.createAccount({
    code: options.code ?? `acc-${randomUUID().slice(0, 8)}`,
    name: options.code ?? 'test account',
    currency: options.currency ?? 'USD',
    type: options.type ?? AccountType.ASSET,
    shardCount: options.shardCount ?? 1,
    debitsMustNotExceedCredits: options.debitsLimited ?? false,
    creditsMustNotExceedDebits: options.creditsLimited ?? false,
    idempotencyKey: randomUUID(),
  });
  return res.account!.id;
}

/** A balanced two-posting entry: debit `from`... credit `to`. */
export function transfer(debitAccountId: string, creditAccountId: string, amountMinor: bigint, options: { id?: string; currency?: string; pendingTimeoutMs?: bigint; description?: string } = {}) {
  const currency = options.currency ?? 'USD';
  return {
    entryId: options.id ?? `je_${randomUUID().replaceAll('-', '')}`,
    postings: [
      { accountId: debitAccountId, direction: Direction.DEBIT, amountMinor, currency },
      { accountId: creditAccountId, direction: Direction.CREDIT, amountMinor, currency },
    ],
    description: options.description ?? 'test transfer',
    metadata: {},
    reversesEntryId: '',
    pendingTimeoutMs: options.pendingTimeoutMs ?? 0n,
  };
}

/** Kept here for the tests that import it from the ledger helpers; one implementation. */
export { rpcError } from './connect-error.js';
