import { BlockList, isIP } from 'node:net';

/** Dual-stack sockets report IPv4 peers as `::ffff:1.2.3.4`; allow-lists are written as `1.2.3.4`. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const kind = isIP(address);
  return kind === 4 ? 'ipv4' : kind === 6 ? 'ipv6' : undefined;
}

/** A set of IPs and CIDRs (v4 and v6); entries were validated when they were configured. */
export class AddressList {
  private readonly list = new BlockList();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [ip, prefix] = entry.split('/');
      const kind = family(ip ?? '');
      if (!ip || !kind) throw new Error(`not an IP or CIDR: ${entry}`);
      if (prefix === undefined) this.list.addAddress(ip, kind);
      else this.list.addSubnet(ip, Number(prefix), kind);
    }
  }

  has(address: string): boolean {
    const normalised = normaliseAddress(address);
    const kind = family(normalised);
    return kind !== undefined && this.list.check(normalised, kind);
  }
}

/**
 * The caller's address (SPEC §3, check 2): the socket's peer, unless that peer is a trusted
 * proxy, in which case X-Forwarded-For is read from the right, skipping trusted hops, and the
 * first untrusted hop is the caller. A forged header from an untrusted peer changes nothing.
 *
 * Null — an unknown caller — when a trusted hop forwarded something that is not an address
 * (`garbage`, `unknown`): falling back to the proxy's own address would let any caller behind
 * it pass an allow-list that names the proxy's network. `1.2.3.4:5555` and `[2001:db8::1]:443`
 * (proxies that append the port) are read as their address.
 */
export function resolveCallerAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trustedProxies: AddressList | null): string | null {
  const peer = normaliseAddress(socketAddress ?? '');
  if (!trustedProxies || !forwardedFor || !trustedProxies.has(peer)) return peer;
  const hops = forwardedFor.split(',').map((hop) => normaliseAddress(withoutPort(hop.trim())));
  let caller = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // Nothing left of a malformed hop can be believed, and the caller is not known.
    if (!family(hop)) return null;
    caller = hop;
    if (!trustedProxies.has(hop)) break;
  }
  return caller;
}

/** `1.2.3.4:5555` → `1.2.3.4`, `[2001:db8::1]:443` → `2001:db8::1`; anything else as it is. */
function withoutPort(hop: string): string {
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(hop);
  if (v4) return v4[1]!;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(hop);
  return v6 ? v6[1]! : hop;
}
