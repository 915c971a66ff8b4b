/**
 * The address a request came from, as a key for per-client limits. The socket's peer address, unless
 * the peer is one of the configured trusted proxies (MCP_TRUSTED_PROXIES): then the right-most address
 * of `X-Forwarded-For` that is not itself a trusted proxy, since every address to its right was
 * appended by a proxy we trust and the ones to its left are whatever the client claimed.
 *
 * An IPv6 address is keyed by its /64: one subscriber is usually given a whole /64, so keying by the
 * full address would hand a client 2^64 identities. An IPv4-mapped IPv6 address (what a dual-stack
 * listener reports for IPv4 clients) is keyed as the IPv4 address.
 *
 * `X-Forwarded-For` is client input up to the header-size limit: it is walked from the right, at most
 * MAX_FORWARDED_HOPS entries, each at most MAX_ENTRY_CHARS long; nothing here throws on any value.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface ParsedIp {
  family: 4 | 6;
  /** A textual form BlockList accepts. */
  text: string;
  /** The limit key: the IPv4 address, or the IPv6 /64 prefix. */
  key: string;
}

/** Entries of X-Forwarded-For looked at, from the right, at most. */
export const MAX_FORWARDED_HOPS = 16;
/** Longer entries are not addresses ("[" IPv6 with a zone "]:" port fits in 64). */
const MAX_ENTRY_CHARS = 64;
/** What uWS writes for an IPv4 client of a dual-stack listener: the mapped address, every group in full. */
const UWS_MAPPED_PREFIX = '0000:0000:0000:0000:0000:ffff:';
const ALL_DIGITS = /^\d+$/;

function ipv4(text: string): ParsedIp {
  return { family: 4, text, key: text };
}

/** The 8 groups of a valid IPv6 literal (zone stripped, a dotted IPv4 tail folded into two groups). */
function ipv6Groups(s: string): number[] {
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    const [a, b, c, d] = s
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const gap = s.indexOf('::');
  const head = gap < 0 ? s : s.slice(0, gap);
  const tail = gap < 0 ? '' : s.slice(gap + 2);
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const zeros = new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}

/** Parses an IP literal (no brackets, no port); null when it is not one. */
export function parseIp(raw: string): ParsedIp | null {
  if (raw.length === 39 && raw.startsWith(UWS_MAPPED_PREFIX)) {
    const hi = parseInt(raw.slice(30, 34), 16);
    const lo = parseInt(raw.slice(35, 39), 16);
    if (Number.isNaN(hi) || Number.isNaN(lo)) return null;
    return ipv4(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  if (isIPv4(raw)) return ipv4(raw);
  if (!isIPv6(raw)) return null;
  const g = ipv6Groups(raw);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return ipv4(`${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`);
  const hex = g.map((n) => n.toString(16));
  return { family: 6, text: hex.join(':'), key: `${hex.slice(0, 4).join(':')}::/64` };
}

/** One X-Forwarded-For entry: an IP, optionally bracketed (IPv6) and with a port; null otherwise. */
export function parseForwardedEntry(entry: string): ParsedIp | null {
  if (entry.length === 0 || entry.length > MAX_ENTRY_CHARS) return null;
  if (entry.charCodeAt(0) === 0x5b /* [ */) {
    const close = entry.indexOf(']');
    if (close < 0) return null;
    const rest = entry.slice(close + 1);
    if (rest !== '' && !(rest.startsWith(':') && ALL_DIGITS.test(rest.slice(1)))) return null;
    return parseIp(entry.slice(1, close));
  }
  const colon = entry.indexOf(':');
  if (colon > 0 && entry.indexOf(':', colon + 1) < 0) {
    // "1.2.3.4:5678"
    if (!ALL_DIGITS.test(entry.slice(colon + 1))) return null;
    const ip = parseIp(entry.slice(0, colon));
    return ip?.family === 4 ? ip : null;
  }
  return parseIp(entry);
}

/** A set of addresses and CIDR blocks, IPv4 and IPv6 (MCP_TRUSTED_PROXIES). */
export class AddressSet {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** Throws (naming the entry) when an entry is neither an IP nor a CIDR. */
  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim();
      const slash = entry.indexOf('/');
      const ip = parseIp(slash < 0 ? entry : entry.slice(0, slash));
      const bits = slash < 0 ? '' : entry.slice(slash + 1);
      const max = ip?.family === 4 ? 32 : 128;
      if (ip === null || (slash >= 0 && (!ALL_DIGITS.test(bits) || Number(bits) > max)))
        throw new Error(`an IP address or CIDR block (not ${JSON.stringify(entry)})`);
      const type = ip.family === 4 ? 'ipv4' : 'ipv6';
      if (slash < 0) this.list.addAddress(ip.text, type);
      else this.list.addSubnet(ip.text, Number(bits), type);
    }
    this.empty = entries.length === 0;
  }

  has(ip: ParsedIp): boolean {
    return !this.empty && this.list.check(ip.text, ip.family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The limit key of a request's client: `peer` is the socket's remote address as uWS writes it,
 * `forwarded` every X-Forwarded-For line joined with commas (read only when the peer is trusted).
 */
export function clientKey(peer: string, trusted: AddressSet, forwarded: () => string): string {
  const p = parseIp(peer);
  // uWS always reports an IP; anything else is kept as it is (bounded by its own length).
  if (p === null) return peer;
  if (!trusted.has(p)) return p.key;
  const xff = forwarded();
  let current = p;
  let end = xff.length;
  for (let hops = 0; end > 0 && hops < MAX_FORWARDED_HOPS; hops++) {
    const comma = xff.lastIndexOf(',', end - 1);
    // A run longer than any address (with room for spaces) is garbage: not even copied.
    const ip = end - comma - 1 > 2 * MAX_ENTRY_CHARS ? null : parseForwardedEntry(xff.slice(comma + 1, end).trim());
    end = comma < 0 ? 0 : comma;
    // Garbage where a trusted proxy's entry should be: the last address known good is the client.
    if (ip === null) break;
    current = ip;
    if (!trusted.has(ip)) break;
  }
  return current.key;
}
