import { describe, expect, it } from 'vitest';
import { clickhouseDevPorts, clickhouseTestPorts } from './clickhouse.js';
import { devPorts, testPorts } from './firebase-emulators.js';

describe('ClickHouse ports', () => {
  it('are the dev ports + TALLY_EMULATOR_PORT_OFFSET, as the emulators', () => {
    expect(clickhouseTestPorts(1000)).toEqual({ http: clickhouseDevPorts.http + 1000, tcp: clickhouseDevPorts.tcp + 1000 });
    expect(() => clickhouseTestPorts(0)).toThrow(/TALLY_EMULATOR_PORT_OFFSET=0/);
  });

  it("clash with none of the README port table's, in dev and at the default test offset, nor with ClickHouse's own defaults", () => {
    // README "Quick start": API 8080, sandbox PSP 12111, and the emulators (hub, logging and the
    // Firestore websocket included), dev and dev + 1000.
    const readmePorts = [8080, 12111, ...Object.values(devPorts())];
    const taken = new Set([...readmePorts, ...readmePorts.map((p) => p + 1000), 8123, 9000, 9009]);
    expect(Object.values(devPorts())).toContain(8180);
    for (const port of [...Object.values(clickhouseDevPorts), ...Object.values(clickhouseTestPorts(1000))]) expect(taken.has(port), `port ${port}`).toBe(false);
    // And at any offset, ClickHouse never takes a port of the same profile's emulators.
    for (const offset of [1, 999, 1000, 3000, 4000, 9700, 20_000]) {
      const emulatorPorts = new Set(Object.values(testPorts(offset)));
      for (const port of Object.values(clickhouseTestPorts(offset))) expect(emulatorPorts.has(port)).toBe(false);
    }
  });
});
