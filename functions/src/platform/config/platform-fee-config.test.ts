import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';

describe('platform fee defaults (issue 11 item 13)', () => {
  it('default 2.9 % with no fixed part; set per variable', () => {
    expect(parseConfig({})).toMatchObject({ platformFeeBps: 290, platformFeeFixedMinorByCurrency: {} });
    expect(parseConfig({ TALLY_PLATFORM_FEE_BPS: '150', TALLY_PLATFORM_FEE_FIXED_MINOR: 'EUR:25, USD:30' }))
      .toMatchObject({ platformFeeBps: 150, platformFeeFixedMinorByCurrency: { EUR: 25n, USD: 30n } });
  });

  it('refuses values out of bounds or malformed, naming the variable', () => {
    expect(() => parseConfig({ TALLY_PLATFORM_FEE_BPS: '10001' })).toThrow(/^TALLY_PLATFORM_FEE_BPS=10001: must be in \[0, 10000\]/);
    expect(() => parseConfig({ TALLY_PLATFORM_FEE_BPS: '2.9' })).toThrow(/^TALLY_PLATFORM_FEE_BPS=2\.9: expected an integer/);
    expect(() => parseConfig({ TALLY_PLATFORM_FEE_FIXED_MINOR: 'EUR:1000001' })).toThrow(/^TALLY_PLATFORM_FEE_FIXED_MINOR=EUR:1000001: EUR amount must be in \[0, 1000000\]/);
    expect(() => parseConfig({ TALLY_PLATFORM_FEE_FIXED_MINOR: 'EUR=25' })).toThrow(/^TALLY_PLATFORM_FEE_FIXED_MINOR=EUR=25: expected CUR:amount pairs/);
    expect(() => parseConfig({ TALLY_PLATFORM_FEE_FIXED_MINOR: 'EUR:1,EUR:2' })).toThrow(/^TALLY_PLATFORM_FEE_FIXED_MINOR=EUR:1,EUR:2: EUR appears twice/);
  });
});
