/**
 * Generates `functions/src/domain/money/iso4217-table.ts` from the shared ISO 4217 CSV.
 *
 * Run from the repo root: `npx tsx scripts/gen-iso4217.ts`. The CSV lives outside the repo at
 * `../shared/data/iso4217-codes-all.csv` (source: datasets/currency-codes, data/codes-all.csv at
 * ab9b0ae8; ODC-PDDL-1.0, public domain). `iso4217-table.test.ts` re-parses the same CSV with its
 * own parser, so forgetting to re-run this script after the CSV changes fails the tests.
 *
 * Rules (why each one):
 * - Only rows with an empty WithdrawalDate: withdrawn codes must not be accepted for new money.
 * - Rows without an AlphabeticCode ("No universal currency") are skipped: nothing to key them by.
 * - Rows whose MinorUnit is `-` (XAU, XDR, XTS, XXX, ...) are excluded: metals, fund units,
 *   testing and "no currency" codes are not payable, and without a minor unit there is no exact
 *   minor-unit amount to store.
 * - The same code appears once per entity (EUR ~36 times): rows are deduplicated by code, and
 *   rows that disagree on numeric code, minor unit or name stop the generator.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const csvUrl = new URL('../../shared/data/iso4217-codes-all.csv', import.meta.url);
const outUrl = new URL('../functions/src/domain/money/iso4217-table.ts', import.meta.url);

/** Bounds on the input: the real file is ~30 KB and ~450 rows. */
const csvBytesMax = 1_000_000;
const csvRowsMax = 10_000;
const exponentMax = 4;

const expectedHeader = ['Entity', 'Currency', 'AlphabeticCode', 'NumericCode', 'MinorUnit', 'WithdrawalDate'];

interface Entry {
  code: string;
  numericCode: string;
  exponent: number;
  name: string;
}

/** RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      if (field !== '') throw new Error(`quote inside unquoted field at offset ${i}`);
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      if (rows.length > csvRowsMax) throw new Error(`more than ${csvRowsMax} rows`);
      row = [];
      field = '';
    } else {
      field += ch;
    }
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Current payable currencies sorted by code, and the current codes left out for lack of a minor unit. */
function currentCurrencies(csvText: string): { entries: Entry[]; excluded: string[] } {
  const [header, ...rows] = parseCsv(csvText);
  if (header?.join(',') !== expectedHeader.join(',')) {
    throw new Error(`unexpected header: ${header?.join(',')}`);
  }
  const byCode = new Map<string, Entry>();
  const excluded = new Set<string>();
  for (const [index, row] of rows.entries()) {
    if (row.length !== expectedHeader.length) throw new Error(`row ${index + 2}: ${row.length} fields`);
    const [, name = '', code = '', numericCode = '', minorUnit = '', withdrawalDate = ''] = row;
    if (withdrawalDate !== '' || code === '') continue;
    if (minorUnit === '-') {
      excluded.add(code);
      continue;
    }
    if (!/^[A-Z]{3}$/.test(code)) throw new Error(`row ${index + 2}: bad code ${code}`);
    if (!/^[0-9]{3}$/.test(numericCode)) throw new Error(`row ${index + 2}: bad numeric code ${numericCode}`);
    if (!/^[0-9]$/.test(minorUnit) || Number(minorUnit) > exponentMax) {
      throw new Error(`row ${index + 2}: bad minor unit ${minorUnit}`);
    }
    if (!/^[^\p{Cc}]+$/u.test(name)) throw new Error(`row ${index + 2}: bad name ${JSON.stringify(name)}`);
    const entry: Entry = { code, numericCode, exponent: Number(minorUnit), name };
    const seen = byCode.get(code);
    if (seen === undefined) {
      byCode.set(code, entry);
    } else if (JSON.stringify(seen) !== JSON.stringify(entry)) {
      throw new Error(`row ${index + 2}: ${code} disagrees with an earlier row`);
    }
  }
  const entries = [...byCode.values()].sort((a, b) => compareCodes(a.code, b.code));
  return { entries, excluded: [...excluded].sort(compareCodes) };
}

function compareCodes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function renderTable(entries: readonly Entry[], excluded: readonly string[]): string {
  const lines = entries.map(
    (e) =>
      `  { code: '${e.code}', numericCode: '${e.numericCode}', exponent: ${e.exponent}, name: ${quote(e.name)} },`,
  );
  return `// GENERATED by scripts/gen-iso4217.ts; do not edit. Re-run: npx tsx scripts/gen-iso4217.ts
//
// Source: datasets/currency-codes, data/codes-all.csv at ab9b0ae8 (ODC-PDDL-1.0, public domain),
// copied to ../shared/data/iso4217-codes-all.csv.
//
// Current codes only (empty WithdrawalDate), one entry per AlphabeticCode, sorted by code. Codes
// whose minor unit is "-" are excluded on purpose: metals, fund units, testing and "no currency"
// codes are not payable, and without a minor unit there is no exact minor-unit amount.
// Excluded: ${excluded.join(', ')}.

/** One current ISO 4217 currency. */
export interface Iso4217Currency {
  /** Alphabetic code, e.g. \`USD\`. */
  readonly code: string;
  /** Numeric code as three digits, leading zeros kept (e.g. \`008\`). */
  readonly numericCode: string;
  /** ISO "minor unit": number of fraction digits in the major unit (JPY 0, USD 2, BHD 3, CLF 4). */
  readonly exponent: number;
  /** English name from the standard. */
  readonly name: string;
}

const entries: readonly Iso4217Currency[] = Object.freeze([
${lines.join('\n')}
]);

/** Current ISO 4217 currencies keyed by alphabetic code. */
export const iso4217Table: ReadonlyMap<string, Iso4217Currency> = new Map(
  entries.map((entry): [string, Iso4217Currency] => [entry.code, Object.freeze(entry)]),
);
`;
}

function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function main(): void {
  const csvText = readFileSync(csvUrl, 'utf8');
  if (csvText.length > csvBytesMax) throw new Error(`CSV larger than ${csvBytesMax} characters`);
  const { entries, excluded } = currentCurrencies(csvText);
  writeFileSync(outUrl, renderTable(entries, excluded));
  console.log(`wrote ${entries.length} currencies to ${fileURLToPath(outUrl)}`);
}

main();
