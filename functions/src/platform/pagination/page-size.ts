import { invalidField } from '../../domain/errors.js';

/** Every list RPC: page_size 0 means the default; otherwise 1..pageSizeMax (a bound on every page). */
export const pageSizeDefault = 50;
export const pageSizeMax = 100;

export function pageSizeOf(pageSize: number): number {
  if (pageSize === 0) return pageSizeDefault;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > pageSizeMax) throw invalidField('page_size', `must be in 1..${pageSizeMax}`);
  return pageSize;
}
