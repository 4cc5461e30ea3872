/**
 * What a failure of the database client (Firestore, gRPC status codes) means for the caller, by
 * shape only (no SDK import): the one error mapping and the transaction runner both ask here, so
 * that contention is recognised the same way wherever it surfaces.
 */

interface GrpcLike { code?: unknown; details?: unknown; message?: unknown }

function textOf(error: unknown): string {
  const e = (error ?? {}) as GrpcLike;
  return `${typeof e.details === 'string' ? e.details : ''} ${typeof e.message === 'string' ? e.message : ''}`;
}

/**
 * Contention: gRPC ABORTED (10) - production Firestore's "Too much contention", and the
 * emulator's "Transaction lock timeout." (its CONCURRENT_TRANSACTION) - or the emulator's
 * lock-timed-out transaction that dies with INVALID_ARGUMENT (3) "Transaction is invalid or closed"
 * (firebase-tools#4473). None of them committed anything: retrying with the same key is safe.
 */
export function isContention(error: unknown): boolean {
  const code = (error as GrpcLike | undefined)?.code;
  if (code === 10) return true;
  const text = textOf(error);
  if (code === 3 && /Transaction is invalid or closed|transaction timeout/i.test(text)) return true;
  // The lock timeout has been seen with other codes than ABORTED on some emulator versions.
  return typeof code === 'number' && /Transaction lock timeout|too much contention/i.test(text);
}

/** gRPC ALREADY_EXISTS (6): a `create` found its document, and nothing of its commit was written. */
export function isAlreadyExists(error: unknown): boolean {
  return (error as GrpcLike | undefined)?.code === 6;
}

/**
 * A value that cannot name a document: the Firestore SDK's own path validation ("not a valid
 * resource path", "must point to a document", "Path must not contain //") or the server's
 * INVALID_ARGUMENT for a resource id like `..` or `__x__`. Ids are validated at the edge; this is
 * the backstop so that one missed field answers INVALID_ARGUMENT, not INTERNAL.
 */
export function isInvalidDocumentPath(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const text = textOf(error);
  return /Value for argument "(documentPath|collectionPath)"|is not a valid resource path|must point to a (document|collection)|contains a resource id|Resource id "[^"]*" is invalid|Path must not contain/.test(text);
}
