import type { Firestore, Transaction } from '@google-cloud/firestore';
import { TallyError } from '../../domain/errors.js';
import { isAlreadyExists, isContention } from '../../platform/errors/storage-errors.js';
import { retryWithJitter } from '../../platform/resilience/retry.js';
import { beginAttempt } from './tx-reader.js';

export { isAlreadyExists, isContention };

/** Attempts of one transaction in all (TALLY_FIRESTORE_TX_ATTEMPTS_MAX): the documented default and bound. */
export const transactionAttemptsMaxDefault = 5;
export const transactionAttemptsMaxBound = 10;

export interface TransactionOptions {
  /** Attempts of `work` in all, the client's own ABORTED retries included (1..10). */
  attemptsMax: number;
}

/**
 * Runs a read-write transaction. The client retries ABORTED itself (maxAttempts). Under contention
 * the emulator also lets a lock-timed-out transaction die with INVALID_ARGUMENT "Transaction is
 * invalid or closed" (firebase-tools#4473); it did not commit, so it is retried too, with full
 * jitter. `work` must be safe to rerun: it re-reads everything it decides on. The attempts of both
 * loops together are bounded by `attemptsMax` (each rerun of `work` counts once); exhausted
 * retries surface as ABORTED/CONTENTION (the caller retries with the same idempotency key).
 */
export async function runTransactionWithRetry<T>(
  db: Firestore, work: (tx: Transaction) => Promise<T>, busyMessage: string,
  options: TransactionOptions = { attemptsMax: transactionAttemptsMaxDefault },
): Promise<T> {
  const attemptsMax = options.attemptsMax;
  if (!Number.isInteger(attemptsMax) || attemptsMax < 1 || attemptsMax > transactionAttemptsMaxBound) {
    throw new Error(`assertion failed: transaction attemptsMax ${attemptsMax} outside 1..${transactionAttemptsMaxBound}`);
  }
  let attemptsUsed = 0;
  try {
    // Each attempt reads afresh (the client reruns `work` with the same Transaction object).
    const attempt = (tx: Transaction) => {
      attemptsUsed += 1;
      // The client's own retries share the budget: stop them at the bound with a contention error.
      if (attemptsUsed > attemptsMax) throw new TallyError('CONTENTION', busyMessage, { attemptsMax: String(attemptsMax) });
      beginAttempt(tx);
      return work(tx);
    };
    return await retryWithJitter(() => db.runTransaction(attempt, { maxAttempts: Math.max(1, attemptsMax - attemptsUsed) }), {
      attemptsMax, baseDelayMs: 20, delayMsMax: 1_000, retryable: (error) => isContention(error) && attemptsUsed < attemptsMax,
    });
  } catch (error) {
    if (isContention(error)) throw new TallyError('CONTENTION', busyMessage, { attemptsMax: String(attemptsMax) }, { cause: error });
    throw error;
  }
}
