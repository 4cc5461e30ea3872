/**
 * JSON that keeps bigints exact: `{"$bigint":"123"}`. Used to store aggregates whose shape is owned
 * by the domain (payments) as one field, with the fields that queries need copied beside it.
 *
 * The encoding cannot collide with data: an object key of the form `$bigint`, `$$bigint`, ...
 * (e.g. a metadata key a caller chose) is written with one more `$` and read back with one less,
 * so a stored `{"$bigint": ...}` object is always an encoded bigint, never a caller's map. Before
 * this escape (ADR 0017) a metadata key `$bigint` with a digit value read back as a bigint.
 */
const escapedKey = /^\$+bigint$/;

export function toJsonWithBigint(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (isPlainObject(v) && Object.keys(v).some((k) => escapedKey.test(k))) {
      // Object.fromEntries defines own properties: a `__proto__` key stays data.
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [escapedKey.test(k) ? `$${k}` : k, item]));
    }
    return v;
  });
}

export function fromJsonWithBigint<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    // The cheap test first: this runs for every value of every stored payment read.
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    if (Object.hasOwn(v, '$bigint')) {
      const big = (v as { $bigint?: unknown }).$bigint;
      if (typeof big === 'string' && /^-?\d+$/.test(big) && Object.keys(v).length === 1) return BigInt(big);
    }
    if (Object.keys(v).some((k) => k.length > 7 && k.startsWith('$$') && escapedKey.test(k))) {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k.startsWith('$$') && escapedKey.test(k) ? k.slice(1) : k, item]));
    }
    return v;
  }) as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const prototype: unknown = Object.getPrototypeOf(v);
  return prototype === Object.prototype || prototype === null;
}
