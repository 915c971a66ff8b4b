/**
 * One node: the session pool, the registry, the uWS front, and an orderly shutdown. Used by main.ts
 * and by anything that embeds a node in-process.
 */
import { randomBytes } from 'node:crypto';
import type { us_listen_socket } from 'uWebSockets.js';
import type { NodeOptions } from './config.js';
import { ErrorCodes, McpRuntimeError } from './errors.js';
import { addRoutes, type UwsModule } from './front/app.js';
import type { NodeContext } from './front/context.js';
import { Exchanges } from './front/exchanges.js';
import { Listeners } from './front/listeners.js';
import { B_LISTEN } from './auth/binding.js';
import { dispatchWorkerMessage } from './front/fault.js';
import { endRelayedStreams, Forwarder } from './front/forward.js';
import { createGuard } from './front/guards.js';
import { Readiness } from './front/readiness.js';
import { MetricsScrape } from './front/scrape.js';
import { SessionTable } from './front/session-table.js';
import { createClientLimits } from './front/client-limits.js';
import { onSlotLost } from './front/worker-events.js';
import { createTagger } from './cluster/session-tag.js';
import { RedisDirectory } from './cluster/directory.js';
import { ClusterEvents } from './cluster/events.js';
import { log } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { SessionPool } from './pool/pool.js';
import { registryFactory, type RegistryFactory } from './registry/create.js';
import { createResourceServer, discoverIssuers, type DiscoveredIssuers } from './auth/setup.js';

export interface RunningNode {
  port: number;
  /** Everything the node serves with; read-only (tests and embedders inspect it). */
  context: NodeContext;
  /** Drains (MCP_DRAIN_WINDOW_MS) and stops; the same promise on every call. */
  close(reason?: string): Promise<void>;
}

/** The runtime's version, as reported in mcp_node_info. */
export const VERSION = '0.1.0';

/** Loads uWebSockets.js and refuses the library's slow pure-JS fallback. */
export async function loadUws(maxHeaderBytes: number): Promise<UwsModule> {
  // Read by the native library when it parses requests; larger heads get 431.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(maxHeaderBytes);
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '')) {
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_UWS_FALLBACK, 'UWS_USE_FALLBACK is set: refusing to run on the pure-JS fallback');
  }
  const mod = (await import('uWebSockets.js')) as unknown as { default: UwsModule };
  const uws = mod.default;
  // The native addon exports SSLApp; the fallback does not.
  if (typeof (uws as { SSLApp?: unknown }).SSLApp !== 'function') {
    throw new McpRuntimeError(
      ErrorCodes.MCP_ERR_UWS_FALLBACK,
      'uWebSockets.js native binary did not load (pure-JS fallback active); refusing to start',
    );
  }
  return uws;
}

/**
 * Starts one node: its workers, then its listen socket, then (in the same turn, so that no request is
 * served before) its registry, context and routes. Any number of nodes may run in one process; they
 * share nothing but what they share across processes (Redis), and the process-wide log settings.
 */
export async function startNode(config: Readonly<NodeOptions>): Promise<RunningNode> {
  const uws = await loadUws(config.maxHeaderBytes);
  // The context exists once the node listens; until then nothing reads it (no request, no session).
  let ctx: NodeContext | null = null;
  const metrics = new Metrics(
    config.metrics,
    () => ctx?.exchanges.streams.size ?? 0,
    () => ctx !== null && ctx.readiness.ready(),
    config.nodeId,
    VERSION,
    () => ctx?.listeners.openCount() ?? 0,
  );
  const pool = new SessionPool(
    {
      workers: config.workers,
      tools: config.tools,
      nodeId: config.nodeId,
      sessionIdleMs: config.sessionIdleMs,
      replayEvents: config.replayEvents,
      sseRetryMs: config.sseRetryMs,
      requestTimeoutMs: config.requestTimeoutMs,
      metrics: config.metrics,
      handlerTimeoutMs: config.handlerTimeoutMs,
      stallMs: config.workerStallMs,
      maxHeapMb: config.workerMaxHeapMb,
      statelessSpill: config.statelessSpill,
      logLevel: config.logLevel,
      // A retried 2026-07-28 request may reach any node: with a cluster secret every node opens the
      // others' requestState; without one, states open on this node only (any of its workers).
      requestStateKey: config.clusterSecret || randomBytes(32).toString('hex'),
      requestStateTtlMs: config.requestStateTtlMs,
      listTtlMs: config.listTtlMs,
      readTtlMs: config.readTtlMs,
    },
    {
      onMessage: (_slot, msg) => {
        if (ctx) dispatchWorkerMessage(ctx, msg);
      },
      onSlotLost: (slot, sessions, _err, reason) => {
        if (ctx) onSlotLost(ctx, slot, sessions, reason);
        else metrics.workerRestarts.inc({ reason });
      },
      onStall: () => metrics.workerStalls.inc(),
    },
  );
  const directory = config.redisUrl
    ? new RedisDirectory(config.redisUrl, config.nodeId, {
        peerAllow: config.peerAllow,
        observer: {
          reaped: (n) => metrics.nodesReaped.inc(n),
          invalidAddress: () => metrics.peerAddressInvalid.inc(),
          rejoined: () => ctx?.sessions.registry.reassert?.(),
        },
      })
    : null;
  const closeEarly = async (): Promise<void> => {
    await pool.close().catch(() => {});
    await directory?.close();
  };
  let makeRegistry: RegistryFactory;
  let authIssuers: DiscoveredIssuers | null;
  try {
    const stale = directory ? await directory.clearPreviousLife() : 0;
    if (stale > 0) log.warn('removed session keys left by an earlier process with this NODE_ID', { sessions: stale });
    makeRegistry = await registryFactory(config);
    // Before the node listens: an issuer whose metadata cannot be read fails the start, named.
    authIssuers = config.authIssuers.length > 0 ? await discoverIssuers(config) : null;
    await pool.start();
  } catch (err) {
    await closeEarly();
    throw err;
  }

  const app = uws.App();
  let listenSocket: us_listen_socket | false = false;
  // uWS calls back synchronously: everything up to addRoutes runs before any request is read.
  app.listen(config.host, config.port, (ls) => {
    listenSocket = ls;
  });
  if (!listenSocket) {
    await closeEarly();
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_LISTEN, `cannot listen on ${config.host}:${config.port}`);
  }
  const socket: us_listen_socket = listenSocket;
  const port = uws.us_socket_local_port(socket);
  let context: NodeContext;
  try {
    const tagger = config.clusterSecret ? createTagger(config.clusterSecret, config.nodeId) : null;
    const registry = makeRegistry(port, { liveSessions: () => ctx?.sessions.sessionIds() ?? [], observer: metrics.registryObserver() });
    const limits = createClientLimits(config);
    const sessions = new SessionTable(pool, registry, metrics, tagger, limits?.sessions ?? null);
    if (directory) directory.selfAddress = config.advertiseAddress || `${config.host}:${port}`;
    const exchanges = new Exchanges(config, pool, metrics);
    const auth = authIssuers ? createResourceServer(config, authIssuers, port) : null;
    const listeners = new Listeners(
      exchanges,
      auth === null
        ? null
        : {
            trustedUntil: (p) => auth.verifier.trustedUntil(p),
            expired: () => metrics.bindingRefusals.inc(B_LISTEN),
            retryMs: config.sseRetryMs,
          },
    );
    context = Object.freeze({
      config,
      metrics,
      guard: createGuard(config),
      pool,
      sessions,
      exchanges,
      listeners,
      scrape: new MetricsScrape(pool, metrics, exchanges),
      readiness: new Readiness(config, pool, sessions, directory),
      tagger,
      directory,
      forwarder: directory && tagger && config.forward ? new Forwarder(config) : null,
      limits,
      auth,
      // Last: nothing after it can throw and leave its connections open.
      events:
        config.redisUrl && config.clusterSecret
          ? new ClusterEvents(config.redisUrl, config.clusterSecret, config.nodeId, listeners, metrics.eventsObserver())
          : null,
    });
  } catch (err) {
    uws.us_listen_socket_close(socket);
    await closeEarly();
    throw err;
  }
  ctx = context;
  addRoutes(app, context);

  let closing: Promise<void> | null = null;
  const close = (reason = 'shutdown'): Promise<void> => {
    closing ??= drainAndClose(context, reason, async () => {
      uws.us_listen_socket_close(socket);
      await pool.close().catch((err) => log.warn('pool close failed', { err }));
    });
    return closing;
  };
  return { port, context, close };
}

/**
 * Drain: fail /readyz at once and take no new sessions (a cluster hands them to a peer). Over the drain
 * window, GET streams are closed with `retry`, spread at random so the reconnection storm is smoothed,
 * and each session ends with its stream unless it still has requests in flight; requests in flight
 * (JSON or SSE POSTs, including ones that arrive during the window for sessions still here) are
 * awaited. At the end of the window, a POST still waiting gets 503 and every stream still open is
 * closed with `retry`. Then the registry forgets every session of this node and flushes, and only when
 * that is complete does the node leave the known-node set (otherwise its peers reap what is left once
 * it stops heart-beating), before it stops serving.
 */
/** Closes every GET stream with `retry` at a random moment of the window (or all at once). */
async function closeStreamsSpread(ctx: NodeContext, window: number): Promise<void> {
  const gets = ctx.exchanges.getStreams();
  if (window <= 0 || gets.length === 0) return;
  await new Promise<void>((resolve) => {
    let left = gets.length;
    for (const conn of gets) {
      const delay = ctx.config.drainJitter ? Math.random() * window : 0;
      setTimeout(() => {
        if (!conn.done) conn.res.cork(() => ctx.exchanges.closeStream(conn, ctx.config.sseRetryMs));
        // The session ends with its stream, so re-initializations spread over the window too instead
        // of bunching at its end; one with a request in flight lives on until that is answered.
        if (!ctx.exchanges.hasRequestInFlight(conn.sid)) ctx.sessions.end(conn.sid, 'shutdown');
        if (--left === 0) resolve();
      }, delay);
    }
  });
}

/** Resolves when no request is in flight any more, or at `deadline`. */
async function settleInFlight(ctx: NodeContext, deadline: number): Promise<void> {
  while (ctx.exchanges.requestsInFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
}

const DRAIN_POLL_MS = 20;

async function drainAndClose(ctx: NodeContext, reason: string, stopServing: () => Promise<void>): Promise<void> {
  ctx.readiness.startDrain();
  const window = ctx.config.drainWindowMs;
  log.info('draining', {
    reason,
    sessions: ctx.sessions.size,
    streams: ctx.exchanges.streams.size,
    requestsInFlight: ctx.exchanges.requestsInFlight(),
    windowMs: window,
    jitter: ctx.config.drainJitter,
  });
  const listening = ctx.listeners.endAll(ctx.config.sseRetryMs);
  if (listening > 0) log.info('ended listen streams: their clients listen again on another node', { streams: listening });
  await Promise.all([closeStreamsSpread(ctx, window), settleInFlight(ctx, Date.now() + window)]);
  const unanswered = ctx.exchanges.endAll();
  if (unanswered > 0) log.warn('requests still in flight at the end of the drain window answered 503', { requests: unanswered });
  const relayed = endRelayedStreams(ctx);
  if (relayed > 0) log.info("ended relayed streams of other nodes' sessions", { streams: relayed });
  // The registry forgets all of this node's sessions at once in close(); no per-session writes here.
  ctx.sessions.forgetAll('shutdown');
  ctx.exchanges.stop();
  ctx.scrape.stop();
  const clean = await ctx.sessions.registry.close();
  if (!clean) log.warn('registry keys of this node could not all be removed; staying listed so that peers reap them');
  await ctx.events?.close();
  await ctx.directory?.close(clean);
  ctx.forwarder?.close();
  await stopServing();
  log.info('stopped', { reason });
}
