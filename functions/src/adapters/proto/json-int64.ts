/**
 * Strict int64 text in proto3 JSON. protobuf-es parses a 64-bit integer given as a JSON string
 * with `BigInt(text)`, which also takes `"0x10"`, `"0b101"`, `"0o7"`, `" 12"`, `"+5"` (and `""` is
 * refused by protobuf-es itself). An amount is plain decimal digits, so these are refused at the edge (FIELD_INVALID
 * naming the field) before the body is decoded: `looseInt64Field` walks the JSON along the
 * method's input descriptor and names the first 64-bit integer field whose string is not
 * `-?[0-9]+`. The walk runs only when the raw text could hold such a string
 * (`mayHoldLooseInt64`), so a compact, ordinary body costs one regular-expression scan.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';

const int64Scalars: ReadonlySet<ScalarType> = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);
const plainInteger = /^-?[0-9]+$/;
/** Deepest message nesting walked (proto messages of this API are a few levels deep). */
const depthMax = 32;

/**
 * False only when no JSON string in `text` can be a loose integer: such a string starts with
 * whitespace, `+`, a base prefix (`0x`, `0o`, `0b`, optionally after `-`) or an escape, ends
 * with whitespace or an escape, or is empty. True is only "walk to be sure".
 */
export function mayHoldLooseInt64(text: string): boolean {
  // Whitespace may also arrive escaped (`"\t1"`, `"1\u0020"`).
  return /"(?:\s|\+|-?0[xXoObB]|"|\\)|\s"|\\[tnrfb]"|\\u[0-9a-fA-F]{4}"/.test(text);
}

/** The path (`postings[0].amount_minor`) of the first 64-bit integer field holding a non-decimal string, if any. */
export function looseInt64Field(schema: DescMessage, json: unknown, path = '', depth = 0): string | undefined {
  if (depth > depthMax || json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const object = json as Record<string, unknown>;
  for (const field of schema.fields) {
    for (const key of new Set([field.jsonName, field.name])) {
      if (!Object.hasOwn(object, key)) continue;
      const found = looseInField(field, object[key], `${path}${field.name}`, depth);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function looseInField(field: DescField, value: unknown, at: string, depth: number): string | undefined {
  if (value === null || value === undefined) return undefined;
  switch (field.fieldKind) {
    case 'scalar':
      return isLoose(field.scalar, value) ? at : undefined;
    case 'message':
      return isWellKnown(field.message) ? undefined : looseInt64Field(field.message, value, `${at}.`, depth + 1);
    case 'list': {
      if (!Array.isArray(value)) return undefined;
      for (const [i, item] of value.entries()) {
        const found = field.listKind === 'scalar'
          ? (isLoose(field.scalar, item) ? `${at}[${i}]` : undefined)
          : field.listKind === 'message' && !isWellKnown(field.message) ? looseInt64Field(field.message, item, `${at}[${i}].`, depth + 1) : undefined;
        if (found !== undefined) return found;
      }
      return undefined;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return undefined;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (isLoose(field.mapKey, key)) return `${at}[${key}]`;
        const found = field.mapKind === 'scalar'
          ? (isLoose(field.scalar, item) ? `${at}[${key}]` : undefined)
          : field.mapKind === 'message' && !isWellKnown(field.message) ? looseInt64Field(field.message, item, `${at}[${key}].`, depth + 1) : undefined;
        if (found !== undefined) return found;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function isLoose(scalar: ScalarType, value: unknown): boolean {
  return int64Scalars.has(scalar) && typeof value === 'string' && !plainInteger.test(value);
}

/** Well-known types have their own JSON forms (a Timestamp is an RFC 3339 string): not walked. */
function isWellKnown(message: DescMessage): boolean {
  return message.typeName.startsWith('google.protobuf.');
}
