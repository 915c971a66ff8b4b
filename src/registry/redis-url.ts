/**
 * REDIS_URL, read once. The forms accepted:
 *
 *   redis://[user:pass@]host:port[/db]             one Redis server (rediss:// for TLS)
 *   redis+cluster://[user:pass@]host:port,host:port  Redis Cluster; the hosts are seed nodes, the rest
 *                                                  of the cluster is discovered (rediss+cluster:// for TLS)
 *   host:port,host:port   or   redis://h:p,redis://h:p   several seeds: Redis Cluster as well
 *
 * A Redis Cluster has only database 0, so a cluster URL with another /db is refused.
 */
import { ErrorCodes, McpRuntimeError } from '../errors.js';

export interface ClusterSeed {
  host: string;
  port: number;
}

export type RedisTarget =
  { mode: 'single'; url: string } | { mode: 'cluster'; seeds: ClusterSeed[]; username?: string; password?: string; tls: boolean };

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;
const SCHEME = /^(rediss?):\/\//i;

/**
 * `text` with any credentials hidden, for error messages: everything from the first "//" (or the
 * start) to the last "@" becomes "***". Coarse on purpose: a password may hold ",", "/" or "@", and
 * hiding a seed's host too is better than printing part of a password.
 */
export function hideCredentials(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const slashes = text.indexOf('//');
  const from = slashes >= 0 && slashes < at ? slashes + 2 : 0;
  return `${text.slice(0, from)}***${text.slice(at)}`;
}

function show(text: string): string {
  return JSON.stringify(hideCredentials(text));
}

/**
 * How a message names one comma-separated part of `raw`: quoted, unless `raw` holds credentials; then
 * by position, because a password holding "," splits into parts that would each show a piece of it.
 */
function partName(raw: string, part: string, index: number): string {
  return raw.includes('@') ? `part ${index + 1}` : JSON.stringify(part);
}

function invalid(raw: string, why: string): never {
  throw new McpRuntimeError(ErrorCodes.MCP_ERR_INVALID_CONFIG, `invalid REDIS_URL=${show(raw)}: ${why}`);
}

function parseOne(raw: string, part: string, scheme: string, index: number): URL {
  if (part.includes('://') && !SCHEME.test(part)) invalid(raw, `unsupported scheme in ${partName(raw, part, index)}`);
  let url: URL;
  try {
    url = new URL(SCHEME.test(part) ? part : `${scheme}://${part}`);
  } catch {
    return invalid(raw, `cannot parse ${partName(raw, part, index)} as host:port`);
  }
  if (!url.hostname) invalid(raw, `${partName(raw, part, index)} names no host`);
  return url;
}

export function parseRedisUrl(raw: string): RedisTarget {
  const text = raw.trim();
  if (text === '') invalid(raw, 'empty');
  const cluster = CLUSTER_SCHEME.exec(text);
  if (!cluster && !text.includes(',')) {
    const url = parseOne(raw, text, 'redis', 0);
    if (!/^rediss?:$/i.test(url.protocol)) invalid(raw, 'expected redis://, rediss://, redis+cluster:// or host:port,host:port');
    return { mode: 'single', url: url.href };
  }
  const body = cluster ? text.slice(cluster[0].length) : text;
  const scheme = cluster ? cluster[1].toLowerCase() : (SCHEME.exec(text)?.[1].toLowerCase() ?? 'redis');
  const seeds: ClusterSeed[] = [];
  let username: string | undefined;
  let password: string | undefined;
  for (const [index, part] of body
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const url = parseOne(raw, part, scheme, index);
    if (url.pathname && url.pathname !== '/' && url.pathname !== '/0') invalid(raw, 'a Redis Cluster has only database 0');
    if (url.password && password === undefined) {
      username = url.username ? decodeURIComponent(url.username) : undefined;
      password = decodeURIComponent(url.password);
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    seeds.push({ host, port: url.port ? Number(url.port) : 6379 });
  }
  if (seeds.length === 0) invalid(raw, 'no cluster seed nodes');
  return { mode: 'cluster', seeds, username, password, tls: scheme === 'rediss' };
}
