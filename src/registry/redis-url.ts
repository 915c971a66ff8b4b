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
  | { mode: 'single'; url: string }
  | { mode: 'cluster'; seeds: ClusterSeed[]; username?: string; password?: string; tls: boolean };

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;
const SCHEME = /^(rediss?):\/\//i;

function invalid(raw: string, why: string): never {
  throw new McpRuntimeError(ErrorCodes.MCP_ERR_INVALID_CONFIG, `invalid REDIS_URL=${JSON.stringify(raw)}: ${why}`);
}

function parseOne(raw: string, part: string, scheme: string): URL {
  if (part.includes('://') && !SCHEME.test(part)) invalid(raw, `unsupported scheme in ${JSON.stringify(part)}`);
  let url: URL;
  try {
    url = new URL(SCHEME.test(part) ? part : `${scheme}://${part}`);
  } catch {
    return invalid(raw, `cannot parse ${JSON.stringify(part)} as host:port`);
  }
  if (!url.hostname) invalid(raw, `${JSON.stringify(part)} names no host`);
  return url;
}

export function parseRedisUrl(raw: string): RedisTarget {
  const text = raw.trim();
  if (text === '') invalid(raw, 'empty');
  const cluster = CLUSTER_SCHEME.exec(text);
  if (!cluster && !text.includes(',')) {
    const url = parseOne(raw, text, 'redis');
    if (!/^rediss?:$/i.test(url.protocol)) invalid(raw, 'expected redis://, rediss://, redis+cluster:// or host:port,host:port');
    return { mode: 'single', url: url.href };
  }
  const body = cluster ? text.slice(cluster[0].length) : text;
  const scheme = cluster ? cluster[1].toLowerCase() : (SCHEME.exec(text)?.[1].toLowerCase() ?? 'redis');
  const seeds: ClusterSeed[] = [];
  let username: string | undefined;
  let password: string | undefined;
  for (const part of body.split(',').map((s) => s.trim()).filter(Boolean)) {
    const url = parseOne(raw, part, scheme);
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
