import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { iso4217Table } from './iso4217-table.js';

// The shared reference CSV (outside the repo, see ../shared/data/README.md). This test parses it
// with its own tokenizer, independent of scripts/gen-iso4217.ts, so both a stale table and a
// generator bug show up as a difference.
const csvUrl = new URL('../../../../../shared/data/iso4217-codes-all.csv', import.meta.url);

/** Splits one CSV record into fields: quoted fields may hold commas and doubled quotes. */
function splitRecord(line: string): string[] {
  const fields: string[] = [];
  const token = /(?:"((?:[^"]|"")*)"|([^,"]*))(,|$)/y;
  for (let attempts = 0; attempts <= line.length; attempts++) {
    const match = token.exec(line);
    if (match === null) throw new Error(`unparsable CSV line: ${line}`);
    fields.push(match[1] !== undefined ? match[1].replaceAll('""', '"') : (match[2] ?? ''));
    if (match[3] === '') return fields;
  }
  throw new Error(`CSV line did not terminate: ${line}`);
}

function expectedTable(): { code: string; numericCode: string; exponent: number; name: string }[] {
  // No field in this file spans lines, so records are lines.
  const lines = readFileSync(csvUrl, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l !== '');
  const [header, ...records] = lines.map(splitRecord);
  expect(header).toEqual(['Entity', 'Currency', 'AlphabeticCode', 'NumericCode', 'MinorUnit', 'WithdrawalDate']);
  const byCode = new Map<string, { code: string; numericCode: string; exponent: number; name: string }>();
  for (const record of records) {
    expect(record).toHaveLength(6);
    const [, name = '', code = '', numericCode = '', minorUnit = '', withdrawn = ''] = record;
    if (withdrawn !== '' || code === '' || minorUnit === '-') continue;
    byCode.set(code, { code, numericCode, exponent: Number.parseInt(minorUnit, 10), name });
  }
  return [...byCode.values()].sort((a, b) => a.code.localeCompare(b.code, 'en'));
}

describe('iso4217Table', () => {
  it('equals the current, payable codes of the shared CSV (re-run scripts/gen-iso4217.ts if not)', () => {
    expect([...iso4217Table.values()]).toEqual(expectedTable());
  });

  it('is keyed by code and sorted', () => {
    const codes = [...iso4217Table.keys()];
    expect(codes).toEqual([...codes].sort());
    for (const [code, entry] of iso4217Table) expect(entry.code).toBe(code);
  });

  it.each([
    ['JPY', 0, '392'],
    ['USD', 2, '840'],
    ['EUR', 2, '978'],
    ['BHD', 3, '048'],
    ['CLF', 4, '990'],
    ['UYW', 4, '927'],
    ['XCG', 2, '532'],
    ['ZWG', 2, '924'],
  ])('has %s with exponent %i and numeric code %s', (code, exponent, numericCode) => {
    expect(iso4217Table.get(code)).toMatchObject({ code, exponent, numericCode });
  });

  it.each(['BGN', 'ZWL', 'HRK', 'ANG', 'XXX', 'XAU', 'XDR', 'XTS', ''])('does not have %j', (code) => {
    expect(iso4217Table.has(code)).toBe(false);
  });

  it('keeps non-ASCII names intact', () => {
    expect(iso4217Table.get('VES')?.name).toBe('Bolívar Soberano');
  });

  it('is immutable at the entry level', () => {
    expect(Object.isFrozen(iso4217Table.get('USD'))).toBe(true);
  });
});
