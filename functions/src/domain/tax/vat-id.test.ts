import { describe, expect, it } from 'vitest';
import { parseEuVatId } from './vat-id.js';

describe('parseEuVatId', () => {
  it.each([
    ['DE123456789', 'DE123456789', 'DE'],
    ['de 123.456.789', 'DE123456789', 'DE'],
    ['ATU12345678', 'ATU12345678', 'AT'],
    ['FR XX 123456789', 'FRXX123456789', 'FR'],
    ['NL123456789B01', 'NL123456789B01', 'NL'],
    ['EL123456789', 'EL123456789', 'GR'],
    ['IE1234567WA', 'IE1234567WA', 'IE'],
    ['ESX1234567X', 'ESX1234567X', 'ES'],
    ['SE123456789001', 'SE123456789001', 'SE'],
  ])('%s looks valid: %s of %s', (text, vatId, country) => {
    expect(parseEuVatId(text)).toEqual({ vatId, country });
  });

  it.each(['DE12345678', 'GB123456789', 'GR123456789', 'XX123', 'AT12345678', 'NL123456789A01', 'FRIO123456789', '', 'DE'.padEnd(40, '1')])('%s does not', (text) => {
    expect(parseEuVatId(text)).toBeNull();
  });
});
