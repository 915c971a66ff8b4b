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
import { isIPv6 } from 'node:net';

export interface ParsedIp {
  family: 4 | 6;
  /** The address as 16-bit groups: 2 for IPv4, 8 for IPv6 (what the CIDR match compares). */
  groups: number[];
  /** The limit key: the IPv4 address, or the IPv6 /64 prefix. */
  key: string;
}

/** Entries of X-Forwarded-For looked at, from the right, at most. */
export const MAX_FORWARDED_HOPS = 16;
/** Longer entries are not addresses ("[" IPv6 with a zone "]:" port fits in 64). */
const MAX_ENTRY_CHARS = 64;
/** Characters an entry may span, spaces around it included. */
const ENTRY_WINDOW = 2 * MAX_ENTRY_CHARS;
/** What uWS writes for an IPv4 client of a dual-stack listener: the mapped address, every group in full. */
const UWS_MAPPED_PREFIX = '0000:0000:0000:0000:0000:ffff:';
const ALL_DIGITS = /^\d+$/;

function ipv4(hi: number, lo: number): ParsedIp {
  return { family: 4, groups: [hi, lo], key: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
}

/**
 * A dotted IPv4 address (four decimal octets, no leading zeros: one spelling per address), read in
 * one pass: this runs for every request while limits are on, where a regex and a split cost a
 * microsecond.
 */
function parseIpv4(s: string): ParsedIp | null {
  const n = s.length;
  if (n < 7 || n > 15) return null;
  let hi = 0;
  let lo = 0;
  let octet = 0;
  let digits = 0;
  let done = 0;
  // A virtual '.' after the last character closes the fourth octet.
  for (let i = 0; i <= n; i++) {
    const ch = i < n ? s.charCodeAt(i) : 0x2e;
    if (ch >= 0x30 && ch <= 0x39) {
      if (digits === 1 && octet === 0) return null;
      octet = octet * 10 + ch - 0x30;
      if (++digits > 3 || octet > 255) return null;
      continue;
    }
    if (ch !== 0x2e || digits === 0 || done === 4) return null;
    if (done < 2) hi = (hi << 8) | octet;
    else lo = (lo << 8) | octet;
    done++;
    octet = 0;
    digits = 0;
  }
  return done === 4 ? { family: 4, groups: [hi, lo], key: s } : null;
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
    return ipv4(hi, lo);
  }
  if (raw.indexOf(':') < 0) return parseIpv4(raw);
  if (!isIPv6(raw)) return null;
  const g = ipv6Groups(raw);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) return ipv4(g[6], g[7]);
  return {
    family: 6,
    groups: g,
    key: `${g
      .slice(0, 4)
      .map((n) => n.toString(16))
      .join(':')}::/64`,
  };
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

interface Block {
  family: 4 | 6;
  groups: number[];
  bits: number;
}

/** True when the first `bits` bits of `a` and `b` (16-bit groups) are equal. */
function samePrefix(a: number[], b: number[], bits: number): boolean {
  let i = 0;
  for (; bits >= 16; bits -= 16, i++) if (a[i] !== b[i]) return false;
  if (bits === 0) return true;
  const mask = (0xffff << (16 - bits)) & 0xffff;
  return (a[i] & mask) === (b[i] & mask);
}

/**
 * A set of addresses and CIDR blocks, IPv4 and IPv6 (MCP_TRUSTED_PROXIES). A list of a few blocks,
 * matched in a loop: node:net's BlockList costs several microseconds per check (it builds a
 * SocketAddress each time), too much for every request.
 */
export class AddressSet {
  private readonly blocks: Block[] = [];
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
      this.blocks.push({ family: ip.family, groups: ip.groups, bits: slash < 0 ? max : Number(bits) });
    }
    this.empty = this.blocks.length === 0;
  }

  has(ip: ParsedIp): boolean {
    for (const b of this.blocks) if (b.family === ip.family && samePrefix(b.groups, ip.groups, b.bits)) return true;
    return false;
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
    // The entry's start: the comma before it, looked for only as far back as an entry (with room for
    // spaces) can reach. A longer run is garbage, neither searched through nor copied.
    const floor = Math.max(0, end - ENTRY_WINDOW);
    let comma = end - 1;
    while (comma >= floor && xff.charCodeAt(comma) !== 0x2c) comma--;
    if (comma < floor && floor > 0) break;
    const ip = parseForwardedEntry(xff.slice(comma + 1, end).trim());
    end = comma < 0 ? 0 : comma;
    // Garbage where a trusted proxy's entry should be: the last address known good is the client.
    if (ip === null) break;
    current = ip;
    if (!trusted.has(ip)) break;
  }
  return current.key;
}
