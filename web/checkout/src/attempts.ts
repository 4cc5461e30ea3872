/**
 * One idempotency key per payment attempt, kept in sessionStorage with the card tokens it was made
 * with, from before the call until its outcome is known. A double click, a retry after a lost
 * answer and a reload all send the SAME key with the SAME card (the card fields mint new tokens on
 * every tokenization, so re-tokenizing would be a different request), and Tally answers them with
 * the first attempt's result: one charge. A decline, a challenge or a completion ends the attempt;
 * the next one gets a new key.
 */
import { newIdempotencyKey } from '@shared/callable';
import type { TokenizedCard } from './card-fields';

export interface PendingAttempt {
  idempotencyKey: string;
  card: TokenizedCard;
  /** The email the buyer typed ('' when the session has the merchant's): part of the same request. */
  customerEmail: string;
  startedAtMs: number;
}

/** Tally keeps idempotency keys at least 24 h; an older pending attempt is not worth replaying. */
const ATTEMPT_AGE_MS_MAX = 23 * 60 * 60 * 1000;
const PREFIX = 'tally.checkout.attempt:';

/** sessionStorage, or null where the browser refuses it (privacy modes): attempts then live in memory only. */
function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

const memory = new Map<string, string>();

function read(name: string): string | null {
  const store = storage();
  try {
    return store === null ? (memory.get(name) ?? null) : store.getItem(name);
  } catch {
    return memory.get(name) ?? null;
  }
}

function write(name: string, value: string | null): void {
  const store = storage();
  if (value === null) memory.delete(name);
  else memory.set(name, value);
  try {
    if (value === null) store?.removeItem(name);
    else store?.setItem(name, value);
  } catch {
    // quota or privacy mode: the in-memory copy still covers double clicks and retries
  }
}

/** The attempt of this session still waiting for its outcome, if any. */
export function pendingAttempt(clientSecret: string): PendingAttempt | null {
  const text = read(PREFIX + clientSecret);
  if (text === null) return null;
  try {
    const attempt = JSON.parse(text) as PendingAttempt;
    if (typeof attempt.idempotencyKey !== 'string' || typeof attempt.card !== 'object' || typeof attempt.customerEmail !== 'string' || Date.now() - attempt.startedAtMs > ATTEMPT_AGE_MS_MAX) {
      write(PREFIX + clientSecret, null);
      return null;
    }
    return attempt;
  } catch {
    write(PREFIX + clientSecret, null);
    return null;
  }
}

/** Starts an attempt with `card`: a new key, saved before the call is made. */
export function startAttempt(clientSecret: string, card: TokenizedCard, customerEmail: string): PendingAttempt {
  const attempt: PendingAttempt = { idempotencyKey: newIdempotencyKey(), card, customerEmail, startedAtMs: Date.now() };
  write(PREFIX + clientSecret, JSON.stringify(attempt));
  return attempt;
}

/** The attempt's outcome is known (paid, declined, challenged, refused): the next attempt is a new one. */
export function endAttempt(clientSecret: string): void {
  write(PREFIX + clientSecret, null);
}
