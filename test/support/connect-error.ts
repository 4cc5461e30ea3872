/**
 * Asserting an API error by what a client can act on: its Connect code and its ErrorInfo reason
 * (mapped in one place, functions/src/platform/errors/connect-errors.ts). A bare
 * `rejects.toThrow()` passes for any failure at all (a typo, a dropped connection, `internal`), so
 * API tests name both.
 */
import { expect } from 'vitest';
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from './test-stack.js';

export { Code };

/** What a failed call answered. */
export interface RpcError { code: Code; reason: string; metadata: Record<string, string>; message: string }

/** The error a call answered; fails the test if the call succeeded. */
export async function rpcError(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (error) {
    return rpcErrorOf(error);
  }
  throw new Error('expected the call to fail');
}

/** What a caught error says as an API error (code, ErrorInfo reason and metadata). */
export function rpcErrorOf(error: unknown): RpcError {
  const e = ConnectError.from(error);
  const info = e.findDetails(ErrorInfoSchema)[0];
  return { code: e.code, reason: info?.reason ?? '', metadata: info?.metadata ?? {}, message: e.rawMessage };
}

/**
 * Asserts that the call fails with `code` and ErrorInfo `reason` (and, when given, that the
 * ErrorInfo metadata contains `metadata`); returns the error for further checks.
 */
export async function expectConnectError(promise: Promise<unknown>, code: Code, reason: string, metadata?: Record<string, string>): Promise<RpcError> {
  const error = await rpcError(promise);
  expect({ code: Code[error.code], reason: error.reason }, error.message).toEqual({ code: Code[code], reason });
  if (metadata) expect(error.metadata).toMatchObject(metadata);
  return error;
}
