import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../../domain/errors.js';
import { ErrorInfoSchema } from '../../gen/tally/errors/v1/errors_pb.js';
import { toConnectError } from './connect-errors.js';

function mapped(error: unknown): { code: Code; reason: string | undefined; field: string | undefined; logged: boolean } {
  let logged = false;
  const e = toConnectError(error, () => { logged = true; });
  const info = e.findDetails(ErrorInfoSchema)[0];
  return { code: e.code, reason: info?.reason, field: info?.metadata.field, logged };
}

const grpcError = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details });

describe('toConnectError', () => {
  it.each([
    ['ABORTED (production contention)', grpcError(10, 'Too much contention on these documents. Please try again.')],
    ["the emulator's lock timeout", grpcError(10, 'Transaction lock timeout.')],
    ["the emulator's closed transaction", grpcError(3, 'Transaction is invalid or closed.')],
  ])('%s is ABORTED/CONTENTION, not INTERNAL', (_label, error) => {
    expect(mapped(error)).toEqual({ code: Code.Aborted, reason: 'CONTENTION', field: undefined, logged: false });
  });

  it.each([
    ['an empty id', new Error('Value for argument "documentPath" is not a valid resource path. Path must be a non-empty string.')],
    ['a/b', new Error('Value for argument "documentPath" must point to a document, but was "a/b". Your path does not contain an even number of components.')],
    ['..', grpcError(3, 'Document name "projects/p/databases/(default)/documents/tenants/t/payments/.." contains a resource id ".." at index 94.')],
    ['__x__', grpcError(3, 'Resource id "__x__" is invalid because it is reserved.')],
  ])('a value that cannot name a document (%s) is INVALID_ARGUMENT/FIELD_INVALID', (_label, error) => {
    expect(mapped(error)).toMatchObject({ code: Code.InvalidArgument, reason: 'FIELD_INVALID', logged: false });
  });

  it.each([
    ['binary decode', new ConnectError('parse binary: premature EOF', Code.Internal), Code.InvalidArgument, 'MALFORMED_REQUEST'],
    ['an empty gRPC body', new ConnectError('protocol error: missing input message for unary method', Code.Unimplemented), Code.InvalidArgument, 'MALFORMED_REQUEST'],
    ['JSON syntax', new ConnectError('cannot decode message x.Req from JSON: Unexpected token } in JSON at position 3', Code.InvalidArgument), Code.InvalidArgument, 'MALFORMED_REQUEST'],
    ['an unknown JSON key', new ConnectError('cannot decode message x.Req from JSON: key "rol" is unknown', Code.InvalidArgument), Code.InvalidArgument, 'FIELD_INVALID'],
    ['a body over the limit', new ConnectError('message size 5000 is larger than configured readMaxBytes 4096', Code.ResourceExhausted), Code.InvalidArgument, 'BODY_TOO_LARGE'],
    ['an unknown compression', new ConnectError('unknown compression "xz": supported encodings are gzip,br', Code.Unimplemented), Code.Unimplemented, 'UNSUPPORTED_PROTOCOL'],
  ])("Connect's own %s refusal gets its reason", (_label, error, code, reason) => {
    expect(mapped(error)).toMatchObject({ code, reason, logged: false });
  });

  it('a bug stays INTERNAL, logged, with a generic message', () => {
    expect(mapped(new Error('assertion failed: x'))).toEqual({ code: Code.Internal, reason: 'INTERNAL', field: undefined, logged: true });
    expect(toConnectError(new Error('secret detail'), () => undefined).rawMessage).toBe('internal error');
  });

  it('TallyErrors map by reason and keep their metadata', () => {
    expect(mapped(new TallyError('FIELD_REQUIRED', 'payment_id: required', { field: 'payment_id' }))).toEqual({ code: Code.InvalidArgument, reason: 'FIELD_REQUIRED', field: 'payment_id', logged: false });
  });
});
