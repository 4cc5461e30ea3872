/**
 * The one page-token codec of every list RPC: an opaque base64url JSON array of the last item's
 * sort keys. A token is input like any other: decoding checks its shape and that every id in it
 * can name a document, so a forged or truncated token answers INVALID_ARGUMENT/FIELD_INVALID
 * naming `page_token`, never INTERNAL from a Firestore path.
 */
import { invalidField } from '../../domain/errors.js';

/** What each position of a token holds: a safe integer, a document id, or any string (a sort value). */
export type PageTokenPart = 'int' | 'id' | 'string';

/** Longest token accepted (ours are well under: two keys of an id's length). */
export const pageTokenCharsMax = 2_048;

/** Whether `id` can be a Firestore document id: 1..1500 bytes, no `/`, not `.`/`..`, not `__x__`. */
export function isDocumentIdSafe(id: string): boolean {
  return id.length > 0 && Buffer.byteLength(id) <= 1_500 && !id.includes('/') && id !== '.' && id !== '..' && !/^__.*__$/.test(id);
}

export function encodePageToken(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodePageToken(token: string, shape: readonly PageTokenPart[]): (string | number)[] {
  const invalid = () => invalidField('page_token', 'not a token returned by this API');
  if (token.length > pageTokenCharsMax || !/^[A-Za-z0-9_-]*$/.test(token)) throw invalid();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parts) || parts.length !== shape.length) throw invalid();
  shape.forEach((kind, i) => {
    const part: unknown = parts[i];
    const ok = kind === 'int' ? Number.isSafeInteger(part)
      : kind === 'id' ? typeof part === 'string' && isDocumentIdSafe(part)
        : typeof part === 'string' && part.length <= pageTokenCharsMax;
    if (!ok) throw invalid();
  });
  return parts as (string | number)[];
}
