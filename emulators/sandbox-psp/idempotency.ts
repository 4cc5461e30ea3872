/**
 * The PSPs' idempotency: the first response to a key is saved and replayed for the same request;
 * the same key with different parameters is refused; a key whose first request is still running is
 * refused too (the client must not treat that as "nothing happened"). As at Stripe, a response is
 * saved only once the endpoint started executing, so a 5xx *before* processing is not saved and a
 * retry with the same key runs for real, while a 5xx *after* processing is saved and replayed.
 */

/** An HTTP response as the sandbox saves it for replay. */
export interface StoredResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: string;
}

export type IdempotencyBegin =
  | { kind: 'new' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'in_progress' };

interface Entry {
  fingerprint: string;
  response: StoredResponse | null;
}

export class IdempotencyCache {
  // Insertion-ordered: the oldest key is evicted first, standing in for the PSPs' key expiry.
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly entriesMax: number) {}

  /** Starts a request under `scopedKey` (PSP + credentials + key); `fingerprint` identifies its parameters. */
  begin(scopedKey: string, fingerprint: string): IdempotencyBegin {
    const entry = this.entries.get(scopedKey);
    if (entry === undefined) {
      this.entries.set(scopedKey, { fingerprint, response: null });
      this.evict();
      return { kind: 'new' };
    }
    if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
    if (entry.response === null) return { kind: 'in_progress' };
    return { kind: 'replay', response: entry.response };
  }

  /** Saves the response of a request that started executing. */
  complete(scopedKey: string, response: StoredResponse): void {
    const entry = this.entries.get(scopedKey);
    if (entry !== undefined) entry.response = response;
  }

  /** Forgets a request that never started executing, so a retry with the key runs for real. */
  abandon(scopedKey: string): void {
    const entry = this.entries.get(scopedKey);
    if (entry !== undefined && entry.response === null) this.entries.delete(scopedKey);
  }

  clear(): void {
    this.entries.clear();
  }

  private evict(): void {
    while (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) return;
      this.entries.delete(oldest.value);
    }
  }
}
