/**
 * One Firestore transaction is bounded in all (issue 11 item 12): the client's own ABORTED retries
 * and the outer retries of the emulator's closed-transaction error share one budget
 * (TALLY_FIRESTORE_TX_ATTEMPTS_MAX); past it the caller gets ABORTED/CONTENTION, never more
 * attempts (up to 30 before) and never INTERNAL.
 */
import { describe, expect, it } from 'vitest';
import { TallyError } from '../functions/src/domain/errors.js';
import { createFirestore } from '../functions/src/adapters/firestore/firestore-client.js';
import { runTransactionWithRetry } from '../functions/src/adapters/firestore/run-transaction.js';
import { parseConfig } from '../functions/src/platform/config/config.js';

const db = createFirestore('demo-tally-run-tx');

async function attemptsUntilRefused(error: () => Error, attemptsMax: number): Promise<{ attempts: number; refusal: unknown }> {
  let attempts = 0;
  const refusal = await runTransactionWithRetry(db, async (tx) => {
    attempts += 1;
    await tx.get(db.collection('runTx').doc('probe'));
    throw error();
  }, 'busy; retry', { attemptsMax }).then(() => undefined, (e: unknown) => e);
  return { attempts, refusal };
}

function grpcError(code: number, message: string): Error {
  return Object.assign(new Error(`${code} ${message}`), { code, details: message });
}

describe('runTransactionWithRetry', () => {
  it('stops ABORTED retries at attemptsMax in all and answers CONTENTION', async () => {
    const { attempts, refusal } = await attemptsUntilRefused(() => grpcError(10, 'Transaction lock timeout.'), 3);
    expect(attempts).toBe(3);
    expect(refusal).toBeInstanceOf(TallyError);
    expect(refusal).toMatchObject({ reason: 'CONTENTION', metadata: { attemptsMax: '3' } });
  });

  it("counts the emulator's closed-transaction retries against the same budget", async () => {
    const { attempts, refusal } = await attemptsUntilRefused(() => grpcError(3, 'Transaction is invalid or closed.'), 2);
    expect(attempts).toBe(2);
    expect(refusal).toMatchObject({ reason: 'CONTENTION' });
  });

  it('the bound is configuration: default 5, refused outside 1..10', () => {
    expect(parseConfig({ GCLOUD_PROJECT: 'demo-x' }).firestoreTxAttemptsMax).toBe(5);
    expect(parseConfig({ GCLOUD_PROJECT: 'demo-x', TALLY_FIRESTORE_TX_ATTEMPTS_MAX: '10' }).firestoreTxAttemptsMax).toBe(10);
    expect(() => parseConfig({ GCLOUD_PROJECT: 'demo-x', TALLY_FIRESTORE_TX_ATTEMPTS_MAX: '11' })).toThrow(/TALLY_FIRESTORE_TX_ATTEMPTS_MAX/);
    expect(() => parseConfig({ GCLOUD_PROJECT: 'demo-x', TALLY_FIRESTORE_TX_ATTEMPTS_MAX: '0' })).toThrow(/TALLY_FIRESTORE_TX_ATTEMPTS_MAX/);
  });
});
