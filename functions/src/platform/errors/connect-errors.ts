/**
 * The one place where failures become ConnectRPC errors. Every RPC error carries an ErrorInfo
 * detail `{reason, domain: "tally", metadata}`; causes of INTERNAL errors are logged, never sent.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { TallyError, type ErrorReason } from '../../domain/errors.js';
import { isContention, isInvalidDocumentPath } from './storage-errors.js';

/** reason -> ConnectRPC code. Exhaustive by type: adding a reason without a code fails to compile. */
export const codeByReason: Readonly<Record<ErrorReason, Code>> = {
  FIELD_REQUIRED: Code.InvalidArgument,
  FIELD_INVALID: Code.InvalidArgument,
  UNKNOWN_CURRENCY: Code.InvalidArgument,
  AMOUNT_PRECISION_EXCEEDED: Code.InvalidArgument,
  AMOUNT_OUT_OF_RANGE: Code.InvalidArgument,
  CURRENCY_MISMATCH: Code.InvalidArgument,
  BODY_TOO_LARGE: Code.InvalidArgument,
  UNSUPPORTED_CONTENT_TYPE: Code.InvalidArgument,
  ENTRY_UNBALANCED: Code.InvalidArgument,
  MALFORMED_REQUEST: Code.InvalidArgument,
  HEADERS_TOO_LARGE: Code.InvalidArgument,
  REPORT_MALFORMED: Code.InvalidArgument,
  UNSUPPORTED_PROTOCOL: Code.Unimplemented,
  RESERVED_NAMESPACE: Code.InvalidArgument,
  CREDENTIALS_MISSING: Code.Unauthenticated,
  CREDENTIALS_INVALID: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  IDEMPOTENCY_KEY_REUSED: Code.FailedPrecondition,
  INVALID_STATE_TRANSITION: Code.FailedPrecondition,
  ACCOUNT_CLOSED: Code.FailedPrecondition,
  LIMIT_EXCEEDED: Code.FailedPrecondition,
  ENTRY_ID_REUSED: Code.FailedPrecondition,
  BALANCE_OVERFLOW: Code.FailedPrecondition,
  IDEMPOTENCY_KEY_IN_PROGRESS: Code.Aborted,
  CONTENTION: Code.Aborted,
  CARD_DECLINED: Code.FailedPrecondition,
  INSUFFICIENT_FUNDS: Code.FailedPrecondition,
  PSP_UNAVAILABLE: Code.Unavailable,
  TAX_UNAVAILABLE: Code.Unavailable,
  ANALYTICS_UNAVAILABLE: Code.Unavailable,
  CHECKOUT_SESSION_EXPIRED: Code.FailedPrecondition,
  INTERNAL: Code.Internal,
};

export function errorInfoDetail(reason: ErrorReason, metadata: Readonly<Record<string, string>>) {
  return { desc: ErrorInfoSchema, value: { reason, domain: 'tally', metadata: { ...metadata } } };
}

/**
 * Connect's own refusals, raised before any interceptor runs and so without an ErrorInfo: decode
 * errors (binary protobuf is reported as INTERNAL "parse binary: ..."), broken envelopes, bodies
 * that do not inflate, unknown compressions, size limits. They are bad input or an unsupported
 * protocol feature, never INTERNAL. `undefined`: not one of Connect's refusals.
 */
function foreignConnectError(error: ConnectError): TallyError | undefined {
  const text = error.rawMessage;
  if (error.code === Code.ResourceExhausted && /message size|exceeds|larger than/i.test(text)) {
    return new TallyError('BODY_TOO_LARGE', `request body too large: ${text}`, { field: 'content-length' });
  }
  if (/^parse binary|premature EOF|invalid wire type|illegal tag|cant skip wire type|invalid (UTF-?8|varint)|^protocol error|decompress|incorrect header check|unexpected end of file|invalid (block|stored block|distance)/i.test(text)
    && (error.code === Code.Internal || error.code === Code.InvalidArgument || error.code === Code.Unimplemented || error.code === Code.Unknown)) {
    return new TallyError('MALFORMED_REQUEST', `malformed request: ${text}`, {});
  }
  if (error.code === Code.InvalidArgument) {
    // JSON that is not JSON at all is malformed; JSON with a bad field names the field.
    const syntax = /from JSON: (Unexpected|Expected|Bad control|Unterminated|Bad escaped|No number after|Exponent part)|is not valid JSON|JSON at position/.test(text);
    return new TallyError(syntax ? 'MALFORMED_REQUEST' : 'FIELD_INVALID', text, syntax ? {} : fieldFromDecodeMessage(text));
  }
  if (error.code === Code.Unimplemented) {
    const field: Record<string, string> = /compression|encoding/i.test(text) ? { field: 'content-encoding' } : {};
    return new TallyError('UNSUPPORTED_PROTOCOL', text, field);
  }
  if (error.code === Code.Unauthenticated) return new TallyError('CREDENTIALS_INVALID', text);
  if (error.code === Code.PermissionDenied) return new TallyError('PERMISSION_DENIED', text);
  if (error.code === Code.NotFound) return new TallyError('NOT_FOUND', text);
  if (error.code === Code.Aborted) return new TallyError('CONTENTION', text);
  return undefined;
}

/**
 * Connect's JSON decode errors name the field in the message text only ("key \"rol\" is unknown",
 * "cannot decode field pkg.Msg.role ..."); lift it into metadata where the text has it. An unknown
 * enum name is reported by protobuf-es without its field: then the message names the enum type.
 */
export function fieldFromDecodeMessage(message: string): Record<string, string> {
  const unknownKey = /key "([^"]+)" is unknown/.exec(message);
  if (unknownKey) return { field: unknownKey[1]! };
  const field = /cannot decode field [\w.]+\.(\w+) from JSON/.exec(message);
  if (field) return { field: field[1]! };
  return {};
}

/** The ConnectError for a TallyError: its code, and its message unless the reason is INTERNAL. */
export function connectErrorOf(error: TallyError): ConnectError {
  const code = codeByReason[error.reason];
  const message = code === Code.Internal ? 'internal error' : error.message;
  return new ConnectError(message, code, undefined, [errorInfoDetail(error.reason, error.metadata)]);
}

/**
 * Turns anything thrown into a ConnectError with an ErrorInfo detail. `onInternal` receives the
 * original cause of INTERNAL errors (for the log); the caller sees only a generic message.
 * Contention of the database (ABORTED, the emulator's lock timeout) is ABORTED/CONTENTION wherever
 * it surfaces, and a value that cannot name a document is INVALID_ARGUMENT/FIELD_INVALID: bad
 * input and contention are never INTERNAL.
 */
export function toConnectError(error: unknown, onInternal: (cause: unknown) => void): ConnectError {
  if (error instanceof TallyError) {
    if (codeByReason[error.reason] === Code.Internal) onInternal(error);
    return connectErrorOf(error);
  }
  if (error instanceof ConnectError) {
    if (error.findDetails(ErrorInfoSchema).length > 0) return error;
    const typed = foreignConnectError(error);
    if (typed) {
      const mapped = connectErrorOf(typed);
      error.metadata.forEach((value, key) => mapped.metadata.set(key, value));
      return mapped;
    }
    onInternal(error);
    return connectErrorOf(new TallyError('INTERNAL', 'internal error'));
  }
  if (isContention(error)) {
    return connectErrorOf(new TallyError('CONTENTION', 'too much contention on these resources; retry with the same idempotency key'));
  }
  if (isInvalidDocumentPath(error)) {
    return connectErrorOf(new TallyError('FIELD_INVALID', 'an id in the request is not a valid id', {}));
  }
  onInternal(error);
  return connectErrorOf(new TallyError('INTERNAL', 'internal error'));
}
