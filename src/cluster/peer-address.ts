/**
 * Peer addresses come from Redis, which others may be able to write (ARCHITECTURE.md, threat model): an
 * address is used to forward a client's request, headers and body included, so it is checked before
 * use. The rule:
 *
 * - `host:port` with port 1..65535; host an IPv4 literal, a bracketed IPv6 literal, or a DNS name of
 *   RFC 1123 labels (no userinfo, path, spaces or a numeric-looking name that is not an IPv4 address);
 * - never a wildcard (0.0.0.0, ::), multicast or limited-broadcast address;
 * - when MCP_PEER_ALLOW is set, the host must be an IP inside one of its CIDRs (or equal to one of its
 *   IP literals) or equal one of its host names (case-insensitive).
 *
 * An address that fails is not forwarded to: the node counts as unreachable (the 404 path).
 */
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface PeerRule {
  /** The parsed address when `address` may be used, else null. */
  check(address: string): PeerAddress | null;
}

const SHAPE = /^(?:\[([0-9A-Fa-f:.]{2,45})\]|([0-9A-Za-z.-]{1,253})):(\d{1,5})$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const ALL_DIGITS = /^\d+$/;

function validHostname(host: string): boolean {
  const labels = host.split('.');
  for (const l of labels) if (!LABEL.test(l)) return false;
  // "1.2.3" or "999.1.1.1": not an IPv4 literal, and not a name a resolver should be asked about.
  return !ALL_DIGITS.test(labels[labels.length - 1]);
}

/** Addresses no peer listens on: wildcards, multicast, limited broadcast. */
const NEVER = new BlockList();
NEVER.addAddress('0.0.0.0', 'ipv4');
NEVER.addAddress('255.255.255.255', 'ipv4');
NEVER.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');

/** Throws (with the bad entry in its message) when an allow-list entry is neither a CIDR, an IP nor a host name. */
export function createPeerRule(allow: readonly string[]): PeerRule {
  const nets = new BlockList();
  const names = new Set<string>();
  let hasNets = false;
  for (const raw of allow) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    if (slash > 0) {
      const ip = entry.slice(0, slash);
      const bits = entry.slice(slash + 1);
      const family = isIP(ip);
      const max = family === 4 ? 32 : 128;
      if (family === 0 || !ALL_DIGITS.test(bits) || Number(bits) > max)
        throw new Error(`a CIDR, IP or host name (not ${JSON.stringify(entry)})`);
      nets.addSubnet(ip, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
      hasNets = true;
    } else if (isIP(entry)) {
      nets.addAddress(entry, isIPv4(entry) ? 'ipv4' : 'ipv6');
      hasNets = true;
    } else if (validHostname(entry)) names.add(entry.toLowerCase());
    else throw new Error(`a CIDR, IP or host name (not ${JSON.stringify(entry)})`);
  }
  const open = allow.length === 0;
  return {
    check(address: string): PeerAddress | null {
      if (typeof address !== 'string') return null;
      const m = SHAPE.exec(address);
      if (!m) return null;
      const port = Number(m[3]);
      if (port < 1 || port > 65535) return null;
      const host = m[1] ?? m[2];
      const family = m[1] !== undefined ? (isIPv6(host) ? 6 : 0) : isIPv4(host) ? 4 : 0;
      if (m[1] !== undefined && family === 0) return null;
      if (family !== 0) {
        const type = family === 4 ? 'ipv4' : 'ipv6';
        if (NEVER.check(host, type)) return null;
        if (!open && !(hasNets && nets.check(host, type))) return null;
      } else {
        if (!validHostname(host)) return null;
        if (!open && !names.has(host.toLowerCase())) return null;
      }
      return { host, port };
    },
  };
}
