/**
 * The free-text fields of payments requests, checked at the edge before anything is read or
 * written (ADR 0019): a return URL the customer is sent to, a customer's email and name, a payment
 * method's brand and country. Each refusal is FIELD_INVALID naming the field; an empty value means
 * "not given" and is accepted as such.
 */
import { invalidField } from '../errors.js';

/** Longest return URL (browsers and PSPs handle 2 048 safely). */
export const RETURN_URL_LENGTH_MAX = 2_048;
/** Longest email address (RFC 5321: a 256-octet path less the angle brackets). */
export const EMAIL_LENGTH_MAX = 254;
/** Longest customer name, in characters. */
export const CUSTOMER_NAME_LENGTH_MAX = 200;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators: they end a header or a
// log line, and no URL, email or name needs them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * An absolute https URL (http only for a local host, for development), or null for none. A customer
 * is redirected there after a challenge, so anything else is refused rather than passed on:
 * `javascript:` and other schemes, credentials, and control characters or spaces (the URL parser
 * would silently drop a CR/LF or tab and accept what remains, so the raw text is checked first).
 */
export function validateReturnUrl(value: string | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (value.length > RETURN_URL_LENGTH_MAX) throw invalidField('return_url', `at most ${RETURN_URL_LENGTH_MAX} characters`);
  if (CONTROL.test(value) || /\s/.test(value)) throw invalidField('return_url', 'must not contain control characters or whitespace');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidField('return_url', 'must be an absolute URL');
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) throw invalidField('return_url', 'must be https (http only for localhost)');
  if (url.username !== '' || url.password !== '') throw invalidField('return_url', 'must not carry credentials');
  return value;
}

// The HTML standard's "valid email address" (what browsers accept in <input type=email>), with
// at least one dot in the domain, in ASCII: an internationalized domain is sent in its xn-- form.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const EMAIL = new RegExp(`^[A-Za-z0-9.!#$%&'*+/=?^_\`{|}~-]{1,64}@${LABEL}(?:\\.${LABEL})+$`);

/** A customer's email address, or '' for none. */
export function validateCustomerEmail(value: string): string {
  if (value === '') return value;
  if (value.length > EMAIL_LENGTH_MAX) throw invalidField('email', `at most ${EMAIL_LENGTH_MAX} characters`);
  if (!EMAIL.test(value)) throw invalidField('email', 'not an email address (local@domain.tld, ASCII)');
  return value;
}

/** A customer's name: any letters, at most 200 characters, no control characters, not blank. */
export function validateCustomerName(value: string): string {
  if (value === '') return value;
  if ([...value].length > CUSTOMER_NAME_LENGTH_MAX) throw invalidField('name', `at most ${CUSTOMER_NAME_LENGTH_MAX} characters`);
  if (CONTROL.test(value)) throw invalidField('name', 'must not contain control characters');
  if (value.trim() === '') throw invalidField('name', 'must not be blank');
  return value;
}

/** A card brand as PSPs name them (`visa`, `mastercard`, `amex`, `cartes_bancaires`...), or '' for none. */
export function validateCardBrand(value: string): string {
  if (value === '') return value;
  if (!/^[a-z_]{1,32}$/.test(value)) throw invalidField('brand', '1..32 of a-z and _ (as visa, mastercard, cartes_bancaires)');
  return value;
}

// CLDR's region names cover every ISO 3166-1 alpha-2 code, and more: retired aliases (`UK`, `SU`,
// which canonicalize to another code), codes ISO only reserves (`AC`, `EA`, `IC`, `TA`...), CLDR
// groupings and pseudo-regions. Those are refused; `XK` (Kosovo, user-assigned) is kept because
// card networks issue cards there.
const notCountries = new Set(['AC', 'CP', 'CQ', 'DG', 'EA', 'EU', 'EZ', 'IC', 'QO', 'TA', 'UN', 'XA', 'XB', 'ZZ']);
const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

/** True for an ISO 3166-1 alpha-2 country code (upper case). */
export function isCountryCode(value: string): boolean {
  if (!/^[A-Z]{2}$/.test(value) || notCountries.has(value)) return false;
  return regionNames.of(value) !== undefined && Intl.getCanonicalLocales(`und-${value}`)[0] === `und-${value}`;
}

/** A card's issuing country, ISO 3166-1 alpha-2 (`FR`, `US`), or '' for none. */
export function validateCountry(value: string): string {
  if (value === '') return value;
  if (!isCountryCode(value)) throw invalidField('country', 'an ISO 3166-1 alpha-2 country code (as FR, US)');
  return value;
}
