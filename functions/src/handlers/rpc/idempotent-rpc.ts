/** The idempotency wrapper every mutating RPC of every service uses. */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { resolveIdempotencyKey, runIdempotently, type IdempotencyOptions } from '../../platform/idempotency/idempotency.js';

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

