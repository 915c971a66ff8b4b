/**
 * The only module that reads the environment and the command line. One options interface, one frozen
 * defaults object, one merge, validation up front that names the bad option.
 */
import { availableParallelism, hostname } from 'node:os';
import { ErrorCodes, McpRuntimeError } from './errors.js';
import { isLogLevel, type LogLevel } from './log.js';
import { parseRedisUrl } from './registry/redis-url.js';
import { createPeerRule } from './cluster/peer-address.js';
import { AddressSet } from './front/client-address.js';

export interface NodeOptions {
  port: number;
  host: string;
  /** Session worker threads. */
  workers: number;
  /** Path of a tool module; null means the built-in "everything" demo. */
  tools: string | null;
  /** Largest accepted POST body, bytes. */
  maxBody: number;
  nodeId: string;
  /** null: the in-memory registry. */
  redisUrl: string | null;
  /** Origins allowed besides "no Origin" and "Origin matches Host". */
  allowedOrigins: readonly string[];
  /** Host header values allowed; empty means "any" unless bound to loopback (then loopback names). */
  allowedHosts: readonly string[];
  /** A session with no traffic and no open stream for this long is closed (404 afterwards). */
  sessionIdleMs: number;
  /** Comment line written on SSE streams idle for this long. */
  heartbeatMs: number;
  /** `retry:` value (ms) sent before the server closes an SSE stream (SEP-1699). */
  sseRetryMs: number;
  /** Events kept per stream for Last-Event-ID replay. */
  replayEvents: number;
  /** Bytes queued on a slow SSE reader before its stream is dropped (it may resume). */
  sseMaxBuffered: number;
  /** Largest accepted request head, bytes (uWS rejects larger with 431). */
  maxHeaderBytes: number;
  /** Server→client request timeout (sampling, elicitation, roots), ms. */
  requestTimeoutMs: number;
  /** Grace period for a clean shutdown, ms. */
  shutdownGraceMs: number;
  metrics: boolean;
  logLevel: LogLevel;
  /** Registry writes per pipeline flush. */
  registryBatch: number;
  /** Longest a registry write waits before its batch is flushed, ms. */
  registryFlushMs: number;
  /** Registry writes queued at most; beyond it the oldest are dropped (and counted). */
  registryQueueMax: number;
  /** Bytes (session ids) the registry write queue holds at most; beyond it the oldest are dropped (and counted). */
  registryQueueMaxBytes: number;
  /** Live sessions this node holds at most; an initialize beyond it gets 503 with Retry-After. */
  maxSessions: number;
  /** How often live sessions re-assert their registry keys (TTL refresh), ms. */
  registryRefreshMs: number;
  /** Address other nodes reach this one at (host:port); empty: host:port as bound. */
  advertiseAddress: string;
  /** Forward requests for another live node's session to it (cluster); 0 restores the plain 404. */
  forward: boolean;
  /** Shared by the nodes of a cluster: authenticates the owner tag in session ids. Empty: untagged ids. */
  clusterSecret: string;
  /** On SIGTERM, open SSE streams are closed spread over this window (ms). */
  drainWindowMs: number;
  /** Spread stream closes randomly over the window (true) or close them all at once (false). */
  drainJitter: boolean;
  /**
   * A request handler (tool, resource, prompt, completion) still running after this long is answered
   * with a JSON-RPC error and its `extra.signal` is aborted, ms. A tool may lower it (`timeoutMs`).
   */
  handlerTimeoutMs: number;
  /** 2026-07-28: how long a sealed `requestState` (multi-round-trip requests) opens after it was minted, ms. */
  requestStateTtlMs: number;
  /** 2026-07-28: `ttlMs` caching hint on discover and list results, ms. */
  listTtlMs: number;
  /** 2026-07-28: `ttlMs` caching hint on resources/read results, ms. */
  readTtlMs: number;
  /** A worker whose event loop gives no sign of life for this long is replaced (its sessions end), ms. */
  workerStallMs: number;
  /**
   * 2026-07-28 requests go to the first worker with fewer than this many messages waiting in its
   * inbox (the least backlogged one when none has); 0 sends them round robin.
   */
  statelessSpill: number;
  /**
   * Live heap a session worker may keep, MiB (checked after each major GC; the worker is replaced
   * beyond it). V8's own hard limit for the worker is twice this. 0: no cap (V8's default).
   */
  workerMaxHeapMb: number;
  /** Forwarding: longest wait for the TCP connection to the owner, ms (then 502). */
  forwardConnectTimeoutMs: number;
  /**
   * Forwarding: longest wait from the connection to the owner's response headers, ms (then 502). An
   * owner answers a plain JSON call only when its handler is done, so keep it above the handler timeout.
   */
  forwardResponseTimeoutMs: number;
  /** Forwarded calls (POST, DELETE) in flight to one owner at most; beyond it 503 with Retry-After. */
  forwardMaxPerOwner: number;
  /** Relayed GET streams open to one owner at most (their own sockets, apart from calls); beyond it 503. */
  forwardMaxStreamsPerOwner: number;
  /**
   * Peer addresses read from Redis must match one of these (IPv4/IPv6 CIDRs, IP literals or exact host
   * names); empty: any well-formed host:port that is not a wildcard, multicast or broadcast address.
   */
  peerAllow: readonly string[];
  /** Requests per second one client identity may make on /mcp (token bucket per identity; fractions allowed, 0.5 is one every 2 s); 0: no limit. */
  rateLimit: number;
  /** Requests one identity may make at once (the bucket's size); 0: twice MCP_RATE_LIMIT, at least 1. */
  rateBurst: number;
  /** Live 2025 sessions one client identity may hold on this node; 0: no limit. */
  maxSessionsPerPrincipal: number;
  /**
   * Peers (IPs, CIDR blocks) whose X-Forwarded-For names the client for the per-client limits; empty:
   * the socket's peer is the client.
   */
  trustedProxies: readonly string[];
  /**
   * Tests only: lets a request make a handler entry throw on purpose (src/front/test-faults.ts), to
   * prove the front's guard. Off by default; refused unless NODE_ENV=test.
   */
  testFaults: boolean;
  /**
   * The base URL clients reach this node at (scheme, host, port, no path): the resource identifier
   * and the protected resource metadata URL are built from it. Empty: http://HOST:PORT as bound.
   */
  publicUrl: string;
  /**
   * Authorization servers whose access tokens this node accepts (issuer URLs). Empty: authorization
   * is off and every other MCP_AUTH_* option must be unset.
   */
  authIssuers: readonly string[];
  /** This resource's identifier, which a token's `aud` must name. Empty: the public /mcp URL. */
  authAudience: string;
  /** JWKS URLs, one per issuer in the same order, used instead of the discovered `jwks_uri` (discovery is then skipped). */
  authJwksUrls: readonly string[];
  /** Scopes every request's token must carry. */
  authScopes: readonly string[];
  /** RFC 7662 introspection endpoint for opaque (non-JWT) tokens; empty: the first issuer's, if it advertises one and a client id is set. */
  authIntrospectionUrl: string;
  /** Client credentials this node introspects with (HTTP Basic). */
  authClientId: string;
  authClientSecret: string;
  /** An introspected token is trusted this long at most before it is introspected again (revocation delay), ms. */
  authIntrospectionCacheMs: number;
}

export const DEFAULTS: Readonly<NodeOptions> = Object.freeze({
  port: 3000,
  host: '127.0.0.1',
  workers: availableParallelism(),
  tools: null,
  maxBody: 4 * 1024 * 1024,
  nodeId: `${hostname()}-${process.pid}`,
  redisUrl: null,
  allowedOrigins: Object.freeze([]),
  allowedHosts: Object.freeze([]),
  sessionIdleMs: 30 * 60 * 1000,
  heartbeatMs: 15_000,
  sseRetryMs: 1000,
  replayEvents: 128,
  sseMaxBuffered: 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  requestTimeoutMs: 60_000,
  shutdownGraceMs: 10_000,
  metrics: true,
  logLevel: 'info',
  registryBatch: 256,
  registryFlushMs: 5,
  registryQueueMax: 100_000,
  registryQueueMaxBytes: 16 * 1024 * 1024,
  maxSessions: 100_000,
  registryRefreshMs: 60 * 60 * 1000,
  advertiseAddress: '',
  forward: true,
  clusterSecret: '',
  drainWindowMs: 5000,
  drainJitter: true,
  handlerTimeoutMs: 60_000,
  requestStateTtlMs: 10 * 60_000,
  listTtlMs: 60_000,
  readTtlMs: 0,
  workerStallMs: 10_000,
  statelessSpill: 32,
  workerMaxHeapMb: 1024,
  forwardConnectTimeoutMs: 1000,
  forwardResponseTimeoutMs: 65_000,
  forwardMaxPerOwner: 256,
  forwardMaxStreamsPerOwner: 1024,
  peerAllow: Object.freeze([]),
  rateLimit: 0,
  rateBurst: 0,
  maxSessionsPerPrincipal: 0,
  trustedProxies: Object.freeze([]),
  testFaults: false,
  publicUrl: '',
  authIssuers: Object.freeze([]),
  authAudience: '',
  authJwksUrls: Object.freeze([]),
  authScopes: Object.freeze([]),
  authIntrospectionUrl: '',
  authClientId: '',
  authClientSecret: '',
  authIntrospectionCacheMs: 60_000,
});

type Kind = 'port' | 'int' | 'number' | 'bytes' | 'string' | 'list' | 'bool' | 'level' | 'nullable';

/** option key → [flag, env var, kind, min]. */
const SPEC: { [K in keyof NodeOptions]: [string, string, Kind, number?] } = {
  port: ['--port', 'PORT', 'port'],
  host: ['--host', 'HOST', 'string'],
  workers: ['--workers', 'WORKERS', 'int', 1],
  tools: ['--tools', 'MCP_TOOLS', 'nullable'],
  maxBody: ['--max-body', 'MAX_BODY', 'bytes', 1],
  nodeId: ['--node-id', 'NODE_ID', 'string'],
  redisUrl: ['--redis-url', 'REDIS_URL', 'nullable'],
  allowedOrigins: ['--allowed-origins', 'MCP_ALLOWED_ORIGINS', 'list'],
  allowedHosts: ['--allowed-hosts', 'MCP_ALLOWED_HOSTS', 'list'],
  sessionIdleMs: ['--session-idle-ms', 'MCP_SESSION_IDLE_MS', 'int', 100],
  heartbeatMs: ['--heartbeat-ms', 'MCP_SSE_HEARTBEAT_MS', 'int', 50],
  sseRetryMs: ['--sse-retry-ms', 'MCP_SSE_RETRY_MS', 'int', 0],
  replayEvents: ['--replay-events', 'MCP_REPLAY_EVENTS', 'int', 0],
  sseMaxBuffered: ['--sse-max-buffered', 'MCP_SSE_MAX_BUFFERED', 'bytes', 1024],
  maxHeaderBytes: ['--max-header-bytes', 'MCP_MAX_HEADER_BYTES', 'bytes', 1024],
  requestTimeoutMs: ['--request-timeout-ms', 'MCP_REQUEST_TIMEOUT_MS', 'int', 1],
  shutdownGraceMs: ['--shutdown-grace-ms', 'MCP_SHUTDOWN_GRACE_MS', 'int', 0],
  metrics: ['--metrics', 'MCP_METRICS', 'bool'],
  logLevel: ['--log-level', 'LOG_LEVEL', 'level'],
  registryBatch: ['--registry-batch', 'MCP_REGISTRY_BATCH', 'int', 1],
  registryFlushMs: ['--registry-flush-ms', 'MCP_REGISTRY_FLUSH_MS', 'int', 0],
  registryQueueMax: ['--registry-queue-max', 'MCP_REGISTRY_QUEUE_MAX', 'int', 1],
  registryQueueMaxBytes: ['--registry-queue-max-bytes', 'MCP_REGISTRY_QUEUE_MAX_BYTES', 'bytes', 1024],
  maxSessions: ['--max-sessions', 'MCP_MAX_SESSIONS', 'int', 1],
  registryRefreshMs: ['--registry-refresh-ms', 'MCP_REGISTRY_REFRESH_MS', 'int', 100],
  advertiseAddress: ['--advertise-address', 'MCP_ADVERTISE_ADDRESS', 'nullable'],
  forward: ['--forward', 'MCP_FORWARD', 'bool'],
  clusterSecret: ['--cluster-secret', 'MCP_CLUSTER_SECRET', 'nullable'],
  drainWindowMs: ['--drain-window-ms', 'MCP_DRAIN_WINDOW_MS', 'int', 0],
  drainJitter: ['--drain-jitter', 'MCP_DRAIN_JITTER', 'bool'],
  handlerTimeoutMs: ['--handler-timeout-ms', 'MCP_HANDLER_TIMEOUT_MS', 'int', 1],
  requestStateTtlMs: ['--request-state-ttl-ms', 'MCP_REQUEST_STATE_TTL_MS', 'int', 1000],
  listTtlMs: ['--list-ttl-ms', 'MCP_LIST_TTL_MS', 'int', 0],
  readTtlMs: ['--read-ttl-ms', 'MCP_READ_TTL_MS', 'int', 0],
  workerStallMs: ['--worker-stall-ms', 'MCP_WORKER_STALL_MS', 'int', 100],
  statelessSpill: ['--stateless-spill', 'MCP_STATELESS_SPILL', 'int', 0],
  workerMaxHeapMb: ['--worker-max-heap-mb', 'MCP_WORKER_MAX_HEAP_MB', 'int', 0],
  forwardConnectTimeoutMs: ['--forward-connect-timeout-ms', 'MCP_FORWARD_CONNECT_TIMEOUT_MS', 'int', 1],
  forwardResponseTimeoutMs: ['--forward-response-timeout-ms', 'MCP_FORWARD_RESPONSE_TIMEOUT_MS', 'int', 1],
  forwardMaxPerOwner: ['--forward-max-per-owner', 'MCP_FORWARD_MAX_PER_OWNER', 'int', 1],
  forwardMaxStreamsPerOwner: ['--forward-max-streams-per-owner', 'MCP_FORWARD_MAX_STREAMS_PER_OWNER', 'int', 1],
  peerAllow: ['--peer-allow', 'MCP_PEER_ALLOW', 'list'],
  rateLimit: ['--rate-limit', 'MCP_RATE_LIMIT', 'number', 0],
  rateBurst: ['--rate-burst', 'MCP_RATE_BURST', 'int', 0],
  maxSessionsPerPrincipal: ['--max-sessions-per-principal', 'MCP_MAX_SESSIONS_PER_PRINCIPAL', 'int', 0],
  trustedProxies: ['--trusted-proxies', 'MCP_TRUSTED_PROXIES', 'list'],
  testFaults: ['--test-faults', 'MCP_TEST_FAULTS', 'bool'],
  publicUrl: ['--public-url', 'MCP_PUBLIC_URL', 'nullable'],
  authIssuers: ['--auth-issuer', 'MCP_AUTH_ISSUER', 'list'],
  authAudience: ['--auth-audience', 'MCP_AUTH_AUDIENCE', 'nullable'],
  authJwksUrls: ['--auth-jwks-url', 'MCP_AUTH_JWKS_URL', 'list'],
  authScopes: ['--auth-scopes', 'MCP_AUTH_SCOPES', 'list'],
  authIntrospectionUrl: ['--auth-introspection-url', 'MCP_AUTH_INTROSPECTION_URL', 'nullable'],
  authClientId: ['--auth-client-id', 'MCP_AUTH_CLIENT_ID', 'nullable'],
  authClientSecret: ['--auth-client-secret', 'MCP_AUTH_CLIENT_SECRET', 'nullable'],
  authIntrospectionCacheMs: ['--auth-introspection-cache-ms', 'MCP_AUTH_INTROSPECTION_CACHE_MS', 'int', 0],
};

function invalid(name: string, raw: string, expected: string): never {
  throw new McpRuntimeError(ErrorCodes.MCP_ERR_INVALID_CONFIG, `invalid ${name}=${JSON.stringify(raw)}: expected ${expected}`);
}

const BYTES = /^(\d+)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?$/i;
const UNIT: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1 << 20,
  mb: 1 << 20,
  mib: 1 << 20,
  g: 1 << 30,
  gb: 1 << 30,
  gib: 1 << 30,
};

function parseValue(name: string, raw: string, kind: Kind, min = 0): unknown {
  switch (kind) {
    case 'port': {
      if (!/^\d+$/.test(raw) || Number(raw) > 65535) invalid(name, raw, 'an integer port 0..65535');
      return Number(raw);
    }
    case 'int': {
      if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) invalid(name, raw, `an integer >= ${min}`);
      return Number(raw);
    }
    case 'number': {
      if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) < min || !Number.isFinite(Number(raw))) invalid(name, raw, `a number >= ${min}`);
      return Number(raw);
    }
    case 'bytes': {
      const m = BYTES.exec(raw.trim());
      if (!m) invalid(name, raw, 'a size such as 4194304, 512kb or 4mb');
      const n = Number(m[1]) * UNIT[(m[2] ?? 'b').toLowerCase()];
      if (n < min || !Number.isSafeInteger(n)) invalid(name, raw, `a size >= ${min} bytes`);
      return n;
    }
    case 'string':
      if (raw.trim() === '') invalid(name, raw, 'a non-empty string');
      return raw;
    case 'nullable':
      return raw.trim() === '' ? null : raw;
    case 'list':
      return Object.freeze(
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return invalid(name, raw, 'a boolean (1/0, true/false)');
    case 'level':
      if (!isLogLevel(raw)) invalid(name, raw, 'one of debug, info, warn, error, silent');
      return raw;
  }
}

/** Reads flags (`--port 3001` or `--port=3001`) over environment variables over defaults. */
export function loadConfig(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Readonly<NodeOptions> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) invalid('argument', a, 'flags of the form --name value');
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(0, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a, argv[++i]);
    else flags.set(a, 'true');
  }
  const known = new Set(Object.values(SPEC).map((s) => s[0]));
  for (const f of flags.keys()) if (!known.has(f)) invalid('flag', f, `one of ${[...known].join(', ')}`);

  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const key of Object.keys(SPEC) as (keyof NodeOptions)[]) {
    const [flag, envName, kind, min] = SPEC[key];
    const fromFlag = flags.get(flag);
    const raw = fromFlag ?? env[envName];
    if (raw === undefined) continue;
    out[key] = parseValue(fromFlag !== undefined ? flag : envName, raw, kind, min);
  }
  // Checked here so a bad URL is a configuration error (exit 2) rather than a start-up failure.
  if (typeof out.redisUrl === 'string') parseRedisUrl(out.redisUrl);
  // Nullable strings that mean "unset" when empty are kept as '' (one type for the option).
  for (const key of [
    'clusterSecret',
    'advertiseAddress',
    'publicUrl',
    'authAudience',
    'authIntrospectionUrl',
    'authClientId',
    'authClientSecret',
  ])
    if (out[key] === null) out[key] = '';
  // Scopes are space-separated in OAuth; commas are accepted too, like every other list here.
  out.authScopes = Object.freeze((out.authScopes as string[]).flatMap((s) => s.split(/\s+/)).filter(Boolean));
  checkAuthConfig(out as unknown as NodeOptions);
  if (typeof out.clusterSecret === 'string' && out.clusterSecret !== '' && out.clusterSecret.length < 16) {
    invalid('MCP_CLUSTER_SECRET', '(hidden)', 'at least 16 characters');
  }
  // Below this a worker cannot even load its tools module; 0 means "no cap".
  if (typeof out.workerMaxHeapMb === 'number' && out.workerMaxHeapMb > 0 && out.workerMaxHeapMb < 16) {
    invalid('MCP_WORKER_MAX_HEAP_MB', String(out.workerMaxHeapMb), '0 (no cap) or at least 16');
  }
  if (Array.isArray(out.peerAllow)) {
    try {
      createPeerRule(out.peerAllow as readonly string[]);
    } catch (err) {
      invalid('MCP_PEER_ALLOW', (out.peerAllow as string[]).join(','), (err as Error).message);
    }
  }
  if (Array.isArray(out.trustedProxies)) {
    try {
      new AddressSet(out.trustedProxies as readonly string[]);
    } catch (err) {
      invalid('MCP_TRUSTED_PROXIES', (out.trustedProxies as string[]).join(','), (err as Error).message);
    }
  }
  // Fault injection is a test hook: a node outside a test run refuses it rather than serve with it.
  if (out.testFaults === true && env.NODE_ENV !== 'test')
    invalid('MCP_TEST_FAULTS', '1', '0 unless NODE_ENV=test (fault injection is for tests only)');
  return Object.freeze(out) as unknown as Readonly<NodeOptions>;
}

/** An absolute http(s) URL without credentials or fragment, or a configuration error naming `name`. */
function checkUrl(name: string, raw: string, path: 'any' | 'none'): void {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return invalid(name, raw, 'an absolute http(s) URL');
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.hash)
    invalid(name, raw, 'an absolute http(s) URL without credentials or fragment');
  if (path === 'none' && ((u.pathname !== '/' && u.pathname !== '') || u.search)) invalid(name, raw, 'a base URL without path or query');
}

/**
 * Authorization options: off unless MCP_AUTH_ISSUER names at least one issuer, and then consistent
 * (URLs well formed, one JWKS URL per issuer, introspection credentials complete), so that a node
 * never starts half-configured.
 */
function checkAuthConfig(o: NodeOptions): void {
  if (o.publicUrl !== '') checkUrl('MCP_PUBLIC_URL', o.publicUrl, 'none');
  const issuers = o.authIssuers;
  if (issuers.length === 0) {
    const stray = (
      [
        ['MCP_AUTH_AUDIENCE', o.authAudience !== ''],
        ['MCP_AUTH_JWKS_URL', o.authJwksUrls.length > 0],
        ['MCP_AUTH_SCOPES', o.authScopes.length > 0],
        ['MCP_AUTH_INTROSPECTION_URL', o.authIntrospectionUrl !== ''],
        ['MCP_AUTH_CLIENT_ID', o.authClientId !== ''],
        ['MCP_AUTH_CLIENT_SECRET', o.authClientSecret !== ''],
      ] as const
    ).find(([, set]) => set);
    if (stray) invalid(stray[0], '(set)', 'unset while MCP_AUTH_ISSUER is empty (authorization is off)');
    return;
  }
  for (const issuer of issuers) checkUrl('MCP_AUTH_ISSUER', issuer, 'any');
  if (new Set(issuers).size !== issuers.length) invalid('MCP_AUTH_ISSUER', issuers.join(','), 'distinct issuer URLs');
  if (o.authAudience !== '' && /[\s"\\]/.test(o.authAudience))
    invalid('MCP_AUTH_AUDIENCE', o.authAudience, 'a URI without spaces or quotes');
  if (o.authJwksUrls.length > 0) {
    if (o.authJwksUrls.length !== issuers.length)
      invalid('MCP_AUTH_JWKS_URL', o.authJwksUrls.join(','), `one URL per issuer of MCP_AUTH_ISSUER (${issuers.length})`);
    for (const u of o.authJwksUrls) checkUrl('MCP_AUTH_JWKS_URL', u, 'any');
  }
  // Scope tokens (RFC 6749 section 3.3): printable ASCII except space, '"' and '\'.
  for (const scope of o.authScopes) if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) invalid('MCP_AUTH_SCOPES', scope, 'scope tokens');
  if (o.authIntrospectionUrl !== '') checkUrl('MCP_AUTH_INTROSPECTION_URL', o.authIntrospectionUrl, 'any');
  if ((o.authClientId === '') !== (o.authClientSecret === ''))
    invalid(o.authClientId === '' ? 'MCP_AUTH_CLIENT_ID' : 'MCP_AUTH_CLIENT_SECRET', '(unset)', 'set together with its pair');
  if (o.authIntrospectionUrl !== '' && o.authClientId === '')
    invalid('MCP_AUTH_CLIENT_ID', '(unset)', 'client credentials for MCP_AUTH_INTROSPECTION_URL');
}

/** What a default means where its value alone would mislead. */
const USAGE_NOTES: Partial<Record<keyof NodeOptions, string>> = {
  rateBurst: '0: twice the rate',
  testFaults: 'tests only: refused unless NODE_ENV=test',
};

/** `--help` text: every option with its flag, variable and default. */
export function usage(): string {
  const rows = (Object.keys(SPEC) as (keyof NodeOptions)[]).map((k) => {
    const [flag, envName] = SPEC[k];
    const d = DEFAULTS[k];
    const shown = k === 'clusterSecret' || k === 'authClientSecret' ? '(none)' : Array.isArray(d) ? d.join(',') || '(none)' : String(d);
    const note = USAGE_NOTES[k];
    return `  ${flag.padEnd(22)} ${envName.padEnd(24)} default: ${shown}${note ? ` (${note})` : ''}`;
  });
  return `usage: npm start -- [flags]\n\n${rows.join('\n')}\n`;
}
