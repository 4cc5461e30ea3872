/**
 * SQL literals for ClickHouse 18.16, which has no server-side query parameters (`{name:Type}` and
 * `param_*` came in 19.x: 18.16 answers "Unknown setting param_x"). Used only by the renderer in
 * sql-query.ts, which writes a statement's `{name:Type}` placeholders as literals on such a server
 * (current servers get the values bound instead): strings quoted with every character that could
 * end or bend the literal escaped (ClickHouse's own string-literal escapes), numbers checked to be
 * integers in range. test/clickhouse-schema.test.ts checks the round trip against the real server
 * for arbitrary strings. Identifiers are never built from input.
 */

/** A ClickHouse string literal that reads back exactly `value` (any Unicode, quotes, backslashes, NUL). */
export function sqlString(value: string): string {
  let out = "'";
  for (const ch of value) {
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\0') out += '\\0';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else out += ch;
  }
  return `${out}'`;
}

/** A ClickHouse integer literal; refuses anything that is not a safe integer (or a bigint) in Int64. */
export function sqlInt(value: number | bigint): string {
  const big = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (big === undefined || big < -(2n ** 63n) || big >= 2n ** 63n) throw new Error(`sqlInt: ${String(value)} is not an Int64 integer`);
  return big.toString();
}
