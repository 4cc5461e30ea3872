import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { euVatTable } from './eu-vat-table.js';

// The shared reference JSON (outside the repo, see ../shared/data/README.md), read here with a
// conversion of its own (percent text -> ppm via string arithmetic), independent of
// scripts/gen-eu-vat.ts: a stale table or a generator bug both show up as a difference.
const jsonUrl = new URL('../../../../../shared/data/eu-vat-rates.json', import.meta.url);

interface RawPeriod { effective_from: string; rates: Record<string, number>; exceptions?: { name: string; postcode: string; standard: number }[] }

const ppm = (percent: number): number => {
  const [whole = '0', fraction = ''] = String(percent).split('.');
  expect(fraction.length).toBeLessThanOrEqual(4);
  return Number(whole) * 10_000 + Number(fraction.padEnd(4, '0'));
};

function expectedTable(): [string, unknown[]][] {
  const items = (JSON.parse(readFileSync(jsonUrl, 'utf8')) as { items: Record<string, RawPeriod[]> }).items;
  return Object.keys(items).sort().map((country) => [
    country,
    [...(items[country] ?? [])]
      .sort((a, b) => b.effective_from.localeCompare(a.effective_from))
      .map((p) => ({
        effectiveFrom: p.effective_from,
        ratesPpm: Object.fromEntries(Object.entries(p.rates).map(([k, v]) => [k, ppm(v)])),
        exceptions: (p.exceptions ?? []).map((e) => ({ name: e.name, postcodePattern: e.postcode, standardPpm: ppm(e.standard) })),
      })),
  ]);
}

describe('euVatTable', () => {
  it('equals the shared eu-vat-rates.json (re-run scripts/gen-eu-vat.ts if not)', () => {
    expect([...euVatTable.entries()]).toEqual(expectedTable());
  });

  it('has the 27 member states and GB, Greece as GR', () => {
    expect(euVatTable.size).toBe(28);
    expect(euVatTable.has('GR')).toBe(true);
    expect(euVatTable.has('EL')).toBe(false);
  });

  it('keeps fractional rates exact: FI 25.5 % from 2024-09-01, IE 4.8 %, SI 9.5 %', () => {
    expect(euVatTable.get('FI')?.[0]).toMatchObject({ effectiveFrom: '2024-09-01', ratesPpm: { standard: 255_000 } });
    expect(euVatTable.get('IE')?.[0]?.ratesPpm.super_reduced).toBe(48_000);
    expect(euVatTable.get('SI')?.[0]?.ratesPpm.reduced2).toBe(95_000);
  });
});
