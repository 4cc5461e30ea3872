import type { Firestore, Transaction } from '@google-cloud/firestore';
import { TallyError } from '../../domain/errors.js';
import { retryWithJitter } from '../../platform/resilience/retry.js';
import { beginAttempt } from './tx-reader.js';

/** gRPC ALREADY_EXISTS (6): a `create` found its document, and nothing of its commit was written. */
export function isAlreadyExists(error: unknown): boolean {
  return (error as { code?: number }).code === 6;
}

/** gRPC ABORTED (10), or the emulator's closed-transaction INVALID_ARGUMENT (3). */
export function isContention(error: unknown): boolean {
  const e = error as { code?: number; details?: string; message?: string };
  return e.code === 10 || (e.code === 3 && /Transaction is invalid or closed|transaction timeout/i.test(`${e.details ?? ''} ${e.message ?? ''}`));
}

/**
 * Runs a read-write transaction. The client retries ABORTED itself (maxAttempts). Under contention
 * the emulator also lets a lock-timed-out transaction die with INVALID_ARGUMENT "Transaction is
 * invalid or closed" (firebase-tools#4473); it did not commit, so it is retried too, bounded, with
 * full jitter. `work` must be safe to rerun: it re-reads everything it decides on. Exhausted
 * retries surface as ABORTED/CONTENTION (the caller retries with the same idempotency key).
 */
export async function runTransactionWithRetry<T>(db: Firestore, work: (tx: Transaction) => Promise<T>, busyMessage: string): Promise<T> {
  try {
    // Each attempt reads afresh (the client reruns `work` with the same Transaction object).
    const attempt = (tx: Transaction) => { beginAttempt(tx); return work(tx); };
    return await retryWithJitter(() => db.runTransaction(attempt, { maxAttempts: 5 }), {
      attemptsMax: 6, baseDelayMs: 20, delayMsMax: 1_000, retryable: isContention,
    });
  } catch (error) {
    if (isContention(error)) throw new TallyError('CONTENTION', busyMessage, {}, { cause: error });
    throw error;
  }
}
