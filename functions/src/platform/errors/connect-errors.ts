/**
 * The one place where failures become ConnectRPC errors. Every RPC error carries an ErrorInfo
 * detail `{reason, domain: "tally", metadata}`; causes of INTERNAL errors are logged, never sent.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { TallyError, type ErrorReason } from '../../domain/errors.js';

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
  IDEMPOTENCY_KEY_IN_PROGRESS: Code.Aborted,
  CONTENTION: Code.Aborted,
  CARD_DECLINED: Code.FailedPrecondition,
  INSUFFICIENT_FUNDS: Code.FailedPrecondition,
  PSP_UNAVAILABLE: Code.Unavailable,
  INTERNAL: Code.Internal,
};

export function errorInfoDetail(reason: ErrorReason, metadata: Readonly<Record<string, string>>) {
  return { desc: ErrorInfoSchema, value: { reason, domain: 'tally', metadata: { ...metadata } } };
}

/** Connect's own decode/validation errors (e.g. an unknown enum name in JSON) are bad input too. */
function reasonForForeignConnectError(error: ConnectError): ErrorReason {
  if (error.code === Code.InvalidArgument) return 'FIELD_INVALID';
  if (error.code === Code.Unauthenticated) return 'CREDENTIALS_INVALID';
  if (error.code === Code.PermissionDenied) return 'PERMISSION_DENIED';
  if (error.code === Code.NotFound) return 'NOT_FOUND';
  if (error.code === Code.Aborted) return 'CONTENTION';
  return 'INTERNAL';
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

/**
 * Turns anything thrown into a ConnectError with an ErrorInfo detail. `onInternal` receives the
 * original cause of INTERNAL errors (for the log); the caller sees only a generic message.
 */
export function toConnectError(error: unknown, onInternal: (cause: unknown) => void): ConnectError {
  if (error instanceof TallyError) {
    const code = codeByReason[error.reason];
    if (code === Code.Internal) onInternal(error);
    const message = code === Code.Internal ? 'internal error' : error.message;
    return new ConnectError(message, code, undefined, [errorInfoDetail(error.reason, error.metadata)]);
  }
  if (error instanceof ConnectError) {
    if (error.findDetails(ErrorInfoSchema).length > 0) return error;
    const reason = reasonForForeignConnectError(error);
    if (reason === 'INTERNAL') {
      onInternal(error);
      return new ConnectError('internal error', Code.Internal, undefined, [errorInfoDetail('INTERNAL', {})]);
    }
    return new ConnectError(error.rawMessage, error.code, undefined, [errorInfoDetail(reason, fieldFromDecodeMessage(error.rawMessage))]);
  }
  onInternal(error);
  return new ConnectError('internal error', Code.Internal, undefined, [errorInfoDetail('INTERNAL', {})]);
}
