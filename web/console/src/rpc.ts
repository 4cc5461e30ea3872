/**
 * TanStack Query over Tally's callables: query keys are the method's full name plus the request in
 * proto JSON (bigint-free and stable), so invalidating a method's key refreshes every page of it.
 */
import type { DescMessage, DescMethodUnary, MessageInitShape } from '@bufbuild/protobuf';
import { callRpc, requestKey } from '@shared/callable';

/** The cache key prefix of every query of one RPC method. */
export function methodKey(method: DescMethodUnary<DescMessage, DescMessage>): [string] {
  return [`${method.parent.typeName}/${method.name}`];
}

export function rpcQueryKey<I extends DescMessage>(method: DescMethodUnary<I, DescMessage>, request: MessageInitShape<I>) {
  return [...methodKey(method as DescMethodUnary<DescMessage, DescMessage>), requestKey(method, request)] as const;
}

export { callRpc };
