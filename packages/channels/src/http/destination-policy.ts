import { BlockList, isIP } from 'node:net';

/**
 * Where the outbound client may connect. The base URL of a channel connection is chosen by an
 * admin user, so without this policy Herald would be a request forger into its own network:
 * cloud metadata (169.254.169.254), Redis on 127.0.0.1:6379, Postgres on [::1]:5432…
 *
 * Denied by default: every address that is not on the public internet (loopback, private,
 * link-local, CGNAT, multicast, reserved, documentation ranges), the same addresses written as
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) or embedded in NAT64 / 6to4 prefixes, and the hostnames
 * that name the local machine or a cloud metadata service. Operators allow exceptions
 * (on-premise receivers, tests) with `allowedDestinations`: IPs, CIDRs or exact hostnames.
 *
 * Pure: `checkDestinationUrl` makes no DNS query. The outbound client checks every address a
 * hostname resolves to when it connects (see `checked-lookup.ts`).
 */

export type DestinationCheck = { ok: true } | { ok: false; reason: string };

export interface DestinationPolicy {
  /** Scheme, credentials, literal IP host, denied hostname: what can be said without DNS. */
  checkUrl(url: URL): DestinationCheck;
  /** A hostname before it is resolved (lower case, as `URL` gives it). */
  checkHostname(hostname: string): DestinationCheck;
  /** One address, literal or resolved from `hostname` (an allowed hostname allows all its addresses). */
  checkAddress(address: string, hostname?: string): DestinationCheck;
}

type Family = 'ipv4' | 'ipv6';

interface DeniedRange {
  label: string;
  ranges: Array<[network: string, prefix: number, family: Family]>;
}

/** Checked in order: the first matching label names the reason (`::1` is loopback before it is `::/96`). */
const DENIED_RANGES: DeniedRange[] = [
  {
    label: 'a loopback address',
    ranges: [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  },
  {
    label: 'an unspecified address',
    ranges: [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  },
  {
    label: 'a private address',
    ranges: [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
    ],
  },
  {
    label: 'a link-local address (cloud metadata lives there)',
    ranges: [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
      ['fec0::', 10, 'ipv6'],
    ],
  },
  { label: 'a shared (CGNAT) address', ranges: [['100.64.0.0', 10, 'ipv4']] },
  {
    label: 'a multicast address',
    ranges: [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  },
  {
    label: 'a reserved address',
    ranges: [
      ['240.0.0.0', 4, 'ipv4'], // includes the broadcast address 255.255.255.255
      ['192.0.0.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['::', 96, 'ipv6'], // IPv4-compatible IPv6 (deprecated)
      ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
      ['100::', 64, 'ipv6'], // discard-only
      ['2001::', 32, 'ipv6'], // Teredo: the IPv4 it reaches is obfuscated, so it cannot be checked
    ],
  },
  {
    label: 'a documentation address',
    ranges: [
      ['192.0.2.0', 24, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      ['2001:db8::', 32, 'ipv6'],
    ],
  },
];

const DENIED_LISTS = DENIED_RANGES.map(({ label, ranges }) => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return { label, list };
});

const DENIED_HOSTNAMES = new Map<string, string>([
  ['localhost', 'a loopback hostname'],
  ['metadata', 'a cloud metadata hostname'],
  ['metadata.google.internal', 'a cloud metadata hostname'],
]);

const HOSTNAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export function createDestinationPolicy(allowedDestinations: readonly string[] = []): DestinationPolicy {
  const allowed = parseAllowedDestinations(allowedDestinations);

  function checkHostname(hostname: string): DestinationCheck {
    const name = normalizeHostname(hostname);
    if (allowed.hostnames.has(name)) return { ok: true };
    const label = DENIED_HOSTNAMES.get(name) ?? (name.endsWith('.localhost') ? 'a loopback hostname' : undefined);
    return label ? { ok: false, reason: `${name} is ${label}` } : { ok: true };
  }

  function checkAddress(address: string, hostname?: string): DestinationCheck {
    if (hostname !== undefined && allowed.hostnames.has(normalizeHostname(hostname))) return { ok: true };
    const family = familyOf(address);
    if (!family) return { ok: false, reason: `${address} is not an IP address` };
    const bare = address.replace(/%.*$/, ''); // without the zone of a link-local address (fe80::1%eth0)
    // An IPv4-mapped IPv6 address is the IPv4 address on the wire: judge it as one.
    const mapped = family === 'ipv6' ? mappedIpv4(bare) : null;
    if (allowed.list.check(bare, family) || (mapped && allowed.list.check(mapped, 'ipv4'))) return { ok: true };
    const label = deniedLabel(mapped ?? bare, mapped ? 'ipv4' : family);
    return label ? { ok: false, reason: `${address} is ${label}` } : { ok: true };
  }

  function checkUrl(url: URL): DestinationCheck {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, reason: `scheme ${url.protocol} is not allowed (http and https only)` };
    }
    if (url.username || url.password) {
      return { ok: false, reason: 'the URL carries credentials (user:password@host); send them in headers' };
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (!host) return { ok: false, reason: 'the URL has no host' };
    return isIP(host) ? checkAddress(host) : checkHostname(host);
  }

  return { checkUrl, checkHostname, checkAddress };
}

/**
 * The static part of the policy, for the admin API when a connection is saved: scheme,
 * credentials, literal IPs, denied hostnames. A hostname that passes may still be refused at
 * send time, when what it resolves to is checked.
 */
export function checkDestinationUrl(url: string, allowed: readonly string[]): DestinationCheck {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  return createDestinationPolicy(allowed).checkUrl(parsed);
}

function parseAllowedDestinations(entries: readonly string[]): { list: BlockList; hostnames: Set<string> } {
  const list = new BlockList();
  const hostnames = new Set<string>();
  for (const entry of entries) {
    const text = entry.trim().toLowerCase();
    const [network = '', prefixText, ...rest] = text.split('/');
    const family = familyOf(network);
    if (prefixText !== undefined) {
      const prefix = Number(prefixText);
      const max = family === 'ipv4' ? 32 : 128;
      if (!family || rest.length > 0 || !/^\d+$/.test(prefixText) || prefix > max) throw invalidEntry(entry);
      list.addSubnet(network, prefix, family);
    } else if (family) {
      list.addAddress(network, family);
    } else {
      const name = normalizeHostname(text);
      if (!HOSTNAME.test(name)) throw invalidEntry(entry);
      hostnames.add(name);
    }
  }
  return { list, hostnames };
}

function invalidEntry(entry: string): Error {
  return new Error(`allowedDestinations: "${entry}" is not an IP address, a CIDR or a hostname`);
}

function deniedLabel(address: string, family: Family): string | null {
  for (const { label, list } of DENIED_LISTS) if (list.check(address, family)) return label;
  if (family === 'ipv6') {
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    const embedded = embeddedIpv4(address);
    const label = embedded ? deniedLabel(embedded, 'ipv4') : null;
    if (label) return `${label} (embedded ${embedded})`;
  }
  return null;
}

function familyOf(address: string): Family | null {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}

/** Lower case, without the trailing dot of a fully qualified name (`localhost.` is `localhost`). */
function normalizeHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

/** `::ffff:a.b.c.d` (in any spelling) → `a.b.c.d`; null for any other address. */
function mappedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  const isMapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  return isMapped ? ipv4FromGroups(groups[6]!, groups[7]!) : null;
}

function embeddedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0)) {
    return ipv4FromGroups(groups[6]!, groups[7]!);
  }
  if (groups[0] === 0x2002) return ipv4FromGroups(groups[1]!, groups[2]!);
  return null;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? [] : Array<string>(8 - headGroups.length - restGroups.length).fill('0');
  return [...headGroups, ...zeros, ...restGroups].map((group) => parseInt(group, 16));
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
