/**
 * Host and Origin validation (DNS-rebinding protection). "Servers MUST validate the Origin header on
 * all incoming connections"; "If the Origin header is present and invalid, servers MUST respond with
 * HTTP 403 Forbidden."
 */
const LOOPBACK_BIND = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface GuardOptions {
  host: string;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
}

export interface Guard {
  hostAllowed(host: string): boolean;
  originAllowed(origin: string, host: string): boolean;
}

function hostname(hostHeader: string): string {
  // "[::1]:3000" → "[::1]"; "localhost:3000" → "localhost"
  if (hostHeader.startsWith('[')) {
    const end = hostHeader.indexOf(']');
    return end > 0 ? hostHeader.slice(0, end + 1).toLowerCase() : hostHeader.toLowerCase();
  }
  const colon = hostHeader.indexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

export function createGuard(opts: GuardOptions): Guard {
  const hosts = new Set(opts.allowedHosts.map((h) => h.toLowerCase()));
  // A loopback-bound node with no explicit list accepts only loopback Host names: a DNS-rebound
  // page arrives with its own name in Host.
  const loopbackOnly = hosts.size === 0 && LOOPBACK_BIND.has(opts.host);
  const origins = new Set(opts.allowedOrigins.map((o) => o.toLowerCase()));
  return {
    hostAllowed(host: string): boolean {
      if (hosts.size > 0) return hosts.has(host.toLowerCase()) || hosts.has(hostname(host));
      if (loopbackOnly) return LOOPBACK_NAMES.has(hostname(host));
      return true;
    },
    originAllowed(origin: string, host: string): boolean {
      if (origin === '') return true;
      const o = origin.toLowerCase();
      if (origins.has(o) || origins.has('*')) return true;
      // Same-origin requests: an http(s) Origin whose authority is the Host the client addressed.
      const rest = o.startsWith('http://') ? o.slice(7) : o.startsWith('https://') ? o.slice(8) : null;
      return rest !== null && host !== '' && rest === host.toLowerCase();
    },
  };
}

/**
 * The start-up warning for a node that accepts any Host header on /mcp: bound to a non-loopback
 * address with no MCP_ALLOWED_HOSTS. Null when none is due (loopback-bound nodes accept only
 * loopback names; an explicit list is what the deploy files set).
 */
export function openHostWarning(opts: GuardOptions): string | null {
  if (opts.allowedHosts.length > 0 || LOOPBACK_BIND.has(opts.host)) return null;
  return (
    `bound to ${opts.host} without MCP_ALLOWED_HOSTS: /mcp accepts any Host header, so a DNS-rebinding page can reach it; ` +
    'set MCP_ALLOWED_HOSTS (or --allowed-hosts) to the host names clients use, comma-separated (e.g. MCP_ALLOWED_HOSTS=mcp.example.com)'
  );
}
