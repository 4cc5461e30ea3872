/**
 * Free-form string metadata that callers attach to their objects (ledger entries, payments): a
 * bounded map, validated once at the edge of the domain, stored sorted and frozen.
 */
import { invalidField } from './errors.js';

/** Longest metadata key (Stripe's limit, so metadata moves between the two unchanged). */
export const METADATA_KEY_LENGTH_MAX = 40;
/** Longest metadata value. */
export const METADATA_VALUE_LENGTH_MAX = 500;

/** `metadata` checked against the bounds (`FIELD_INVALID` naming the field), sorted by key and frozen. */
export function validateMetadata(metadata: Readonly<Record<string, string>>, keysMax: number): Readonly<Record<string, string>> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalidField('metadata', 'must be a map of strings');
  }
  const entries = Object.entries(metadata);
  if (entries.length > keysMax) throw invalidField('metadata', `at most ${keysMax} keys`);
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > METADATA_KEY_LENGTH_MAX) {
      throw invalidField('metadata', `keys must be 1..${METADATA_KEY_LENGTH_MAX} characters`);
    }
    if (typeof value !== 'string' || value.length > METADATA_VALUE_LENGTH_MAX) {
      throw invalidField(`metadata.${key}`, `a string of at most ${METADATA_VALUE_LENGTH_MAX} characters`);
    }
  }
  // Object.fromEntries defines own properties, so even a `__proto__` key stays plain data.
  return Object.freeze(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}
