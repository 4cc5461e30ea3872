import { describe, expect, it } from 'vitest';
import { pageSizeOf } from './page-size.js';

describe('pageSizeOf', () => {
  it('defaults 0 to 50, accepts 1..100, refuses the rest naming page_size', () => {
    expect(pageSizeOf(0)).toBe(50);
    expect(pageSizeOf(1)).toBe(1);
    expect(pageSizeOf(100)).toBe(100);
    for (const bad of [-1, 101, 1.5]) expect(() => pageSizeOf(bad)).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: { field: 'page_size' } }));
  });
});
