/**
 * Reactive query keys for TanStack Query: the key is the method plus its request in proto JSON
 * (rpc.ts), and a query function reads its request back from the key, so a fetch always uses the
 * request its key names (never a ref that has moved on meanwhile).
 */
import { computed, type ComputedRef } from 'vue';
import { fromJson, type DescMessage, type DescMethodUnary, type JsonValue, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { rpcQueryKey } from '../rpc';

// Typed as unknown[]: vue-query's deep ref unwrapping of the recursive JsonValue type is too deep for tsc.
export type QueryKey = readonly unknown[];

export function reactiveKey<I extends DescMessage>(method: DescMethodUnary<I, DescMessage>, request: () => MessageInitShape<I>): ComputedRef<QueryKey> {
  return computed((): QueryKey => rpcQueryKey(method, request()));
}

export function requestOfKey<I extends DescMessage>(method: DescMethodUnary<I, DescMessage>, queryKey: QueryKey): MessageShape<I> {
  return fromJson(method.input, queryKey[1] as JsonValue);
}

/** Cursor paging shared by every list: '' starts, an empty next token ends. */
export const cursorPaging = {
  initialPageParam: '',
  getNextPageParam: (last: { nextPageToken: string }) => (last.nextPageToken === '' ? undefined : last.nextPageToken),
};
