/**
 * Calls a Tally RPC through its Firebase HTTPS callable, typed by the generated protobuf descriptors
 * (the same ones the backend serves), so the apps never re-declare a request or response shape.
 *
 * Wire: `POST <origin>/callables/<proto service>/<Method>` via the Firebase JS SDK's
 * `httpsCallableFromURL`; `data` is the request in proto JSON, the result the response in proto JSON.
 * When the console is signed in, the SDK attaches the Firebase ID token itself.
 */
import { create, fromJson, toJson, type DescMessage, type DescMethodUnary, type JsonValue, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { httpsCallableFromURL } from 'firebase/functions';
import { firebaseHandles } from './firebase';

/** Default bound on one call, including the SDK's own retries (it has none for callables). */
export const CALL_TIMEOUT_MS = 30_000;

/**
 * A refused call, with the one error contract's fields: `code` is the callable code
 * (`invalid-argument`, `permission-denied`, `unauthenticated`, ...), `reason` the Tally ErrorInfo reason
 * (`FIELD_INVALID`, `PAYMENT_NOT_FOUND`, ...), `metadata` its details (e.g. `field`).
 */
export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly reason: string,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

interface CallableErrorLike {
  code?: unknown;
  message?: unknown;
  details?: unknown;
}

function toCallError(error: unknown): CallError {
  const e = (error ?? {}) as CallableErrorLike;
  const code = typeof e.code === 'string' ? e.code.replace(/^functions\//, '') : 'unknown';
  const message = typeof e.message === 'string' ? e.message : 'the request failed';
  const details = (e.details ?? {}) as { reason?: unknown; metadata?: unknown };
  const reason = typeof details.reason === 'string' ? details.reason : '';
  const metadata = details.metadata !== null && typeof details.metadata === 'object' ? (details.metadata as Record<string, string>) : {};
  return new CallError(code, message, reason, metadata);
}

export interface CallOptions {
  timeoutMs?: number;
}

export async function callRpc<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  const { functions, callablesBaseUrl } = await firebaseHandles();
  const url = `${callablesBaseUrl}/${method.parent.typeName}/${method.name}`;
  const callable = httpsCallableFromURL<JsonValue, JsonValue>(functions, url, { timeout: options.timeoutMs ?? CALL_TIMEOUT_MS });
  let data: JsonValue;
  try {
    data = (await callable(toJson(method.input, create(method.input, request)))).data;
  } catch (error) {
    throw toCallError(error);
  }
  return fromJson(method.output, data, { ignoreUnknownFields: true });
}

/** The request in proto JSON: a stable, bigint-free value for cache keys. */
export function requestKey<I extends DescMessage>(method: DescMethodUnary<I, DescMessage>, request: MessageInitShape<I>): JsonValue {
  return toJson(method.input, create(method.input, request));
}

/** One key per user action: a retried or double-clicked action is the same request to Tally. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
