/**
 * JSON that keeps bigints exact: `{"$bigint":"123"}`. Used to store aggregates whose shape is owned
 * by the domain (payments) as one field, with the fields that queries need copied beside it.
 */
export function toJsonWithBigint(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

export function fromJsonWithBigint<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    // The cheap test first: this runs for every value of every stored payment read.
    if (v !== null && typeof v === 'object' && Object.hasOwn(v, '$bigint')) {
      const big = (v as { $bigint?: unknown }).$bigint;
      if (typeof big === 'string' && /^-?\d+$/.test(big) && Object.keys(v).length === 1) return BigInt(big);
    }
    return v;
  }) as T;
}
