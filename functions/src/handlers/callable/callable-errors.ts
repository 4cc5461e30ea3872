/**
 * The one place where a failure becomes an HTTPS callable error (ADR 0037). Everything is first made
 * a ConnectError carrying ErrorInfo by the RPC contract's own mapping (platform/errors), then its
 * Connect code names the callable code and its ErrorInfo becomes the error's `details`, so the Firebase
 * JS SDK's `FunctionsError` shows `code` (`functions/invalid-argument`) and `details`
 * `{reason, domain, metadata}` exactly as ConnectRPC clients see them.
 */
import { Code } from '@connectrpc/connect';
import { HttpsError, type FunctionsErrorCode } from 'firebase-functions/v2/https';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { toConnectError } from '../../platform/errors/connect-errors.js';

/**
 * Connect code -> callable code. Both are Google's canonical codes, so the table is one-to-one;
 * exhaustive by type: a code without an entry fails to compile.
 */
export const callableCodeByConnectCode: Readonly<Record<Code, FunctionsErrorCode>> = {
  [Code.Canceled]: 'cancelled',
  [Code.Unknown]: 'unknown',
  [Code.InvalidArgument]: 'invalid-argument',
  [Code.DeadlineExceeded]: 'deadline-exceeded',
  [Code.NotFound]: 'not-found',
  [Code.AlreadyExists]: 'already-exists',
  [Code.PermissionDenied]: 'permission-denied',
  [Code.ResourceExhausted]: 'resource-exhausted',
  [Code.FailedPrecondition]: 'failed-precondition',
  [Code.Aborted]: 'aborted',
  [Code.OutOfRange]: 'out-of-range',
  [Code.Unimplemented]: 'unimplemented',
  [Code.Internal]: 'internal',
  [Code.Unavailable]: 'unavailable',
  [Code.DataLoss]: 'data-loss',
  [Code.Unauthenticated]: 'unauthenticated',
};

/** The `details` of every Tally callable error: the ErrorInfo of the RPC contract. */
export interface CallableErrorDetails {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/**
 * The HttpsError for anything thrown while serving a callable. `onInternal` receives the cause of
 * an INTERNAL error (for the log); the caller sees only "internal error".
 */
export function toHttpsError(error: unknown, onInternal: (cause: unknown) => void): HttpsError {
  const connectError = toConnectError(error, onInternal);
  const info = connectError.findDetails(ErrorInfoSchema)[0];
  const code = callableCodeByConnectCode[connectError.code];
  const details: CallableErrorDetails = { reason: info?.reason ?? 'INTERNAL', domain: info?.domain ?? 'tally', metadata: { ...info?.metadata } };
  return new HttpsError(code, code === 'internal' ? 'internal error' : connectError.rawMessage, details);
}
