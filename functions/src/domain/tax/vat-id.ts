/**
 * EU VAT identification numbers: does an id LOOK valid (country prefix and that country's
 * format)? This is the offline check behind B2B reverse charge; it proves nothing about
 * registration (VIES does that, and is out of reach here), so the id is kept on the invoice as
 * evidence. Formats per the European Commission's VIES documentation; check digits are not verified.
 */

/** The 27 EU member states (ISO 3166-1 alpha-2; Greece is GR). */
export const euMemberStates: ReadonlySet<string> = new Set([
  'AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR', 'HU', 'IE',
  'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK',
]);

/** True for an EU member state's ISO code. */
export function isEuMemberState(country: string): boolean {
  return euMemberStates.has(country);
}

// VAT id prefix -> the rest of the id. Greece's VAT prefix is EL, not its ISO code GR.
const formats: Readonly<Record<string, RegExp>> = {
  AT: /^U\d{8}$/,
  BE: /^[01]\d{9}$/,
  BG: /^\d{9,10}$/,
  CY: /^\d{8}[A-Z]$/,
  CZ: /^\d{8,10}$/,
  DE: /^\d{9}$/,
  DK: /^\d{8}$/,
  EE: /^\d{9}$/,
  EL: /^\d{9}$/,
  ES: /^[A-Z0-9]\d{7}[A-Z0-9]$/,
  FI: /^\d{8}$/,
  FR: /^[A-HJ-NP-Z0-9]{2}\d{9}$/,
  HR: /^\d{11}$/,
  HU: /^\d{8}$/,
  IE: /^(\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W])$/,
  IT: /^\d{11}$/,
  LT: /^(\d{9}|\d{12})$/,
  LU: /^\d{8}$/,
  LV: /^\d{11}$/,
  MT: /^\d{8}$/,
  NL: /^\d{9}B\d{2}$/,
  PL: /^\d{10}$/,
  PT: /^\d{9}$/,
  RO: /^[1-9]\d{1,9}$/,
  SE: /^\d{10}01$/,
  SI: /^\d{8}$/,
  SK: /^\d{10}$/,
};

/** Longest VAT id text accepted (the longest format is 14 characters; spaces and dots are dropped). */
export const VAT_ID_LENGTH_MAX = 32;

/** A VAT id that looks valid: normalised text and the member state it belongs to. */
export interface ParsedVatId {
  /** Uppercase, without spaces, dots or dashes, e.g. `DE123456789`. */
  readonly vatId: string;
  /** ISO country of the member state (`GR` for an `EL...` id). */
  readonly country: string;
}

/**
 * Parses a VAT id that looks valid for its member state (`de 123.456.789` -> `DE123456789`, DE);
 * `null` when it does not (unknown prefix, wrong format, a non-EU id such as GB's).
 */
export function parseEuVatId(text: string): ParsedVatId | null {
  if (typeof text !== 'string' || text.length > VAT_ID_LENGTH_MAX) return null;
  const vatId = text.toUpperCase().replace(/[\s.-]/g, '');
  const prefix = vatId.slice(0, 2);
  const format = Object.hasOwn(formats, prefix) ? formats[prefix] : undefined;
  if (format === undefined || !format.test(vatId.slice(2))) return null;
  return Object.freeze({ vatId, country: prefix === 'EL' ? 'GR' : prefix });
}
