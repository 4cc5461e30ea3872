import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkAddress, checkResolvedAddresses } from './address-policy.js';

describe('webhook address policy (SSRF)', () => {
  const refused = [
    '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.254', '192.168.1.1', '127.0.0.1', '127.1.2.3', '0.0.0.0', '169.254.169.254',
    '169.254.0.1', '100.64.0.1', '100.127.255.254', '224.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1',
    '::1', '::', 'fe80::1', 'fe80::1%eth0', '[fe80::1]', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254',
    '::ffff:10.0.0.1', '::ffff:8.8.8.8', '::ffff:7f00:1', '::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::8.8.8.8', '2002:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:db8::1', 'fec0::1', 'not-an-ip', '',
  ];
  it.each(refused)('refuses %s when deployed', (address) => {
    expect(checkAddress(address, 'deployed').allowed).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e'])('allows public %s', (address) => {
    expect(checkAddress(address, 'deployed')).toEqual({ allowed: true });
  });

  it('the local profile lets loopback through and nothing else internal', () => {
    for (const loopback of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(checkAddress(loopback, 'local').allowed).toBe(true);
    for (const internal of ['10.0.0.1', '169.254.169.254', 'fc00::1', '192.168.0.1']) expect(checkAddress(internal, 'local').allowed).toBe(false);
  });

  it('a name resolving to one internal address among public ones is refused; no address is refused', () => {
    expect(checkResolvedAddresses(['8.8.8.8', '10.0.0.1'], 'deployed').allowed).toBe(false);
    expect(checkResolvedAddresses([], 'deployed').allowed).toBe(false);
    expect(checkResolvedAddresses(['8.8.8.8', '2606:4700:4700::1111'], 'deployed').allowed).toBe(true);
  });

  it('property: every private IPv4 address and its IPv4-mapped form are refused', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(fc.property(fc.constantFrom(10, 127), octet, octet, octet, (a, b, c, d) => {
      const v4 = `${a}.${b}.${c}.${d}`;
      return !checkAddress(v4, 'deployed').allowed && !checkAddress(`::ffff:${v4}`, 'deployed').allowed;
    }));
    fc.assert(fc.property(fc.integer({ min: 64, max: 127 }), octet, octet, (b, c, d) => !checkAddress(`100.${b}.${c}.${d}`, 'deployed').allowed));
  });
});
