/**
 * Which network addresses a merchant's webhook may reach (issue 16 item 5, SSRF). Pure: the caller
 * resolves names and asks about every address it got. Deployed, only public unicast addresses
 * pass; every IANA special-purpose range (RFC 6890 and successors) is refused, and IPv6 forms that
 * embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
 * 6to4 2002::/16, Teredo 2001::/32) are refused outright: whatever they embed, they route through
 * a translator we do not control. The `local` profile also lets loopback through (`npm start`
 * delivers to http://localhost); nothing else.
 */
import { BlockList, isIP } from 'node:net';

/** Where URLs may point: `deployed` = https on public addresses; `local` = that plus http and loopback. */
export type WebhookUrlProfile = 'deployed' | 'local';

/** Why an address was refused (shown to the merchant in the attempt's error). */
export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

const ipv4Refused: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved (and broadcast)'],
];

const ipv6Refused: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'IPv4-compatible'],
  ['::ffff:0:0', 96, 'IPv4-mapped'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64 (local use)'],
  ['100::', 64, 'discard-only'],
  ['2001::', 23, 'IETF protocol assignments (Teredo included)'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['3fff::', 20, 'documentation'],
  ['5f00::', 16, 'segment routing'],
  ['fc00::', 7, 'unique local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

function blockListOf(ranges: ReadonlyArray<readonly [string, number, string]>, type: 'ipv4' | 'ipv6'): Array<{ list: BlockList; reason: string }> {
  return ranges.map(([network, prefix, reason]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return { list, reason };
  });
}

const refusedV4 = blockListOf(ipv4Refused, 'ipv4');
const refusedV6 = blockListOf(ipv6Refused, 'ipv6');
const loopbackV4 = blockListOf([['127.0.0.0', 8, 'loopback']], 'ipv4')[0]!.list;

/** Strips brackets and a zone id (`fe80::1%eth0`): the zone does not change the range. */
function normalize(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zone = bare.indexOf('%');
  return zone >= 0 ? bare.slice(0, zone) : bare;
}

/** Whether a webhook may connect to `address` (an IP literal) under `profile`. */
export function checkAddress(address: string, profile: WebhookUrlProfile): AddressVerdict {
  const ip = normalize(address);
  const family = isIP(ip);
  if (family === 0) return { allowed: false, reason: 'not an IP address' };
  if (profile === 'local' && (family === 4 ? loopbackV4.check(ip, 'ipv4') : ip === '::1' || /^::ffff:127\./i.test(ip))) return { allowed: true };
  // Node's BlockList also matches IPv4 rules against IPv4-mapped IPv6 forms, and the v6 table
  // refuses every embedding form on its own.
  const table = family === 4 ? refusedV4 : refusedV6;
  for (const { list, reason } of table) {
    if (list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return { allowed: false, reason: `${ip} is ${reason}` };
  }
  return { allowed: true };
}

/** Every address must pass: a name that resolves to one internal address among public ones is refused. */
export function checkResolvedAddresses(addresses: readonly string[], profile: WebhookUrlProfile): AddressVerdict {
  if (addresses.length === 0) return { allowed: false, reason: 'the name resolved to no address' };
  for (const address of addresses) {
    const verdict = checkAddress(address, profile);
    if (!verdict.allowed) return verdict;
  }
  return { allowed: true };
}
