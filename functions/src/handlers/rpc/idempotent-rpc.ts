/** The idempotency wrapper every mutating RPC of every service uses. */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { hashRequest, resolveIdempotencyKey, runIdempotently, type IdempotencyOptions } from '../../platform/idempotency/idempotency.js';
import type { IdempotencyRef } from '../../ports/idempotency-store.js';

/** Runs `execute` under the request's idempotency key; the stored copy has secrets stripped. */
export function idempotentRpc<Req extends DescMessage, Res extends DescMessage>(
  deps: { idempotency: IdempotencyOptions },
  ctx: HandlerContext,
  scope: string,
  request: { schema: Req; message: MessageShape<Req> & { idempotencyKey: string } },
  response: { schema: Res; redact: (res: MessageShape<Res>) => MessageShape<Res> },
  execute: () => Promise<MessageShape<Res>>,
): Promise<MessageShape<Res>> {
  const key = resolveIdempotencyKey(request.message.idempotencyKey, ctx.requestHeader.get('idempotency-key'));
  const canonical = create(request.schema, { ...request.message, idempotencyKey: '' } as never);
  return runIdempotently(deps.idempotency, {
    scope,
    method: `${ctx.service.typeName}/${ctx.method.name}`,
    key,
    requestBytes: toBinary(request.schema, canonical),
    execute,
    encodeForStorage: (res) => toBinary(response.schema, response.redact(res)),
    decode: (bytes) => fromBinary(response.schema, bytes),
  });
}


/** An RPC's idempotency key, resolved, with how its response is stored and replayed. */
export interface RpcKey<Res> {
  ref: IdempotencyRef;
  requestHash: string;
  options: IdempotencyOptions;
  encode(res: Res): Uint8Array;
  decode(bytes: Uint8Array): Res;
}

/**
 * For use cases that write their idempotency record in their own transactions (payments, ADR
 * 0011): the key's record reference and request hash, and how to store and replay the response.
 */
export function keyOfRpc<Req extends DescMessage, Res extends DescMessage>(
  deps: { idempotency: IdempotencyOptions },
  ctx: HandlerContext,
  scope: string,
  request: { schema: Req; message: MessageShape<Req> & { idempotencyKey: string } },
  responseSchema: Res,
): RpcKey<MessageShape<Res>> {
  const key = resolveIdempotencyKey(request.message.idempotencyKey, ctx.requestHeader.get('idempotency-key'));
  const canonical = create(request.schema, { ...request.message, idempotencyKey: '' } as never);
  return {
    ref: { scope, method: `${ctx.service.typeName}/${ctx.method.name}`, key },
    requestHash: hashRequest(toBinary(request.schema, canonical)),
    options: deps.idempotency,
    encode: (res) => toBinary(responseSchema, res),
    decode: (bytes) => fromBinary(responseSchema, bytes),
  };
}
