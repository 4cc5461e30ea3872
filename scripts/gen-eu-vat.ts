/**
 * Generates `functions/src/domain/tax/eu-vat-table.ts` from the shared EU VAT rates JSON, the same
 * way `gen-iso4217.ts` makes the currency table: the product never reads `../shared` at run time.
 *
 * Run from the repo root: `npx tsx scripts/gen-eu-vat.ts` (or `npm run gen:eu-vat`). The JSON
 * lives outside the repo at `../shared/data/eu-vat-rates.json` (source: ibericode/vat-rates,
 * vat-rates.json at 5abb1e1b; MIT, see ../shared/data/eu-vat-rates.LICENSE).
 * `eu-vat-table.test.ts` re-reads the same JSON independently, so a stale table fails the tests.
 *
 * Rules (why each one):
 * - Rates become integer parts per million (25.5 % -> 255000) from the number's decimal text, so
 *   no float survives into the product; a rate with more than 4 decimals stops the generator.
 * - Periods are sorted newest first (the lookup takes the first whose `effective_from` is on or
 *   before the date); `0000-01-01` ("since forever") is kept as is.
 * - Postcode patterns are kept as text and must compile as a JavaScript regular expression here;
 *   the lookup anchors them (`^(?:...)$`) so `27498` does not match `127498`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const jsonUrl = new URL('../../shared/data/eu-vat-rates.json', import.meta.url);
const outUrl = new URL('../functions/src/domain/tax/eu-vat-table.ts', import.meta.url);

/** Bounds on the input: the real file is ~12 KB, 28 countries, at most 5 periods each. */
const jsonBytesMax = 1_000_000;
const countriesMax = 100;
const periodsMax = 50;
const exceptionsMax = 50;
const rateKeyShape = /^[a-z][a-z0-9_]{0,30}$/;

interface Exception { name: string; postcodePattern: string; standardPpm: number }
interface Period { effectiveFrom: string; ratesPpm: Record<string, number>; exceptions: Exception[] }

/** `25.5` -> 255000, exactly, from the number's shortest decimal text. */
function percentToPpm(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) throw new Error(`${where}: bad rate ${String(value)}`);
  const match = /^([0-9]+)(?:\.([0-9]{1,4}))?$/.exec(String(value));
  if (match === null) throw new Error(`${where}: rate ${value} has more than 4 decimals`);
  return Number(match[1]) * 10_000 + Number((match[2] ?? '').padEnd(4, '0'));
}

function parse(jsonText: string): { version: number; countries: [string, Period[]][] } {
  const data = JSON.parse(jsonText) as { version?: unknown; items?: Record<string, unknown> };
  if (typeof data.version !== 'number' || typeof data.items !== 'object' || data.items === null) throw new Error('unexpected top level');
  const entries = Object.entries(data.items);
  if (entries.length > countriesMax) throw new Error(`more than ${countriesMax} countries`);
  const countries = entries.map(([country, rawPeriods]): [string, Period[]] => {
    if (!/^[A-Z]{2}$/.test(country)) throw new Error(`bad country ${country}`);
    if (!Array.isArray(rawPeriods) || rawPeriods.length < 1 || rawPeriods.length > periodsMax) throw new Error(`${country}: bad periods`);
    const periods = rawPeriods.map((raw: { effective_from?: unknown; rates?: unknown; exceptions?: unknown }, i): Period => {
      const where = `${country}[${i}]`;
      if (typeof raw.effective_from !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(raw.effective_from)) throw new Error(`${where}: bad effective_from`);
      if (typeof raw.rates !== 'object' || raw.rates === null) throw new Error(`${where}: no rates`);
      const ratesPpm: Record<string, number> = {};
      for (const [key, value] of Object.entries(raw.rates)) {
        if (!rateKeyShape.test(key)) throw new Error(`${where}: bad rate key ${key}`);
        ratesPpm[key] = percentToPpm(value, `${where}.${key}`);
      }
      if (ratesPpm.standard === undefined) throw new Error(`${where}: no standard rate`);
      const rawExceptions = raw.exceptions ?? [];
      if (!Array.isArray(rawExceptions) || rawExceptions.length > exceptionsMax) throw new Error(`${where}: bad exceptions`);
      const exceptions = rawExceptions.map((e: { name?: unknown; postcode?: unknown; standard?: unknown }, j): Exception => {
        if (typeof e.name !== 'string' || e.name === '' || typeof e.postcode !== 'string' || e.postcode === '') throw new Error(`${where}.exceptions[${j}]: bad`);
        new RegExp(`^(?:${e.postcode})$`); // must compile
        return { name: e.name, postcodePattern: e.postcode, standardPpm: percentToPpm(e.standard, `${where}.exceptions[${j}]`) };
      });
      return { effectiveFrom: raw.effective_from, ratesPpm, exceptions };
    });
    periods.sort((a, b) => (a.effectiveFrom < b.effectiveFrom ? 1 : a.effectiveFrom > b.effectiveFrom ? -1 : 0));
    for (let i = 1; i < periods.length; i++) {
      if (periods[i]?.effectiveFrom === periods[i - 1]?.effectiveFrom) throw new Error(`${country}: two periods from the same date`);
    }
    return [country, periods];
  });
  countries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { version: data.version, countries };
}

function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function render(version: number, countries: [string, Period[]][]): string {
  const body = countries.map(([country, periods]) => {
    const ps = periods.map((p) => {
      const rates = Object.entries(p.ratesPpm).map(([k, v]) => `${k}: ${v}`).join(', ');
      const ex = p.exceptions.map((e) => `{ name: ${quote(e.name)}, postcodePattern: ${quote(e.postcodePattern)}, standardPpm: ${e.standardPpm} }`);
      return `    { effectiveFrom: '${p.effectiveFrom}', ratesPpm: { ${rates} }, exceptions: [${ex.length === 0 ? '' : `\n      ${ex.join(',\n      ')},\n    `}] },`;
    });
    return `  ['${country}', [\n${ps.join('\n')}\n  ]],`;
  });
  return `// GENERATED by scripts/gen-eu-vat.ts; do not edit. Re-run: npx tsx scripts/gen-eu-vat.ts
//
// Source: ibericode/vat-rates, vat-rates.json at 5abb1e1b (format version ${version}), copied to
// ../shared/data/eu-vat-rates.json. Copyright 2019 Danny van Kooten, MIT licence.
//
// Rates are integer parts per million of the amount (25.5 % = 255000). Periods are newest first.

/** A postcode territory with its own standard rate (Canary Islands, Heligoland, ...). */
export interface EuVatException {
  readonly name: string;
  /** Regular expression text for the whole normalised postcode (the lookup anchors it). */
  readonly postcodePattern: string;
  readonly standardPpm: number;
}

/** The rates of one country from \`effectiveFrom\` (YYYY-MM-DD, inclusive) until the next period. */
export interface EuVatPeriod {
  readonly effectiveFrom: string;
  /** Rate name (\`standard\`, \`reduced\`, \`reduced1\`, \`reduced2\`, \`super_reduced\`, \`parking\`, ...) -> ppm. */
  readonly ratesPpm: Readonly<Record<string, number>>;
  readonly exceptions: readonly EuVatException[];
}

/** Where the table comes from, stored with every calculation. */
export const euVatSource = 'ibericode/vat-rates@5abb1e1b';

/** Countries (ISO 3166-1 alpha-2, Greece as GR) -> periods, newest first. */
export const euVatTable: ReadonlyMap<string, readonly EuVatPeriod[]> = new Map<string, readonly EuVatPeriod[]>([
${body.join('\n')}
]);
`;
}

function main(): void {
  const text = readFileSync(jsonUrl, 'utf8');
  if (text.length > jsonBytesMax) throw new Error(`JSON larger than ${jsonBytesMax} characters`);
  const { version, countries } = parse(text);
  writeFileSync(outUrl, render(version, countries));
  console.log(`wrote ${countries.length} countries to ${fileURLToPath(outUrl)}`);
}

main();
